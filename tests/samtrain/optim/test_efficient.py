"""The efficient SAM variants against their references, over several steps in float64.

- Momentum-SAM (Becker et al. 2024, arXiv 2401.12033): the authors' SGD and AdamW steps
  (github.com/MarlonBecker/MSAM, optimizer/msam.py and optimizer/adamW_msam.py) transcribed below;
  they keep the weights at the perturbed point between steps, `SAM` keeps them at w.
- LookSAM (Liu et al., CVPR 2022, arXiv 2203.02714) and AE-SAM (Jiang et al., ICLR 2023, arXiv
  2304.14647, Algorithm 1): the papers' equations written out with torch.func.
- "every k" and "prob": the plain gradient on skipped steps, SAM's on the others.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from samtrain.optim import SAM
from tests.support.models import batch, mlp

torch.set_num_threads(1)
TOL = {"rtol": 1e-9, "atol": 1e-12}
STEPS = 7


def batches(n: int = STEPS):
    return [batch(seed=20 + t) for t in range(n)]


def ce(model: nn.Module):
    def loss(ps, x, y):
        return F.cross_entropy(functional_call(model, ps, (x,)), y)
    return loss


def flat_norm(d: dict) -> torch.Tensor:
    return torch.sqrt(sum((v ** 2).sum() for v in d.values()))


def dot(a: dict, b: dict) -> torch.Tensor:
    return sum((a[n] * b[n]).sum() for n in a)


def train(model: nn.Module, sam: SAM, data) -> list[bool]:
    """`SAM` over `data`, one step a batch; returns the steps' perturbed flags."""
    flags = []
    for x, y in data:
        sam.backward(model, x, y, nn.CrossEntropyLoss())
        sam.step()
        sam.zero_grad()
        flags.append(sam.last_step.perturbed)
    return flags


def weights(model: nn.Module) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_weights(model: nn.Module, ref: dict, **tol) -> None:
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), ref[n], **(tol or TOL), msg=n)


# ------------------------------------------------------------------ Momentum-SAM: the authors' code
def authors_sgd_msam(model: nn.Module, data, lr, momentum, weight_decay, rho) -> dict:
    """optimizer/msam.py's `MSAM.step` (params live at w_tilde = w - rho v/||v||), transcribed;
    returns the weights moved back to w (`move_back_from_momentumAscent`)."""
    params = list(model.parameters())
    bufs = [torch.zeros_like(p) for p in params]
    inverse_norm = 0.0
    for x, y in data:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p, buf in zip(params, bufs, strict=True):
                d_p = p.grad
                d_p.add_(p, alpha=weight_decay)
                p.add_(buf, alpha=rho * inverse_norm)
                buf.mul_(momentum).add_(d_p)
                p.add_(buf, alpha=-lr)
            inverse_norm = 1 / (torch.norm(torch.stack([b.norm(p=2) for b in bufs]), p=2) + 1e-12)
            for p, buf in zip(params, bufs, strict=True):
                p.sub_(buf, alpha=rho * inverse_norm)
    with torch.no_grad():
        for p, buf in zip(params, bufs, strict=True):
            p.add_(buf, alpha=rho * inverse_norm)
    return weights(model)


def authors_adamw_msam(model: nn.Module, data, lr, betas, eps, weight_decay, rho) -> dict:
    """optimizer/adamW_msam.py's `adamW_msam`, transcribed; returns the weights at w."""
    params = list(model.parameters())
    exp_avgs = [torch.zeros_like(p) for p in params]
    exp_avg_sqs = [torch.zeros_like(p) for p in params]
    beta1, beta2 = betas
    norm_factor = 0.0
    for step, (x, y) in enumerate(data, start=1):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p, m, v in zip(params, exp_avgs, exp_avg_sqs, strict=True):
                g = p.grad
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                p.add_(m, alpha=norm_factor)
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / bias_correction1)
                p.mul_(1 - lr * weight_decay)
            norm_factor = 1 / (torch.norm(torch.stack([m.norm(p=2) for m in exp_avgs]), p=2)
                               + 1e-12) * rho
            for p, m in zip(params, exp_avgs, strict=True):
                p.sub_(m, alpha=norm_factor)
    with torch.no_grad():
        for p, m in zip(params, exp_avgs, strict=True):
            p.add_(m, alpha=norm_factor)
    return weights(model)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_msam_sgd_equals_the_authors_step(weight_decay: float) -> None:
    model, data = mlp(), batches()
    ref = authors_sgd_msam(copy.deepcopy(model), data, 0.1, 0.9, weight_decay, 0.3)
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                              weight_decay=weight_decay), rho=0.3, perturbation="momentum")
    flags = train(model, sam, data)
    assert_weights(model, ref)
    assert flags == [False] + [True] * (STEPS - 1)  # zero momentum before the first step


