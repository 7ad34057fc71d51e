"""The m-sharpness paths on CUDA, where `batched="auto"` times both and keeps the faster (run on a
GPU machine: `pytest tests/samtrain/optim/test_cuda.py`; without CUDA these tests are skipped, the CPU suite
covers the same math and the choice with a fake clock)."""

from __future__ import annotations

import math

import pytest
import torch

from samtrain.models import build_model
from samtrain.optim import path_choice
from samtrain.optim.path_choice import PROBE
from tests.support.models import assert_same, cnn, images, run_sam, sgd_sam, state

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CE = torch.nn.CrossEntropyLoss()


@pytest.fixture(autouse=True)
def fresh_path_decisions():
    path_choice.clear_decisions()
    yield
    path_choice.clear_decisions()


def on_cuda(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.cuda() for t in tensors]


@pytest.mark.parametrize("kw", [{}, {"perturbation": "obf", "obf_C": 3.0, "gsam_alpha": 0.2,
                                     "adaptive": "before", "rho": 0.8}], ids=["sam", "obf_gsam_asam"])
def test_batched_equals_loop_on_cuda_with_batchnorm(kw: dict) -> None:
    x, y = on_cuda(*images())  # float64: the comparison is exact up to summation order
    results, outs = [], []
    for batched in (False, True):
        model = cnn().cuda()
        outs.append(run_sam(model, x, y, perturb_batch_size=3, batched=batched, **{"rho": 0.3, **kw})[1])
        results.append(state(model))
    assert_same(*results, rtol=1e-7, atol=1e-9)
    for a, b in zip(*outs, strict=True):  # incl. perturb_logits
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_auto_probe_on_cuda_equals_the_loop() -> None:
    x, y = on_cuda(*images())
    auto, loop = cnn().cuda(), cnn().cuda()
    sam_a, sam_l = sgd_sam(auto, perturb_batch_size=3), sgd_sam(loop, perturb_batch_size=3, batched=False)
    for _ in range(len(PROBE) + 2):
        for sam, model in ((sam_a, auto), (sam_l, loop)):
            sam.backward(model, x, y, CE)
        assert_same(state(auto), state(loop), rtol=1e-7, atol=1e-9)
        for sam in (sam_a, sam_l):
            sam.step(), sam.zero_grad()
    choice = sam_a.msharp_choice
    assert choice["msharp_path"] in ("loop", "batched")
    assert all(math.isfinite(choice[k]) and choice[k] > 0 for k in ("msharp_loop_ms", "msharp_batched_ms"))


def test_auto_choice_on_cuda_with_bf16_resnet() -> None:
    model = build_model("resnet20", 10, 3, 32).cuda()
    x, y = torch.randn(32, 3, 32, 32, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    sam = sgd_sam(model, perturb_batch_size=8)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        outs = [sam.backward(model, x, y, CE) for _ in range(len(PROBE))]
        grads = [p.grad for p in model.parameters()]
    assert not sam._batched_failed and sam.msharp_choice is not None
    (key, _), = path_choice.DECISIONS.items()
    assert key[3] == "torch.bfloat16"  # the autocast dtype is part of the key
    assert all(torch.isfinite(o.loss) and torch.isfinite(o.perturb_logits).all() for o in outs)
    assert all(torch.isfinite(g).all() and g.dtype == torch.float32 for g in grads)
    CE(model(x), y)  # the model still runs after the functional passes
