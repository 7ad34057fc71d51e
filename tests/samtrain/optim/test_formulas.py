"""Every SAM-family formula against an independent computation: torch.func on a parameter dict,
written from the formulas (no samtrain.optim code), in float64.

Per chunk c of m examples (SAM: Foret et al. 2021, arXiv 2010.01412; ASAM: Kwon et al. 2021, arXiv
2102.11600; GSAM: Zhuang et al. 2022, arXiv 2203.08065; OBF, RandSAM: Vani et al. 2024, arXiv
2406.06700, whose public code BorealisAI/perturbed-forgetting combines them this way):
    g = grad L_pert(w; c);  ASAM "before"/"both": g <- |w| g;  d = g / (||g|| + 1e-12)
    ASAM "after"/"both": d <- |w| d;  w_hat = w + rho d;  h = grad L(w_hat; c)
    GSAM: h <- h - alpha (o - (o . h_u) h_u), h_u = h / ||h||, o = g (as ASAM left it) or d when
    backup_normalized;  the SAM gradient is mean_c h.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vjp

from samtrain.optim import SAM, OutputBiasForget
from tests.support.models import B, batch, mlp, run_sam

torch.set_num_threads(1)
TOL = {"rtol": 1e-9, "atol": 1e-12}


# ---------------------------------------------------------------- the reference, from the formulas
def obf_logit_grad(z: torch.Tensor, y: torch.Tensor, C: float, gamma: float, sigmoid: bool):
    """(u - alpha p - (1 - alpha) y) / N with alpha = gamma max(0, (1 - lam/p_y)/(1 - lam))."""
    n, k = z.shape
    p = torch.sigmoid(z) if sigmoid else torch.softmax(z, -1)
    onehot = F.one_hot(y, k).to(z.dtype)
    if C < 0:
        alpha = torch.full((n, 1), gamma, dtype=z.dtype)
    else:
        lam = 1 / C
        alpha = gamma * torch.clamp((1 - lam / p.gather(1, y[:, None])) / (1 - lam), min=0)
    return (1 / k - alpha * p - (1 - alpha) * onehot) / n


def reference(model: nn.Module, x, y, rho=0.3, perturbation="ascent", m=None, adaptive=None,
              gsam_alpha=0.0, backup_normalized=False, obf_C=-1.0, obf_gamma=1.0,
              obf_sigmoid=True, gsam_raw_o=False):
    """(mean SAM gradient dict, clean loss, perturbed loss, logits at each chunk's w_hat) for a
    model without running stats. `gsam_raw_o`: GSAM's o is the gradient before ASAM's |w| scaling
    (a wrong variant, for tests that must tell the two apart)."""
    w = {n: p.detach() for n, p in model.named_parameters()}

    def logits(ps, xc):
        return functional_call(model, ps, (xc,))

    def ce(ps, xc, yc):
        return F.cross_entropy(logits(ps, xc), yc)

    m = m or len(x)
    hs, losses, plosses, plogits = [], [], [], []
    for xc, yc in zip(x.split(m), y.split(m), strict=True):
        losses.append(ce(w, xc, yc))
        if perturbation == "ascent":
            g = grad(ce)(w, xc, yc)
        else:  # obf: g = J^T (d surrogate / d logits)
            z, pullback = vjp(lambda ps, xc=xc: logits(ps, xc), w)
            g = pullback(obf_logit_grad(z, yc, obf_C, obf_gamma, obf_sigmoid))[0]
        gt = {n: w[n].abs() * g[n] for n in w} if adaptive in ("before", "both") else g
        norm = math.sqrt(sum(float((v**2).sum()) for v in gt.values()))
        d = {n: gt[n] / (norm + 1e-12) for n in w}
        if adaptive in ("after", "both"):
            d = {n: w[n].abs() * d[n] for n in w}
        w_hat = {n: w[n] + rho * d[n] for n in w}
        h = grad(ce)(w_hat, xc, yc)
        plosses.append(ce(w_hat, xc, yc))
        plogits.append(logits(w_hat, xc))
        if gsam_alpha > 0:
            o = d if backup_normalized else (g if gsam_raw_o else gt)
            hn = math.sqrt(sum(float((v**2).sum()) for v in h.values()))
            hu = {n: h[n] / hn for n in w}
            proj = sum(float((o[n] * hu[n]).sum()) for n in w)
            h = {n: h[n] - gsam_alpha * (o[n] - proj * hu[n]) for n in w}
        hs.append(h)
    mean = {n: sum(h[n] for h in hs) / len(hs) for n in w}
    return mean, torch.stack(losses).mean(), torch.stack(plosses).mean(), torch.cat(plogits).detach()


def assert_grads(got: dict, want: dict, **tol) -> None:
    for n in want:
        torch.testing.assert_close(got[n], want[n], **(tol or TOL), msg=f"parameter {n}")


CASES = {
    "sam": {},
    "sam_m3": {"m": 3},
    "sam_m2": {"m": 2},
    "obf_C<0": {"perturbation": "obf", "obf_gamma": 0.7},
    "obf_C>1_sigmoid": {"perturbation": "obf", "obf_C": 4.0, "obf_gamma": 0.9},
    "obf_C>1_softmax": {"perturbation": "obf", "obf_C": 4.0, "obf_sigmoid": False},
    "obf_C<0_softmax_m4": {"perturbation": "obf", "obf_sigmoid": False, "m": 4},
    "gsam": {"gsam_alpha": 0.4},
    "gsam_backup_normalized": {"gsam_alpha": 0.4, "backup_normalized": True},
    "asam_before": {"adaptive": "before", "rho": 1.0},
    "asam_after": {"adaptive": "after", "rho": 1.0},
    "asam_both": {"adaptive": "both", "rho": 2.0},
    "gsam_obf": {"perturbation": "obf", "obf_C": 4.0, "gsam_alpha": 0.3},
    "asam_obf": {"perturbation": "obf", "obf_C": 4.0, "adaptive": "before", "rho": 1.0},
    "gsam_asam_m3": {"adaptive": "both", "rho": 1.0, "gsam_alpha": 0.3, "m": 3},
    "gsam_bn_asam_obf": {"perturbation": "obf", "adaptive": "after", "rho": 1.0,
                         "gsam_alpha": 0.3, "backup_normalized": True},
}


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_sam_gradient_matches_formula(case: str, batched: bool) -> None:
    kw = {"rho": 0.3, **CASES[case]}
    m = kw.pop("m", None)
    x, y = batch()
    model = mlp()
    want, loss, ploss, plogits = reference(model, x, y, m=m, **kw)
    sam, out, got = run_sam(model, x, y, perturb_batch_size=m, batched=batched, **kw)
    assert_grads(got, want)
    torch.testing.assert_close(out.loss, loss, **TOL)
    torch.testing.assert_close(out.perturb_loss, ploss, **TOL)
    torch.testing.assert_close(out.logits, model(x).detach(), **TOL)
    torch.testing.assert_close(out.perturb_logits, plogits, **TOL)  # per chunk at its own w_hat
    assert float((out.perturb_logits - out.logits).abs().max()) > 1e-3
    # the test can fail: the SAM gradient is far from the clean gradient
    clean = grad(lambda ps: F.cross_entropy(functional_call(model, ps, (x,)), y))(
        {n: p.detach() for n, p in model.named_parameters()})
    assert max(float((got[n] - clean[n]).abs().max()) for n in clean) > 1e-3


@pytest.mark.parametrize("batched", [False, True])
def test_m_sharpness_is_the_mean_of_per_chunk_sam(batched: bool) -> None:
    x, y = batch()
    *_, got = run_sam(mlp(), x, y, rho=0.3, perturb_batch_size=4, batched=batched)
    per_chunk = [run_sam(mlp(), xc, yc, rho=0.3)[2] for xc, yc in zip(x.split(4), y.split(4), strict=True)]
    assert_grads(got, {n: sum(g[n] for g in per_chunk) / 3 for n in got})
    whole = run_sam(mlp(), x, y, rho=0.3)[2]
    assert max(float((got[n] - whole[n]).abs().max()) for n in got) > 1e-4


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("backup_normalized", [False, True])
@pytest.mark.parametrize("adaptive", [None, "before", "after", "both"])
def test_gsam_decomposes_the_gradient_as_asam_left_it(adaptive, backup_normalized, batched) -> None:
    """GSAM's o is |w| g after ASAM "before"/"both" (the raw g otherwise), d if backup_normalized."""
    x, y = batch()
    kw = {"adaptive": adaptive, "rho": 1.0, "gsam_alpha": 0.5, "backup_normalized": backup_normalized}
    *_, got = run_sam(mlp(), x, y, perturb_batch_size=4, batched=batched, **kw)
    assert_grads(got, reference(mlp(), x, y, m=4, **kw)[0])
    raw = reference(mlp(), x, y, m=4, gsam_raw_o=True, **kw)[0]
    gap = max(float((got[n] - raw[n]).abs().max()) for n in got)
    if adaptive in ("before", "both") and not backup_normalized:  # the two o's differ materially
        assert gap > 1e-3
    else:
        assert gap < 1e-12


def test_gsam_correction_is_orthogonal_to_h() -> None:
    x, y = batch()
    plain = reference(mlp(), x, y)[0]
    *_, got = run_sam(mlp(), x, y, rho=0.3, gsam_alpha=0.8)
    hu = {n: plain[n] / math.sqrt(sum(float((v**2).sum()) for v in plain.values())) for n in plain}
    along = [sum(float((t[n] * hu[n]).sum()) for n in hu) for t in (plain, got)]
    assert along[0] == pytest.approx(along[1], rel=1e-10)
    assert max(float((got[n] - plain[n]).abs().max()) for n in got) > 1e-3


# ---------------------------------------------------------------- OBF loss
def obf_loop(z: torch.Tensor, y: torch.Tensor, C: float, gamma: float, sigmoid: bool):
    """The OBF logit gradient element by element, in plain Python floats."""
    n, k = z.shape
    out = torch.zeros(n, k, dtype=torch.float64)
    for i in range(n):
        row = [float(v) for v in z[i]]
        if sigmoid:
            p = [1 / (1 + math.exp(-v)) for v in row]
        else:
            s = sum(math.exp(v) for v in row)
            p = [math.exp(v) / s for v in row]
        py = p[int(y[i])]
        alpha = gamma if C < 0 else gamma * max(0.0, (1 - 1 / (C * py)) / (1 - 1 / C))
        for j in range(k):
            out[i, j] = (1 / k - alpha * p[j] - (1 - alpha) * (j == int(y[i]))) / n
    return out


@pytest.mark.parametrize("C,gamma", [(-1.0, 1.0), (-1.0, 0.3), (1.5, 1.0), (10.0, 0.6), (1e3, 1e-12)])
@pytest.mark.parametrize("sigmoid", [True, False])
def test_obf_logit_gradient_matches_formula(C: float, gamma: float, sigmoid: bool) -> None:
    g = torch.Generator().manual_seed(3)
    z = (3 * torch.randn(7, 5, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, 5, (7,), generator=g)
    OutputBiasForget(C, gamma, sigmoid)(z, y).backward()
    want = obf_loop(z.detach(), y, C, gamma, sigmoid)
    torch.testing.assert_close(z.grad, want, **TOL)
    if 1 < C < 100:  # the inputs exercise both branches of max(0, .)
        p = torch.sigmoid(z) if sigmoid else torch.softmax(z, -1)
        raw = (1 - 1 / (C * p.detach().gather(1, y[:, None]))) / (1 - 1 / C)
        assert (raw < 0).any() and (raw > 0).any()


def test_obf_alpha_clamps_at_zero_for_low_target_probability() -> None:
    # p_y = sigmoid(-5) < 1/C = 0.5: alpha = 0, the direction is (u - y)/N
    z, y = torch.tensor([[-5.0, 0.0]], requires_grad=True), torch.tensor([0])
    OutputBiasForget(C=2.0, gamma=1.0)(z, y).backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.5 - 1.0, 0.5]]))
    # C < 0, gamma = 1: alpha = 1, the direction is u - p
    z2 = torch.tensor([[1.0, -1.0]], requires_grad=True)
    OutputBiasForget(C=-1.0, gamma=1.0)(z2, y).backward()
    torch.testing.assert_close(z2.grad, 0.5 - torch.sigmoid(z2.detach()))


