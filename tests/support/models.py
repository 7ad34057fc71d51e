"""Small float64 models and batches shared by the optimizer tests (tests/samtrain/optim/)."""

from __future__ import annotations

B, D, K = 12, 5, 4          # batch, MLP input width, classes
SAME_TOL = {"rtol": 1e-9, "atol": 1e-11}


def mlp(seed: int = 0, bn: bool = False):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = [nn.Linear(D, 8)] + ([nn.BatchNorm1d(8, momentum=0.3)] if bn else [])
    return nn.Sequential(*layers, nn.Tanh(), nn.Linear(8, K)).double()


def batch(seed: int = 1, n: int = B):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, generator=g, dtype=torch.float64), torch.randint(0, K, (n,), generator=g)


def cnn(seed: int = 0, dtype=None, momentum: float | None = 0.3):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 5)).to(dtype or torch.float64)


def images(n: int = B, seed: int = 1, dtype=None):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 8, 8, generator=g).to(dtype or torch.float64)
    return x, torch.randint(0, 5, (n,), generator=g)


def run_sam(model, x, y, base_kwargs: dict | None = None, **kw):
    """One `SAM.backward` on `(x, y)`: returns (sam, its output, the gradients by name)."""
    import torch
    from torch import nn

    from samtrain.optim import SAM

    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, **(base_kwargs or {})), **kw)
    out = sam.backward(model, x, y, nn.CrossEntropyLoss())
    return sam, out, {n: p.grad.clone() for n, p in model.named_parameters()}


def sgd_sam(model, **kw):
    import torch

    from samtrain.optim import SAM

    return SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), **{"rho": 0.3, **kw})


def state(model) -> dict:
    """Gradients and buffers, by name."""
    out = {f"grad:{n}": p.grad.clone() for n, p in model.named_parameters()}
    out.update({f"buf:{n}": b.clone() for n, b in model.named_buffers()})
    return out


def assert_same(a: dict, b: dict, **tol) -> None:
    import torch

    assert a.keys() == b.keys()
    for n in a:
        torch.testing.assert_close(a[n], b[n], **(tol or SAME_TOL), msg=n, check_dtype=False)
