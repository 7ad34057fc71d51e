"""Sharpness measures of samtrain.diagnostics on losses with known answers (linear and quadratic
in the parameters, a tiny MLP against its exact Hessian), and the guarantee that measuring leaves
the model exactly as it was."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from samtrain.diagnostics import (
    SHARPNESS_METRICS,
    adaptive_sharpness,
    hessian_top_eigenvalue,
    hessian_trace,
    measure_sharpness,
)
from samtrain.models import build_model


def mean_out(out: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
    return out.mean()


class LinearInParams(nn.Module):
    """out_n = x_n . (w1, vec w2): the mean loss over a batch B is a_B . w with a_B = mean_B x."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor([0.5, -2.0, 0.0]))
        self.w2 = nn.Parameter(torch.tensor([[1.5, -0.25], [3.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :3] @ self.w1 + x[:, 3:] @ self.w2.flatten()


class Quadratic(nn.Module):
    """out_n = 0.5 (w - c)^T A (w - c) (the same for every example) over w = (w1, vec w2):
    Hessian A everywhere."""

    def __init__(self, a: torch.Tensor, c: torch.Tensor | None = None) -> None:
        super().__init__()
        d = a.shape[0]
        self.w1 = nn.Parameter(torch.linspace(-1.0, 2.0, 2, dtype=a.dtype))
        self.w2 = nn.Parameter(torch.linspace(0.5, -1.5, d - 2, dtype=a.dtype).reshape(-1, 2))
        self.register_buffer("a", a)
        self.register_buffer("c", torch.zeros(d, dtype=a.dtype) if c is None else c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.cat([self.w1, self.w2.flatten()]) - self.c
        return (0.5 * r @ self.a @ r).expand(x.shape[0])


def spectrum_matrix(eigs: list[float], seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


@pytest.mark.parametrize("steps", [1, 10])
def test_adaptive_sharpness_linear_loss_closed_form(steps: int) -> None:
    model = LinearInParams()
    x = torch.randn(12, 7, generator=torch.Generator().manual_seed(0))
    w = torch.cat([model.w1.detach(), model.w2.detach().flatten()])
    rho, m = 0.05, 4
    closed = [rho * float((xb.mean(0).abs() * w.abs()).sum()) for xb in x.split(m)]
    got = adaptive_sharpness(model, mean_out, x, torch.zeros(12), m=m, rho=rho, steps=steps)
    assert got == pytest.approx(sum(closed) / len(closed), rel=1e-5)
    assert closed[0] != pytest.approx(closed[1])  # the batches differ: the per-batch mean matters


def test_adaptive_sharpness_quadratic_bounded_by_vertex_max() -> None:
    a = spectrum_matrix([3.0, 1.0, 0.5, 0.1], seed=1)
    model = Quadratic(a, c=torch.tensor([0.3, -0.2, 0.1, 0.4], dtype=torch.float64))
    w = torch.cat([model.w1.detach(), model.w2.detach().flatten()])
    rho = 0.2

    def loss(v: torch.Tensor) -> float:
        r = v - model.c
        return float(0.5 * r @ a @ r)

    # convex in delta: the maximum over the box |delta_i| <= rho |w_i| is at one of its 16 vertices
    best = max(loss(w + rho * w.abs() * torch.tensor(s, dtype=w.dtype))
               for s in itertools.product([-1.0, 1.0], repeat=4)) - loss(w)
    got = adaptive_sharpness(model, mean_out, torch.zeros(2, 1), torch.zeros(2), m=2, rho=rho, steps=10)
    assert 0.0 <= got <= best + 1e-12
    assert got >= 0.95 * best
    assert adaptive_sharpness(model, mean_out, torch.zeros(2, 1), torch.zeros(2), m=2, rho=0.0) == 0.0


def test_adaptive_sharpness_rejects_bad_m() -> None:
    with pytest.raises(ValueError):
        adaptive_sharpness(LinearInParams(), mean_out, torch.zeros(10, 7), torch.zeros(10), m=4, rho=0.1)


@pytest.mark.parametrize("eigs,top", [([4.0, 1.5, 1.0, 0.5, 0.2, 0.1], 4.0),
                                      ([2.0, -5.0, 1.0, 0.3, 0.0, 0.1], -5.0)])
def test_hessian_top_eigenvalue_quadratic(eigs: list[float], top: float) -> None:
    model = Quadratic(spectrum_matrix(eigs))
    got = hessian_top_eigenvalue(model, mean_out, torch.zeros(3, 1), torch.zeros(3), iters=50, tol=1e-6)
    assert got == pytest.approx(top, rel=1e-5)
    # default: at most 20 iterations, relative tolerance 1e-3 (|lambda_2 / lambda_1| = 0.4)
    assert hessian_top_eigenvalue(model, mean_out, torch.zeros(3, 1), torch.zeros(3)) == pytest.approx(
        top, rel=2e-3)


def test_hessian_zero_for_linear_loss() -> None:
    x, y = torch.randn(4, 7), torch.zeros(4)
    assert hessian_top_eigenvalue(LinearInParams(), mean_out, x, y) == 0.0
    assert hessian_trace(LinearInParams(), mean_out, x, y, samples=3) == 0.0


def test_hutchinson_exact_for_diagonal_hessian() -> None:
    diag = [3.0, -1.0, 0.5, 2.0, 0.25, 4.0]
    model = Quadratic(torch.diag(torch.tensor(diag, dtype=torch.float64)))
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        got = hessian_trace(model, mean_out, torch.zeros(2, 1), torch.zeros(2), samples=1, generator=gen)
        assert got == pytest.approx(sum(diag), rel=1e-12)


def test_hutchinson_non_diagonal_within_estimator_spread() -> None:
    a = spectrum_matrix([4.0, 1.5, 1.0, 0.5, 0.2, 0.1], seed=3)
    model = Quadratic(a)
    samples = 20
    # Rademacher v: Var(v^T A v) = 2 sum_{i != j} A_ij^2 per sample
    off = a - torch.diag(torch.diag(a))
    sd = math.sqrt(2 * float((off**2).sum()) / samples)
    state = torch.get_rng_state()
    got = hessian_trace(model, mean_out, torch.zeros(2, 1), torch.zeros(2), samples=samples)
    assert torch.equal(torch.get_rng_state(), state)  # a private generator: global stream untouched
    assert abs(got - float(torch.trace(a))) <= 4 * sd
    assert got != pytest.approx(float(torch.trace(a)), rel=1e-9)  # really an estimate here


def test_hessian_matches_exact_on_tiny_mlp() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 3, (16,))
    params = [p.detach() for p in net.parameters()]
    names = [n for n, _ in net.named_parameters()]

    def flat_loss(v: torch.Tensor) -> torch.Tensor:
        chunks = v.split([p.numel() for p in params])
        ps = {n: c.view_as(p) for n, c, p in zip(names, chunks, params, strict=True)}
        return nn.functional.cross_entropy(torch.func.functional_call(net, ps, (x,)), y)

    h = torch.autograd.functional.hessian(flat_loss, torch.cat([p.flatten() for p in params]))
    eigs = torch.linalg.eigvalsh(h)
    top = float(eigs[eigs.abs().argmax()])
    got = hessian_top_eigenvalue(net, nn.functional.cross_entropy, x, y, iters=500, tol=1e-12)
    assert got == pytest.approx(top, rel=1e-6)
    tr = hessian_trace(net, nn.functional.cross_entropy, x, y, samples=400)
    off = h - torch.diag(torch.diag(h))
    assert abs(tr - float(torch.trace(h))) <= 4 * math.sqrt(2 * float((off**2).sum()) / 400)


def snapshot(model: nn.Module) -> dict:
    return {"params": [p.detach().clone() for p in model.parameters()],
            "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            "buffers": [b.clone() for b in model.buffers()],
            "modes": [m.training for m in model.modules()]}


def assert_same(a: dict, b: dict) -> None:
    for x, y in zip(a["params"] + a["buffers"], b["params"] + b["buffers"], strict=True):
        assert torch.equal(x, y)
    for x, y in zip(a["grads"], b["grads"], strict=True):
        assert (x is None and y is None) or torch.equal(x, y)
    assert a["modes"] == b["modes"]


def test_measure_sharpness_leaves_model_untouched_and_ignores_autocast() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=8)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(model(x), y).backward()  # train-mode forward: BN stats move
    model.classifier.weight.grad = None
    model.features[1].eval()  # one submodule deliberately in eval while the model trains
    before = snapshot(model)
    kw = dict(m=4, rho=0.05, steps=3, hessian_iters=3, trace_samples=2)
    plain = measure_sharpness(model, nn.functional.cross_entropy, x, y, **kw)
    assert_same(before, snapshot(model))
    assert sorted(plain) == sorted(SHARPNESS_METRICS)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        amp = measure_sharpness(model, nn.functional.cross_entropy, x, y, **kw)
        bf16_input = measure_sharpness(model, nn.functional.cross_entropy, x.bfloat16(), y, **kw)
    assert amp == plain  # float32, outside autocast: bit for bit the same
    assert bf16_input == measure_sharpness(model, nn.functional.cross_entropy, x.bfloat16().float(), y,
                                           **kw)  # bf16 inputs are cast to the parameters' dtype
    assert_same(before, snapshot(model))
    # eval mode: the measures see BN's running statistics, not the batch's
    with torch.no_grad():
        model.features[2].running_var.mul_(4.0)
    shifted = measure_sharpness(model, nn.functional.cross_entropy, x, y, **kw)
    assert shifted["hessian_trace"] != pytest.approx(plain["hessian_trace"], rel=1e-3)


def test_measure_sharpness_matches_parts_and_omits_zero_counts() -> None:
    model = Quadratic(spectrum_matrix([4.0, 1.5, 1.0, 0.5, 0.2, 0.1]))
    x, y = torch.zeros(4, 1), torch.zeros(4)
    out = measure_sharpness(model, mean_out, x, y, m=2, rho=0.1, steps=5, hessian_iters=20,
                            trace_samples=7)
    assert out == {"sharpness_adaptive": adaptive_sharpness(model, mean_out, x, y, 2, 0.1, 5),
                   "hessian_top_eig": hessian_top_eigenvalue(model, mean_out, x, y, 20),
                   "hessian_trace": hessian_trace(model, mean_out, x, y, 7)}
    only = measure_sharpness(model, mean_out, x, y, m=2, rho=0.1, steps=0, hessian_iters=20,
                             trace_samples=0)
    assert list(only) == ["hessian_top_eig"]