def test_obf_soft_targets_equal_one_hot() -> None:
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    obf = OutputBiasForget(C=5.0, gamma=0.8, sigmoid=False)
    torch.testing.assert_close(obf.direction(z, y), obf.direction(z, F.one_hot(y, 3).float()))


# ---------------------------------------------------------------- RandSAM
class Recorder:
    """Records the weights seen by each forward and whether autograd was on; counts backwards."""

    def __init__(self, model: nn.Module) -> None:
        self.weights: list[list[torch.Tensor]] = []
        self.grad_enabled: list[bool] = []
        self.backwards = 0
        model.register_forward_pre_hook(self._pre)
        next(model.parameters()).register_hook(self._bwd)

    def _pre(self, module: nn.Module, args) -> None:
        self.weights.append([p.detach().clone() for p in module.parameters()])
        self.grad_enabled.append(torch.is_grad_enabled())

    def _bwd(self, g: torch.Tensor) -> None:
        self.backwards += 1


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("m", [None, 4])
def test_randsam_gaussian_direction_norm_rho_and_forward_only(m: int | None, batched: bool) -> None:
    x, y = batch()
    model = mlp()
    w = [p.detach().clone() for p in model.parameters()]
    k = B // (m or B)
    if not batched:
        rec = Recorder(model)
    torch.manual_seed(7)
    sam, out, got = run_sam(model, x, y, rho=0.3, perturbation="random", perturb_batch_size=m,
                            batched=batched)
    if not batched:
        calls, backwards, seen = list(rec.grad_enabled), rec.backwards, list(rec.weights)
    torch.manual_seed(7)
    noise = [[torch.randn_like(p) for p in w] for _ in range(k)]
    want = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for c, (xc, yc) in enumerate(zip(x.split(m or B), y.split(m or B), strict=True)):
        norm = math.sqrt(sum(float((e**2).sum()) for e in noise[c]))
        w_hat = {n: wi + 0.3 * e / norm for (n, _), wi, e in
                 zip(model.named_parameters(), w, noise[c], strict=True)}
        assert math.sqrt(sum(float(((w_hat[n] - wi) ** 2).sum()) for n, wi in
                             zip(w_hat, w, strict=True))) == pytest.approx(0.3, rel=1e-12)
        h = grad(lambda ps, xc=xc, yc=yc: F.cross_entropy(functional_call(model, ps, (xc,)), yc))(w_hat)
        for n in want:
            want[n] += h[n] / k
        torch.testing.assert_close(out.perturb_logits[c * (m or B):(c + 1) * (m or B)],
                                   functional_call(model, w_hat, (xc,)).detach(), **TOL)
    assert_grads(got, want)
    torch.testing.assert_close(out.loss, F.cross_entropy(model(x), y).detach(), **TOL)
    if not batched:  # per chunk: a forward without autograd at w, then forward+backward at w_hat
        assert calls == [False, True] * k
        assert backwards == k
        for c in range(k):
            assert all(torch.equal(a, b) for a, b in zip(seen[2 * c], w, strict=True))
            dist = sum(float(((a - b) ** 2).sum()) for a, b in zip(seen[2 * c + 1], w, strict=True))
            assert math.sqrt(dist) == pytest.approx(0.3, rel=1e-9)