def test_msam_perturbs_along_minus_the_normalised_momentum() -> None:
    """One step's gradient is the loss gradient at w - rho v/||v|| (SGD, no weight decay)."""
    model, (x, y), (x2, y2) = mlp(), batch(1), batch(2)
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.3,
              perturbation="momentum")
    train(model, sam, [(x, y)])
    w = weights(model)
    v = {n: sam.state[p]["momentum_buffer"] for n, p in model.named_parameters()}
    nv = flat_norm(v)
    w_tilde = {n: w[n] - 0.3 * v[n] / (nv + 1e-12) for n in w}
    expected = grad(ce(model))(w_tilde, x2, y2)
    sam.backward(model, x2, y2, nn.CrossEntropyLoss())
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], **TOL)
    assert_weights(model, w)  # restored


def test_msam_adamw_equals_the_authors_step() -> None:
    """Without weight decay exactly; the decoupled decay is torch AdamW's (before the Adam update,
    the authors apply it after: they differ by lr * wd * (Adam step) per step)."""
    model, data = mlp(), batches()
    kw = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8}
    ref = authors_adamw_msam(copy.deepcopy(model), data, weight_decay=0.0, rho=0.5, **kw)
    sam = SAM(torch.optim.AdamW(model.parameters(), weight_decay=0.0, **kw), rho=0.5,
              perturbation="momentum")
    train(model, sam, data)
    assert_weights(model, ref)


def test_msam_adamw_weight_decay_within_the_order_difference() -> None:
    model, data = mlp(), batches()
    kw = {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-8}
    ref = authors_adamw_msam(copy.deepcopy(model), data, weight_decay=0.05, rho=0.5, **kw)
    sam = SAM(torch.optim.AdamW(model.parameters(), weight_decay=0.05, **kw), rho=0.5,
              perturbation="momentum")
    train(model, sam, data)
    # per step, per weight: |lr * wd * step| <= lr * wd * lr (an Adam step is at most ~lr)
    bound = STEPS * 1e-2 * 0.05 * 1e-2 * 1.5
    diff = max((p.detach() - ref[n]).abs().max().item() for n, p in model.named_parameters())
    assert 0 < diff <= bound


# --------------------------------------------------------------------- LookSAM: the paper's equations
def looksam_reference(model: nn.Module, data, k: int, alpha: float, rho: float, lr: float,
                      momentum: float) -> dict:
    """Liu et al. 2022, Algorithm 1: every k-th step (t % k == 0) g_s = grad L(w + rho g/||g||),
    g_v = g_s - (g.g_s / ||g||^2) g, update g_s; otherwise g + alpha (||g|| / ||g_v||) g_v; the
    update goes to SGD with momentum (buf = mu buf + u, w -= lr buf)."""
    loss = ce(model)
    w = weights(model)
    buf = {n: torch.zeros_like(t) for n, t in w.items()}
    gv = None
    for t, (x, y) in enumerate(data):
        g = grad(loss)(w, x, y)
        if t % k == 0:
            ng = flat_norm(g)
            gs = grad(loss)({n: w[n] + rho * g[n] / (ng + 1e-12) for n in w}, x, y)
            c = dot(g, gs) / ng ** 2
            gv = {n: gs[n] - c * g[n] for n in w}
            u = gs
        else:
            scale = alpha * flat_norm(g) / flat_norm(gv)
            u = {n: g[n] + scale * gv[n] for n in w}
        for n in w:
            buf[n] = momentum * buf[n] + u[n] if t else u[n].clone()
            w[n] = w[n] - lr * buf[n]
    return w


