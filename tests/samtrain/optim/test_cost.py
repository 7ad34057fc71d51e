"""Each variant makes the gradient passes it claims, and `SAM.last_step` reports exactly them.

A counting model records the examples of every forward (with or without autograd) and of every
backward through it (an identity autograd function on its output). In the cost unit a
forward+backward over the step's batch = 1 and a forward-only pass = 1/3; a pass over a chunk or
a micro-batch counts its share of the batch.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samtrain.optim import SAM
from tests.support.models import B, batch, mlp

torch.set_num_threads(1)
STEPS = 10


class _CountBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, counts):
        ctx.counts = counts
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        ctx.counts["backward"] += g.shape[0]
        return g, None


class Counting(nn.Module):
    """`inner` with counts of examples forward under autograd, forward-only, and backward."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.counts = {"forward": 0, "forward_only": 0, "backward": 0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if not torch.is_grad_enabled():
            self.counts["forward_only"] += x.shape[0]
            return out
        self.counts["forward"] += x.shape[0]
        return _CountBackward.apply(out, self.counts)


def run(kw: dict, accum: int = 1, optimizer: str = "sgd") -> tuple[dict, float, list[bool]]:
    """STEPS steps; returns (pass counts, sum of the reported grad evals, perturbed flags)."""
    model = Counting(mlp())
    base = (torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
            else torch.optim.AdamW(model.parameters(), lr=1e-3))
    sam = SAM(base, rho=0.1, total_steps=STEPS, batched=False, **kw)  # vmap: no autograd.Function
    reported, flags = 0.0, []
    for t in range(STEPS):
        x, y = batch(seed=30 + t)
        for xm, ym in zip(x.chunk(accum), y.chunk(accum), strict=True):
            sam.backward(model, xm, ym, nn.CrossEntropyLoss(), accum_steps=accum)
        sam.step()
        sam.zero_grad()
        reported += sam.last_step.grad_evals
        flags.append(sam.last_step.perturbed)
    return model.counts, reported, flags


def measured(counts: dict) -> float:
    """Gradient evaluations from the examples counted (a batch has B examples)."""
    assert counts["forward"] == counts["backward"]  # every forward under autograd is backpropagated
    return (counts["backward"] + counts["forward_only"] / 3) / B


def passes(counts: dict) -> tuple[float, float]:
    """(forward+backward, forward-only) passes, in batches of B."""
    return counts["backward"] / B, counts["forward_only"] / B


@pytest.mark.parametrize("kw, backwards, forward_only", [
    ({}, 20, 0),                                                     # SAM: 2 a step
    ({"perturbation": "random"}, 10, 10),                            # RandSAM: 4/3 a step
    ({"perturb_policy": "looksam", "perturb_every": 5}, 12, 0),     # LookSAM k=5: 1.2
    ({"perturb_policy": "every", "perturb_every": 5}, 12, 0),
    ({"perturb_policy": "every", "perturb_every": 5, "perturbation": "random"}, 10, 2),
    ({"perturbation": "momentum"}, 10, 0),                           # MSAM: 1
    ({"perturb_batch_size": 4}, 20, 0),                              # m-sharpness: 3 chunks
])
def test_passes_made_are_passes_claimed(kw: dict, backwards: int, forward_only: int) -> None:
    counts, reported, _ = run(kw)
    assert passes(counts) == (backwards, forward_only)
    assert reported == pytest.approx(measured(counts))


@pytest.mark.parametrize("kw", [{"perturb_policy": "aesam"},
                                {"perturb_policy": "prob", "perturb_prob": 0.5, "seed": 1}])
def test_skipped_ascents_are_not_counted(kw: dict) -> None:
    counts, reported, flags = run(kw)
    assert 0 < sum(flags) < STEPS
    assert passes(counts)[0] == STEPS + sum(flags)
    assert reported == pytest.approx(measured(counts))


@pytest.mark.parametrize("kw", [{"perturb_policy": "looksam", "perturb_every": 5},
                                {"perturbation": "momentum"}, {}])
def test_accumulation_counts_micro_batches_as_fractions(kw: dict) -> None:
    counts, reported, _ = run(kw, accum=2)
    one, one_reported, _ = run(kw)
    assert passes(counts) == passes(one)
    assert reported == pytest.approx(measured(counts)) == pytest.approx(one_reported)


def test_msam_adamw_makes_one_pass_a_step() -> None:
    counts, reported, flags = run({"perturbation": "momentum"}, optimizer="adamw")
    assert passes(counts) == (STEPS, 0) and reported == STEPS
    assert flags == [False] + [True] * (STEPS - 1)


@pytest.mark.parametrize("kw", [{}, {"perturbation": "random"}, {"perturbation": "momentum"},
                                {"perturb_policy": "looksam", "perturb_every": 5},
                                {"perturb_policy": "every", "perturb_every": 2,
                                 "perturbation": "random"}])
def test_expected_grad_evals_is_what_a_deterministic_policy_makes(kw: dict) -> None:
    """The plan (`expected_grad_evals`) against the passes counted over 10 steps; momentum's first
    step is at w (a pass all the same)."""
    from samtrain.config.sam_schema import SAMHParams, expected_grad_evals

    counts, _, _ = run(kw)
    assert expected_grad_evals(SAMHParams(**kw)) * STEPS == pytest.approx(measured(counts))


def test_expected_grad_evals_of_random_policies() -> None:
    from samtrain.config.sam_schema import SAMHParams, expected_grad_evals

    assert expected_grad_evals(SAMHParams(perturb_policy="prob", perturb_prob=0.3)) == 1.3
    assert expected_grad_evals(SAMHParams(perturb_policy="prob", perturb_prob=0.8,
                                          perturb_prob_schedule="cosine",
                                          perturb_prob_start=0.2)) == pytest.approx(1.5)
    assert expected_grad_evals(SAMHParams(perturb_policy="aesam")) is None
