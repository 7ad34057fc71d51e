"""Shared fixtures and builders: one local Ray instance, fake sweep records."""

import os
import tempfile

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# this session's Ray clusters (in-process and in `sweep` subprocesses) keep their session files and
# address file apart: a plain ray.init() never joins a cluster someone else started on the machine
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="samsweep-ray-", dir="/tmp"))
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def make_record():
    """The builder below, for tests of selection and reports."""
    return _make_record


def _make_record(method: str, phase: str, status: str, seed: int, config: dict, final: dict,
                start: int, epochs: int = 3, reached: int | None = None):
    """A `RunRecord` as the MLflow reader builds it: params of the full TrainConfig, the final
    metrics at epoch `reached` (default: all `epochs`), a history rising to them."""
    from samtrain.config import TrainConfig
    from sweeps.store.reader import RunRecord

    cfg = TrainConfig(dataset="digits", epochs=epochs, seed=seed, **config)
    reached = epochs if reached is None else reached
    history = [{"epoch": float(e), **{k: v - 0.01 * (reached - e) for k, v in final.items()}}
               for e in range(1, reached + 1)]
    return RunRecord(
        run_id=f"run-{start}", method=method, phase=phase, status=status, group_key=cfg.group_key(),
        seed=seed, params=cfg.model_dump(), final={"epoch": float(reached), **final},
        history=history, device_seconds=2.0 * reached,
        grad_evals=(100.0 if config.get("perturbation") == "none" else 200.0) * reached,
        trial_id=f"t{start}", start_time=start)


# ---------------------------------------------------------------- SAM optimizer test helpers
# Small float64 models and batches shared by tests/test_optim_*.py (import them from conftest).

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


@pytest.fixture
def fresh_path_decisions():
    """The process's cached m-sharpness path decisions cleared before and after a test."""
    from samtrain.optim import path_choice

    path_choice.clear_decisions()
    yield
    path_choice.clear_decisions()