@pytest.mark.parametrize("k", [1, 3])
def test_looksam_equals_the_paper(k: int) -> None:
    model, data = mlp(), batches()
    ref = looksam_reference(copy.deepcopy(model), data, k=k, alpha=0.7, rho=0.3, lr=0.1,
                            momentum=0.9)
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.3,
              perturb_policy="looksam", perturb_every=k, looksam_alpha=0.7)
    flags = train(model, sam, data)
    assert_weights(model, ref)
    assert flags == [t % k == 0 for t in range(STEPS)]


# ---------------------------------------------------------------------- AE-SAM: the paper's equations
def aesam_reference(model: nn.Module, data, rho, lr, c_start, c_end, decay, total) -> tuple:
    """Jiang et al. 2023, Algorithm 1: s = ||g||^2; mu = d mu + (1-d) s; var = d var + (1-d)(s-mu)^2;
    SAM step iff s >= mu + c_t sqrt(var), c_t = c_start + (c_end - c_start) t/T; plain SGD."""
    loss = ce(model)
    w = weights(model)
    mu = var = 0.0
    flags = []
    for t, (x, y) in enumerate(data):
        g = grad(loss)(w, x, y)
        s = float(flat_norm(g) ** 2)
        mu = decay * mu + (1 - decay) * s
        var = decay * var + (1 - decay) * (s - mu) ** 2
        c = c_start + (c_end - c_start) * t / total
        sam_step = s >= mu + c * math.sqrt(var)
        if sam_step:
            ng = flat_norm(g)
            g = grad(loss)({n: w[n] + rho * g[n] / (ng + 1e-12) for n in w}, x, y)
        flags.append(sam_step)
        w = {n: w[n] - lr * g[n] for n in w}
    return w, flags, (mu, var)


def test_aesam_equals_the_paper() -> None:
    n = 30
    model, data = mlp(), batches(n)
    ref, ref_flags, (mu, var) = aesam_reference(copy.deepcopy(model), data, rho=0.3, lr=0.5,
                                                c_start=0.6, c_end=-0.6, decay=0.6, total=n)
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.5), rho=0.3, perturb_policy="aesam",
              aesam_c_start=0.6, aesam_c_end=-0.6, aesam_decay=0.6, total_steps=n)
    flags = train(model, sam, data)
    assert flags == ref_flags
    assert 5 < sum(flags) < n - 5  # the test sees both kinds of step, many times
    assert_weights(model, ref)
    state = sam.state_dict()["sam"]["policy"]
    assert (state["steps"], state["mu"], state["var"]) == (n, pytest.approx(mu, rel=1e-9),
                                                           pytest.approx(var, rel=1e-9))


# -------------------------------------------------------------------------- every k, with probability
def plain_or_sam(model: nn.Module, data, flags, rho: float, lr: float) -> dict:
    loss = ce(model)
    w = weights(model)
    for (x, y), sam_step in zip(data, flags, strict=True):
        g = grad(loss)(w, x, y)
        if sam_step:
            ng = flat_norm(g)
            g = grad(loss)({n: w[n] + rho * g[n] / (ng + 1e-12) for n in w}, x, y)
        w = {n: w[n] - lr * g[n] for n in w}
    return w


@pytest.mark.parametrize("policy", [{"perturb_policy": "every", "perturb_every": 3},
                                    {"perturb_policy": "prob", "perturb_prob": 0.5, "seed": 4}])
def test_skipped_steps_take_the_plain_gradient(policy: dict) -> None:
    model, data = mlp(), batches()
    probe = copy.deepcopy(model)
    sam = SAM(torch.optim.SGD(probe.parameters(), lr=0.5), rho=0.3, **policy)
    flags = train(probe, sam, data)
    if policy["perturb_policy"] == "every":
        assert flags == [t % 3 == 0 for t in range(STEPS)]
    assert True in flags and False in flags
    assert_weights(probe, plain_or_sam(model, data, flags, rho=0.3, lr=0.5))


