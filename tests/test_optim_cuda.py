"""The m-sharpness paths on CUDA, where `batched=None` takes the vmap path (run on a GPU machine:
`pytest tests/test_optim_cuda.py`; without CUDA these tests are skipped, the CPU suite covers the
same math)."""

from __future__ import annotations

import pytest
import torch
from test_optim_formulas import run_sam
from test_optim_sam import CE, assert_same, cnn, images, state

from samtrain.models import build_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def on_cuda(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.cuda() for t in tensors]


@pytest.mark.parametrize("kw", [{}, {"perturbation": "obf", "obf_C": 3.0, "gsam_alpha": 0.2,
                                     "adaptive": "before", "rho": 0.8}], ids=["sam", "obf_gsam_asam"])
def test_batched_equals_loop_on_cuda_with_batchnorm(kw: dict) -> None:
    x, y = on_cuda(*images())  # float64: the comparison is exact up to summation order
    results = []
    for batched in (False, True):
        model = cnn().cuda()
        run_sam(model, x, y, perturb_batch_size=3, batched=batched, **{"rho": 0.3, **kw})
        results.append(state(model))
    assert_same(*results, rtol=1e-7, atol=1e-9)


def test_automatic_choice_on_cuda_is_the_batched_path(monkeypatch) -> None:
    import samtrain.optim.sam as sam_module

    calls = []
    real = sam_module.batched_sam
    monkeypatch.setattr(sam_module, "batched_sam", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = build_model("resnet20", 10, 3, 32).cuda()
    x, y = torch.randn(32, 3, 32, 32, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        sam, out, grads = run_sam(model, x, y, perturb_batch_size=8)
    assert calls == [1] and not sam._batched_failed
    assert torch.isfinite(out.loss) and all(torch.isfinite(g).all() for g in grads.values())
    assert all(g.dtype == torch.float32 for g in grads.values())
    CE(model(x), y)  # the model still runs after the functional passes