def test_ascent_does_two_backwards_per_chunk() -> None:
    x, y = batch()
    model = mlp()
    rec = Recorder(model)
    run_sam(model, x, y, perturb_batch_size=6, batched=False)
    assert rec.grad_enabled == [True, True] * 2 and rec.backwards == 4
    assert all(torch.equal(a, b) for a, b in zip(rec.weights[2], rec.weights[0], strict=True))


# ---------------------------------------------------------------- rho schedule
@pytest.mark.parametrize("lr_max,lr_min,scheduler,lr_now,want_rho", [
    (None, 0.0, True, 0.05, 0.02 + (0.3 - 0.02) * 0.5),     # lr_max = initial_lr = 0.1
    (None, 0.0, False, 0.025, 0.02 + (0.3 - 0.02) * 0.25),  # lr_max = lr at construction
    (0.2, 0.01, False, 0.1, 0.02 + (0.3 - 0.02) * (0.09 / 0.19)),
    (0.2, 0.05, False, 0.0, 0.0),                            # clamped at 0
    (None, 0.0, True, 2.5, 0.3),                             # lr above lr_max: clamped at rho
])
def test_lr_prop_rho(lr_max, lr_min, scheduler, lr_now, want_rho) -> None:
    x, y = batch()
    model = mlp()
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    sam = SAM(base, rho=0.3, rho_policy="lr_prop", rho_min=0.02, lr_max=lr_max, lr_min=lr_min)
    if scheduler:
        torch.optim.lr_scheduler.LambdaLR(base, lambda step: 1.0)
    for group in base.param_groups:
        group["lr"] = lr_now
    sam.backward(model, x, y, nn.CrossEntropyLoss())
    assert sam.rho_t == pytest.approx(want_rho, rel=1e-12)
    assert_grads({n: p.grad for n, p in model.named_parameters()},
                 reference(copy.deepcopy(model), x, y, rho=want_rho)[0])
