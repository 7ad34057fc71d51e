"""SAM beyond the formulas: batched vs loop (BatchNorm), running statistics, accumulation,
bf16 autocast, state_dict, schedulers and every validation error (the automatic path choice:
tests/samtrain/optim/test_path_choice.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from samtrain.optim import SAM, OutputBiasForget, path_choice
from tests.support.models import SAME_TOL, B, assert_same, batch, cnn, images, mlp, run_sam, state

torch.set_num_threads(1)
TOL = SAME_TOL
CE = nn.CrossEntropyLoss()


pytestmark = pytest.mark.usefixtures("fresh_path_decisions")


def max_diff(a: dict, b: dict, prefix: str) -> float:
    return max(float((a[n] - b[n]).abs().max()) for n in a if n.startswith(prefix))


# ---------------------------------------------------------------- batched == loop, BatchNorm
@pytest.mark.parametrize("kw", [
    {"perturbation": "ascent"},
    {"perturbation": "obf", "obf_C": 3.0, "gsam_alpha": 0.2, "adaptive": "before", "rho": 0.8},
    {"perturbation": "random", "adaptive": "after"},
    {"perturbation": "ascent", "gsam_alpha": 0.3, "backup_normalized": True, "adaptive": "both"},
], ids=["sam", "obf_gsam_asam", "random_asam", "gsam_bn_asam"])
@pytest.mark.parametrize("m", [3, 4])
def test_batched_equals_loop_with_batchnorm(kw: dict, m: int) -> None:
    x, y = images()
    results, outs = [], []
    for batched in (False, True):
        model = cnn()
        torch.manual_seed(5)
        outs.append(run_sam(model, x, y, perturb_batch_size=m, batched=batched,
                            **{"rho": 0.3, **kw})[1])
        results.append(state(model))
    assert_same(*results)
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    # per-chunk batch statistics: the logits are not those of one whole-batch forward
    whole = cnn()(x).detach()
    assert float((outs[1].logits - whole).abs().max()) > 1e-3
    # running statistics moved (k momentum updates), i.e. the comparison above is not vacuous
    assert max_diff(results[0], state_of_fresh_cnn(), "buf:") > 1e-3


def state_of_fresh_cnn() -> dict[str, torch.Tensor]:
    return {f"buf:{n}": b.clone() for n, b in cnn().named_buffers()}


@pytest.mark.parametrize("perturbation", ["ascent", "obf", "random"])
@pytest.mark.parametrize("m,batched", [(None, False), (4, False), (4, True)])
def test_running_stats_only_from_clean_pass(perturbation: str, m: int | None, batched: bool) -> None:
    x, y = images()
    model, clean = cnn(), cnn()
    run_sam(model, x, y, rho=0.5, perturbation=perturbation, perturb_batch_size=m, batched=batched)
    for xc in x.split(m or B):  # what normal training forwards (chunk by chunk) would do
        clean(xc)
    for (n, b), c in zip(model.named_buffers(), clean.buffers(), strict=True):
        torch.testing.assert_close(b, c, **TOL, msg=n)
    assert int(model[1].num_batches_tracked) == B // (m or B)


def test_momentum_none_batchnorm_uses_the_loop() -> None:
    x, y = images()
    with pytest.raises(ValueError, match="batched=True is not possible: norm layer '1' has momentum=None"):
        run_sam(cnn(momentum=None), x, y, perturb_batch_size=4, batched=True)
    model, clean = cnn(momentum=None), cnn(momentum=None)
    sam = run_sam(model, x, y, perturb_batch_size=4)[0]  # "auto": no choice, the loop
    assert sam.msharp_choice is None and not path_choice.DECISIONS
    for xc in x.split(4):
        clean(xc)
    for b, c in zip(model.buffers(), clean.buffers(), strict=True):
        torch.testing.assert_close(b, c, **TOL)


# ---------------------------------------------------------------- accumulation
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("perturbation", ["ascent", "obf"])
def test_accumulation_equals_one_call_on_the_whole_batch(batched: bool, perturbation: str) -> None:
    x, y = images()
    whole, parts = cnn(), cnn()
    kw = {"rho": 0.3, "perturbation": perturbation, "perturb_batch_size": 3, "batched": batched}
    sam_w = SAM(torch.optim.SGD(whole.parameters(), lr=0.1, momentum=0.9), **kw)
    sam_p = SAM(torch.optim.SGD(parts.parameters(), lr=0.1, momentum=0.9), **kw)
    out_w = sam_w.backward(whole, x, y, CE)
    outs = [sam_p.backward(parts, xm, ym, CE, accum_steps=2)
            for xm, ym in zip(x.split(6), y.split(6), strict=True)]
    assert_same(state(whole), state(parts))
    torch.testing.assert_close(out_w.loss, (outs[0].loss + outs[1].loss) / 2, **TOL)
    torch.testing.assert_close(out_w.logits, torch.cat([o.logits for o in outs]), **TOL)
    sam_w.step(), sam_p.step()
    for a, b in zip(whole.parameters(), parts.parameters(), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_backward_adds_to_existing_grad() -> None:
    x, y = batch()
    *_, fresh = run_sam(mlp(), x, y)
    model = mlp()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    *_, added = run_sam(model, x, y)
    assert_same(added, {n: g + 1 for n, g in fresh.items()})


def test_shared_and_unused_parameters() -> None:
    """Tied weights get one gradient; a parameter outside the forward gets a zero gradient."""

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(5, 5).double()
            self.unused = nn.Parameter(torch.ones(3, dtype=torch.float64))

        def forward(self, x):
            return self.a(torch.tanh(self.a(x)))[:, :4]

    x, y = batch()
    grads = []
    for batched in (False, True):
        torch.manual_seed(0)
        model = Tied()
        run_sam(model, x, y, rho=0.3, perturb_batch_size=4, batched=batched)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert_same(*grads)
    assert torch.equal(grads[0]["unused"], torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("kw", [{"perturbation": "ascent", "gsam_alpha": 0.3},
                                {"perturbation": "obf", "adaptive": "both"}], ids=["gsam", "obf_asam"])
def test_a_zero_dim_parameter_takes_the_batched_path_like_the_loop(kw: dict) -> None:
    """A scalar parameter (a learned temperature) is chunked to shape (k,) by the batched path."""

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(5, 4).double()
            self.t = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))

        def forward(self, x):
            return self.a(x) * self.t

    x, y = batch()
    grads = []
    for batched in (False, True, "auto"):
        torch.manual_seed(0)
        model = Scaled()
        sam, *_ = run_sam(model, x, y, rho=0.3, perturb_batch_size=4, batched=batched, **kw)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert_same(grads[0], grads[1])
    assert_same(grads[0], grads[2])
    assert not sam._batched_failed  # "auto" measured both paths, none fell back


# ---------------------------------------------------------------- bf16 autocast
@pytest.mark.parametrize("batched", [False, True])
def test_bf16_autocast_close_to_fp32(batched: bool) -> None:
    x, y = images(dtype=torch.float32)
    kw = {"rho": 1.0, "perturb_batch_size": 6, "batched": batched}
    fp32 = run_sam(cnn(dtype=torch.float32), x, y, **kw)[2]
    model = cnn(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, out, bf16 = run_sam(model, x, y, **kw)
    assert all(g.dtype == torch.float32 for g in bf16.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    clean_model = cnn(dtype=torch.float32)
    CE(clean_model(x), y).backward()
    clean = {n: p.grad for n, p in clean_model.named_parameters()}

    def dist(a, b):
        return sum(float((a[n] - b[n]).float().pow(2).sum()) for n in a) ** 0.5

    scale = dist(fp32, {n: torch.zeros_like(g) for n, g in fp32.items()})
    # bf16 rounding (5-15 % on this tiny CNN, either path) is far below the SAM effect (~100 %):
    # a perturbed pass on stale low-precision weights (autocast's cast cache) would show
    assert dist(bf16, fp32) < 0.25 * scale
    assert dist(fp32, clean) > 0.8 * scale


# ---------------------------------------------------------------- state_dict, schedulers
def test_state_dict_round_trip() -> None:
    x, y = batch()
    kw = {"rho": 0.2, "perturbation": "obf", "obf_C": 5.0, "obf_gamma": 0.5, "obf_sigmoid": False,
          "adaptive": "both", "gsam_alpha": 0.1, "backup_normalized": True, "rho_policy": "lr_prop",
          "rho_min": 0.01, "lr_min": 0.001, "perturb_batch_size": 4, "batched": False}
    model = mlp()
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), **kw)
    sched = torch.optim.lr_scheduler.StepLR(sam, step_size=1, gamma=0.5)
    sam.backward(model, x, y, CE), sam.step(), sam.zero_grad(), sched.step()
    sd = copy.deepcopy(sam.state_dict())
    model2 = copy.deepcopy(model)
    sam2 = SAM(torch.optim.SGD(model2.parameters(), lr=0.7, momentum=0.9))
    sam2.load_state_dict(sd)
    assert sam2.hparams() == sam.hparams() and sam2.hparams()["obf_C"] == 5.0
    assert sam2.param_groups is sam2.base_optimizer.param_groups
    assert sam2.param_groups[0]["lr"] == pytest.approx(0.05)
    assert sam2.current_rho() == pytest.approx(sam.current_rho())
    assert sam2.current_rho() == pytest.approx(0.01 + 0.19 * (0.05 - 0.001) / (0.1 - 0.001))
    for s in (sam, sam2):
        s.backward(s is sam and model or model2, x, y, CE), s.step()
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    base_only = SAM(torch.optim.SGD(mlp().parameters(), lr=0.1, momentum=0.9))
    base_only.load_state_dict(sd["base"])
    assert base_only.param_groups[0]["lr"] == pytest.approx(0.05)


def test_param_groups_are_the_base_optimizers() -> None:
    model = mlp()
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    sam = SAM(base)
    assert sam.param_groups is base.param_groups and sam.state is base.state
    sched = torch.optim.lr_scheduler.LambdaLR(base, lambda s: 0.5 ** s)
    x, y = batch()
    w0 = [p.detach().clone() for p in model.parameters()]
    sam.backward(model, x, y, CE)
    sam.step(), sched.step()
    assert sam.param_groups[0]["lr"] == pytest.approx(0.05)
    for p, w in zip(model.parameters(), w0, strict=True):  # w <- w - 0.1 * g_SAM
        torch.testing.assert_close(p.detach(), w - 0.1 * p.grad, **TOL)
    sam.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kw,msg", [
    ({"rho": -0.1}, "rho=-0.1 is invalid"),
    ({"perturbation": "none"}, "perturbation='none' is invalid.*base optimizer directly"),
    ({"perturbation": "sharp"}, "perturbation='sharp' is invalid"),
    ({"adaptive": "yes"}, "adaptive='yes' is invalid"),
    ({"rho_policy": "cosine"}, "rho_policy='cosine' is invalid"),
    ({"obf_C": 0.5}, "obf_C=0.5 is invalid"),
    ({"obf_C": 0.0}, "obf_C=0.0 is invalid"),
    ({"obf_C": 1.0}, "obf_C=1.0 is invalid"),
    ({"obf_gamma": 1.5}, "obf_gamma=1.5 is invalid"),
    ({"obf_gamma": -0.1}, "obf_gamma=-0.1 is invalid"),
    ({"perturb_batch_size": 0}, "perturb_batch_size=0 is invalid"),
    ({"perturb_batch_size": 2.5}, "perturb_batch_size=2.5 is invalid"),
    ({"gsam_alpha": -0.1}, "gsam_alpha=-0.1 is invalid"),
    ({"gsam_alpha": 0.1, "perturbation": "random"},
     "invalid SAM hyperparameters: gsam_alpha=0.1 needs a clean gradient; perturbation 'random'"),
    ({"rho_min": -1.0}, "rho_min=-1.0 is invalid"),
    ({"lr_max": 0.1, "lr_min": 0.1}, "lr_max=0.1 is invalid: must be > lr_min=0.1"),
    ({"batched": None}, "batched=None is invalid: must be 'auto', True or False"),
    ({"batched": 1}, "batched=1 is invalid"),
    ({"rho": float("nan")}, "rho=nan is invalid: must be a finite number"),
])
def test_invalid_arguments(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        SAM(torch.optim.SGD(mlp().parameters(), lr=0.1), **kw)


@pytest.mark.parametrize("kw,call,msg", [
    ({"perturb_batch_size": 24}, {}, "perturb_batch_size=24 does not divide the local batch of 128"),
    ({"perturb_batch_size": 48}, {}, "perturb_batch_size=48 does not divide the local batch of 128"),
    ({}, {"accum_steps": 0}, "accum_steps=0 is invalid"),
    ({"rho_policy": "lr_prop", "lr_min": 0.5}, {}, "needs lr_max > lr_min, got lr_max=0.1"),
])
def test_invalid_at_backward(kw: dict, call: dict, msg: str) -> None:
    model = mlp()
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1), **kw)
    x, y = batch(n=128)
    with pytest.raises(ValueError, match=msg):
        sam.backward(model, x, y, CE, **call)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("C,gamma,msg", [(0.3, 1.0, "obf_C=0.3"), (5.0, 2.0, "obf_gamma=2.0")])
def test_invalid_obf_module(C: float, gamma: float, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        OutputBiasForget(C, gamma)