def test_prob_draws_are_shared_by_workers_and_follow_p() -> None:
    from samtrain.optim.policy import StepPolicy

    def decisions(seed: int, n: int, **kw) -> list[bool]:
        policy = StepPolicy("prob", seed=seed, total_steps=n, **kw)
        out = []
        for _ in range(n):
            out.append(policy.planned())
            policy.advance()
        return out

    a, b = decisions(3, 2000, prob=0.3), decisions(3, 2000, prob=0.3)
    assert a == b and a != decisions(4, 2000, prob=0.3)
    share = sum(a) / len(a)  # binomial: sd = sqrt(0.3 * 0.7 / 2000) = 0.0102
    assert abs(share - 0.3) < 0.041
    ramp = decisions(3, 2000, prob=0.8, prob_schedule="linear")
    early, late = sum(ramp[:500]) / 500, sum(ramp[-500:]) / 500
    assert abs(early - 0.1) < 0.06 and abs(late - 0.7) < 0.09  # p_t = 0.8 t/T, means 0.1, 0.7


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [0.6, 0.6, 0.6]), ("linear", [0.2, 0.3, 0.4]),
    ("cosine", [0.2, 0.2 + 0.4 * (1 - math.cos(math.pi / 4)) / 2, 0.4])])
def test_prob_schedule(schedule: str, expected: list) -> None:
    """p_t = p_start + (p - p_start) f(t/T), f(u) = u or (1 - cos(pi u)) / 2; t/T = 0, 1/4, 1/2."""
    from samtrain.optim.policy import StepPolicy

    policy = StepPolicy("prob", prob=0.6, prob_schedule=schedule, prob_start=0.2, total_steps=4)
    got = []
    for _ in range(3):
        got.append(policy.prob_now())
        policy.advance()
    assert got == pytest.approx(expected)


# --------------------------------------------------------------------------- state and bad input
@pytest.mark.parametrize("kw", [
    {"perturb_policy": "looksam", "perturb_every": 3},
    {"perturb_policy": "aesam", "aesam_decay": 0.6, "total_steps": 8},
    {"perturb_policy": "prob", "perturb_prob_schedule": "linear", "total_steps": 8, "seed": 2},
])
def test_resume_continues_exactly(kw: dict) -> None:
    """3 steps, state_dict into a fresh SAM, 5 more = 8 uninterrupted steps."""
    model, data = mlp(), batches(8)
    whole = copy.deepcopy(model)
    train(whole, SAM(torch.optim.SGD(whole.parameters(), lr=0.3, momentum=0.9), rho=0.3, **kw),
          data)
    first = SAM(torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9), rho=0.3, **kw)
    train(model, first, data[:3])
    second = SAM(torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9), rho=0.3, **kw)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    train(model, second, data[3:])
    assert_weights(model, weights(whole))


@pytest.mark.parametrize("kw, msg", [
    ({"perturbation": "momentum", "perturb_policy": "every"}, "nothing to skip"),
    ({"perturbation": "momentum", "perturb_batch_size": 4}, "one for the whole batch"),
    ({"perturbation": "momentum", "adaptive": "before"}, "along the momentum"),
    ({"perturbation": "obf", "perturb_policy": "looksam"}, "needs perturbation 'ascent'"),
    ({"perturbation": "random", "perturb_policy": "aesam"}, "needs perturbation 'ascent'"),
    ({"perturb_policy": "aesam", "perturb_batch_size": 4}, "m-sharpness"),
    ({"perturb_policy": "prob", "perturb_prob_schedule": "linear"}, "needs total_steps"),
    ({"perturb_every": 0}, "perturb_every=0 is invalid"),
])
def test_invalid_combinations(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        SAM(torch.optim.SGD(mlp().parameters(), lr=0.1, momentum=0.9), **kw)


def test_msam_refuses_sgd_without_momentum() -> None:
    with pytest.raises(ValueError, match="momentum > 0"):
        SAM(torch.optim.SGD(mlp().parameters(), lr=0.1), perturbation="momentum")
