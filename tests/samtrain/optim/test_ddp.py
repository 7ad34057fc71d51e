"""SAM under DistributedDataParallel: two gloo processes on CPU give the average of the
single-process SAM gradients of their own data (each worker perturbs with its own gradient), with
exactly one all-reduce per backward."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from samtrain.optim import SAM, path_choice
from tests.support.models import batch, mlp

WORLD = 2
CASES = {
    "sam": {"rho": 0.3, "batched": False},
    "m3_obf_gsam": {"rho": 0.3, "perturb_batch_size": 3, "perturbation": "obf", "obf_C": 4.0,
                    "gsam_alpha": 0.2, "batched": False},
    "m3_batched": {"rho": 0.3, "perturb_batch_size": 3, "adaptive": "before", "batched": True},
    "m3_auto": {"rho": 0.3, "perturb_batch_size": 3},
}


def sam_grads(model: nn.Module, x, y, kw: dict) -> tuple[dict, float, dict | None]:
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1), **kw)
    out = sam.backward(model, x, y, nn.CrossEntropyLoss())
    module = model.module if isinstance(model, DistributedDataParallel) else model
    return {n: p.grad.clone() for n, p in module.named_parameters()}, float(out.loss), sam.msharp_choice


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    calls = []
    real = dist.all_reduce

    def counting(*args, **kwargs):
        calls.append(args[0].numel())
        return real(*args, **kwargs)

    dist.all_reduce = counting
    results = {}
    try:
        x, y = batch(seed=10 + rank)
        for name, kw in CASES.items():
            model = DistributedDataParallel(mlp(bn=True))
            syncs: list[bool] = []  # DDP's gradient-sync flag at every forward
            model.module.register_forward_pre_hook(
                lambda *_, m=model, s=syncs: s.append(m.require_backward_grad_sync))
            n0 = len(calls)
            grads, loss, msharp = sam_grads(model, x, y, kw)
            results[name] = {"grads": grads, "loss": loss, "all_reduce": calls[n0:], "syncs": syncs,
                             "msharp": msharp, "probes": len(path_choice.DECISIONS),
                             "buffers": {n: b.clone() for n, b in model.module.named_buffers()}}
    finally:
        dist.all_reduce = real
        dist.destroy_process_group()
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_equals_average_of_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    n_params = sum(p.numel() for p in mlp(bn=True).parameters())
    for name, kw in CASES.items():
        single = [sam_grads(mlp(bn=True), *batch(seed=10 + r), kw) for r in range(WORLD)]
        want = {n: sum(g[n] for g, *_ in single) / WORLD for n in single[0][0]}
        own = single[0][0]  # a worker's own SAM gradient differs from the average
        assert max(float((own[n] - want[n]).abs().max()) for n in want) > 1e-3
        for r, res in enumerate(ranks):
            assert res[name]["all_reduce"] == [n_params], (name, r)  # once, one flat buffer
            assert len(res[name]["syncs"]) >= 2 and not any(res[name]["syncs"])  # under no_sync
            for n, g in want.items():
                torch.testing.assert_close(res[name]["grads"][n], g, rtol=1e-9, atol=1e-12,
                                           msg=f"{name} rank {r} {n}")
            # single-process "auto" probes the batched path first: same loss up to summation order
            assert res[name]["loss"] == pytest.approx(single[r][1], rel=1e-14)
            # under DDP "auto" takes the loop without probing (workers must take the same path)
            assert res[name]["msharp"] is None and res[name]["probes"] == 0
        # rank 0's running statistics are its own clean passes (DDP broadcasts rank 0's buffers)
        model0 = mlp(bn=True)
        sam_grads(model0, *batch(seed=10), kw)
        for n, b in model0.named_buffers():
            torch.testing.assert_close(ranks[0][name]["buffers"][n], b, rtol=1e-12, atol=0)
