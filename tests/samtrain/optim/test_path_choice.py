"""`SAM(batched="auto")`: the probe times both m-sharpness paths on real steps and keeps the faster
(a fake clock decides which is faster), caches the decision per process, keeps it in state_dict,
never probes without a choice to make, and falls back to the loop when vmap fails. Probing steps
equal the loop's steps."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import samtrain.optim.sam as sam_module
from samtrain.optim import SAM, path_choice
from samtrain.optim.path_choice import PROBE
from tests.support.models import SAME_TOL as TOL
from tests.support.models import assert_same, batch, cnn, images, mlp, run_sam, sgd_sam, state

torch.set_num_threads(1)


pytestmark = pytest.mark.usefixtures("fresh_path_decisions")
CE = nn.CrossEntropyLoss()


class FakeClock:
    """`path_choice.clock` that advances only when a path runs, by `cost[path]` seconds; records
    which path each SAM ran, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cost: dict[str, float]) -> None:
        self.now, self.cost, self.calls = 0.0, cost, []
        real_batched, real_loop = sam_module.batched_sam, SAM._loop

        def batched(sam, *a, **k):
            self._tick(sam, "batched")
            return real_batched(sam, *a, **k)

        def loop(sam, step):
            self._tick(sam, "loop")
            return real_loop(sam, step)

        monkeypatch.setattr(sam_module, "batched_sam", batched)
        monkeypatch.setattr(SAM, "_loop", loop)
        monkeypatch.setattr(path_choice, "clock", lambda: self.now)

    def _tick(self, sam: SAM, path: str) -> None:
        self.calls.append((sam, path))
        self.now += self.cost[path]

    def paths(self, sam: SAM) -> list[str]:
        return [p for s, p in self.calls if s is sam]


def train(sam: SAM, model: nn.Module, x, y, steps: int) -> list:
    outs = []
    for _ in range(steps):
        outs.append(sam.backward(model, x, y, CE))
        sam.step(), sam.zero_grad()
    return outs


@pytest.mark.parametrize("faster", ["loop", "batched"])
def test_auto_keeps_the_faster_path_and_equals_the_loop(monkeypatch, faster: str) -> None:
    cost = {"loop": 0.005, "batched": 0.009} if faster == "loop" else {"loop": 0.007, "batched": 0.003}
    clock = FakeClock(monkeypatch, cost)
    x, y = images()
    auto, loop = cnn(), cnn()
    sam_a, sam_l = sgd_sam(auto, perturb_batch_size=3), sgd_sam(loop, perturb_batch_size=3, batched=False)
    for i in range(len(PROBE) + 2):
        assert (sam_a.msharp_choice is None) == (i < len(PROBE))
        out_a, out_l = sam_a.backward(auto, x, y, CE), sam_l.backward(loop, x, y, CE)
        assert_same(state(auto), state(loop))  # probing steps are real, identical steps
        for a, b in zip(out_a, out_l, strict=True):
            torch.testing.assert_close(a, b, **TOL)
        sam_a.step(), sam_l.step(), sam_a.zero_grad(), sam_l.zero_grad()
    assert clock.paths(sam_a) == [*PROBE, faster, faster]
    assert sam_a.msharp_choice == {"msharp_path": faster,
                                   "msharp_loop_ms": pytest.approx(1e3 * cost["loop"]),
                                   "msharp_batched_ms": pytest.approx(1e3 * cost["batched"])}
    for p, q in zip(auto.parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TOL)


def test_auto_decision_is_cached_per_process(monkeypatch) -> None:
    clock = FakeClock(monkeypatch, {"loop": 0.010, "batched": 0.002})
    x, y = images()
    first = sgd_sam(model := cnn(), perturb_batch_size=3)
    train(first, model, x, y, len(PROBE))
    assert first.msharp_choice["msharp_path"] == "batched"
    second = sgd_sam(model := cnn(seed=7), perturb_batch_size=3)  # same key: class, shapes, m, x
    train(second, model, x, y, 1)
    assert second.msharp_choice == first.msharp_choice
    train(second, model, x, y, 2)
    assert clock.paths(second) == ["batched"] * 3
    for kw, xs in (({"perturb_batch_size": 4}, x), ({"perturb_batch_size": 3}, x[:6])):
        other = sgd_sam(model := cnn(), **kw)  # another m, another input shape: a new probe
        train(other, model, xs, y[:len(xs)], 2)
        assert clock.paths(other) == list(PROBE[:2]) and other.msharp_choice is None


@pytest.mark.parametrize("batched,m,want", [
    (False, 4, "loop"), (True, 4, "batched"), ("auto", None, "loop"), (True, None, "batched")])
def test_no_probe_without_a_choice(monkeypatch, batched, m: int | None, want: str) -> None:
    clock = FakeClock(monkeypatch, {"loop": 0.01, "batched": 0.01})

    def no_clock() -> float:
        raise AssertionError("timed a step without a choice to make")

    monkeypatch.setattr(path_choice, "clock", no_clock)
    x, y = batch()
    sam = sgd_sam(model := mlp(), perturb_batch_size=m, batched=batched)
    train(sam, model, x, y, len(PROBE) + 1)
    assert clock.paths(sam) == [want] * (len(PROBE) + 1)
    assert sam.msharp_choice is None and not path_choice.DECISIONS


def test_auto_decision_survives_state_dict(monkeypatch) -> None:
    clock = FakeClock(monkeypatch, {"loop": 0.002, "batched": 0.010})
    x, y = batch()
    sam = sgd_sam(model := mlp(), perturb_batch_size=4)
    train(sam, model, x, y, len(PROBE))
    sd = copy.deepcopy(sam.state_dict())
    path_choice.clear_decisions()  # a fresh process resuming from the checkpoint
    resumed = sgd_sam(model2 := copy.deepcopy(model))
    resumed.load_state_dict(sd)
    assert resumed.msharp_choice == sam.msharp_choice and resumed.msharp_choice["msharp_path"] == "loop"
    assert resumed.hparams() == sam.hparams() and resumed.batched == "auto"
    train(resumed, model2, x, y, 2)
    assert clock.paths(resumed) == ["loop", "loop"]  # no new probe
    sd["sam"]["batched"] = None  # saved before "auto" existed
    legacy = sgd_sam(mlp())
    legacy.load_state_dict(sd)
    assert legacy.batched == "auto"


class Branchy(nn.Module):
    """Data-dependent control flow: fine in the loop, impossible under vmap."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if float(out.detach().sum()) > -1e9 else -out


def test_batched_failure_falls_back_to_loop_when_automatic() -> None:
    x, y = batch()
    loop = run_sam(Branchy(), x, y, perturb_batch_size=4, batched=False)[2]
    model = Branchy()
    with pytest.warns(UserWarning, match="batched m-sharpness failed"):
        sam, out, auto = run_sam(model, x, y, perturb_batch_size=4)  # first probe step: batched
    assert_same(auto, loop)
    assert sam.msharp_choice["msharp_path"] == "loop"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sam.backward(model, x, y, CE)  # remembered: no second attempt, no warning
        run_sam(Branchy(), x, y, perturb_batch_size=4)  # also by a later run in this process
    with pytest.raises(RuntimeError):
        run_sam(Branchy(), x, y, perturb_batch_size=4, batched=True)
