"""samtrain.diagnostics on CUDA (skipped without a GPU): the same answers as on the CPU, bf16
autocast logits accepted, sharpness measured in float32 with the model left untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samtrain.diagnostics import ForgettingTracker, PerturbedAccumulator, measure_sharpness
from samtrain.models import build_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_forgetting_cuda_matches_cpu() -> None:
    g = torch.Generator().manual_seed(0)
    trackers = [ForgettingTracker(300, d, flipped=torch.arange(300) % 7 == 0) for d in ("cpu", "cuda")]
    for _ in range(4):
        idx = torch.randperm(300, generator=g)[:250]  # some examples skipped each epoch
        correct = torch.rand(250, generator=g) < 0.7
        for t in trackers:
            for i, c in zip(idx.split(64), correct.split(64), strict=True):
                t.record(i, c.to(t.device))  # CPU indices, device results
        cpu, cuda = (t.end_epoch() for t in trackers)
        assert cpu == cuda
    assert torch.equal(trackers[0].forget_counts, trackers[1].forget_counts.cpu())


def test_perturbed_bf16_cuda_matches_cpu() -> None:
    g = torch.Generator().manual_seed(0)
    clean = (3 * torch.randn(256, 10, generator=g)).bfloat16()
    pert = (clean.float() + torch.randn(256, 10, generator=g)).bfloat16()
    y = torch.randint(0, 10, (256,), generator=g)
    out = []
    for device in ("cpu", "cuda"):
        acc = PerturbedAccumulator(device)
        acc.record(clean.to(device), pert.to(device), y.to(device))
        out.append(acc.end_epoch())
    assert out[0]["perturbed_flip"] == out[1]["perturbed_flip"]
    assert out[0]["perturbed_kl"] == pytest.approx(out[1]["perturbed_kl"], rel=1e-5)


def test_measure_sharpness_cuda_float32_untouched() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    kw = dict(m=32, rho=0.002, steps=3, hessian_iters=5, trace_samples=4)
    cpu = measure_sharpness(model, nn.functional.cross_entropy, x, y, **kw)
    model.cuda().train()
    before = [t.clone() for t in (*model.parameters(), *model.buffers())]
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # true float32 convolutions, comparable with the CPU
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            cuda = measure_sharpness(model, nn.functional.cross_entropy, x.cuda(), y.cuda(), **kw)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert all(torch.equal(a, b) for a, b in zip(before, (*model.parameters(), *model.buffers()),
                                                 strict=True))
    assert model.training and all(p.grad is None for p in model.parameters())
    # float32 on both devices; different kernels (sign ascent may flip tiny coordinates)
    for key, value in cpu.items():
        assert cuda[key] == pytest.approx(value, rel=2e-2), key
