"""The efficient variants under DistributedDataParallel (two gloo processes on CPU, each with its
own data): every worker makes the same perturb/skip decision (AE-SAM's on the workers' mean
||g||^2, "prob" from the shared seeded draw), counts the same gradient evaluations and ends with
the same weights; Momentum-SAM equals one process on the union of the workers' batches."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from samtrain.optim import SAM
from tests.samtrain.optim.test_ddp import free_port
from tests.support.models import batch, mlp

WORLD, STEPS = 2, 6
CASES = {
    "looksam": {"perturb_policy": "looksam", "perturb_every": 2},
    "aesam": {"perturb_policy": "aesam", "aesam_c_start": 0.5, "aesam_c_end": 0.5,
              "aesam_decay": 0.5},
    "prob": {"perturb_policy": "prob", "perturb_prob": 0.5, "seed": 3},
    "momentum": {"perturbation": "momentum"},
}


def _train(model: nn.Module, kw: dict, data) -> tuple[list, list]:
    sam = SAM(torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9), rho=0.3, **kw)
    flags, evals = [], []
    for x, y in data:
        sam.backward(model, x, y, nn.CrossEntropyLoss())
        sam.step()
        sam.zero_grad()
        flags.append(sam.last_step.perturbed)
        evals.append(sam.last_step.grad_evals)
    return flags, evals


def _data(rank: int):
    return [batch(seed=100 * rank + t) for t in range(STEPS)]


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    results = {}
    try:
        for name, kw in CASES.items():
            model = DistributedDataParallel(mlp())
            flags, evals = _train(model, kw, _data(rank))
            results[name] = {"flags": flags, "evals": evals,
                             "weights": {n: p.detach().clone()
                                         for n, p in model.module.named_parameters()}}
    finally:
        dist.destroy_process_group()
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")


def test_workers_agree_and_match_the_single_process_formulas(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for name in CASES:
        a, b = ranks[0][name], ranks[1][name]
        assert a["flags"] == b["flags"] and a["evals"] == b["evals"], name
        for n in a["weights"]:
            torch.testing.assert_close(a["weights"][n], b["weights"][n], rtol=0, atol=0)
    assert True in ranks[0]["aesam"]["flags"] and False in ranks[0]["aesam"]["flags"]
    alone = [_train(mlp(), CASES["aesam"], _data(r))[0] for r in range(WORLD)]
    assert alone[0] != alone[1]  # on their own data alone the workers would disagree
    assert ranks[0]["looksam"]["evals"] == [2.0, 1.0] * (STEPS // 2)
    # Momentum-SAM: one process on the union of both workers' batches is the same update (the
    # mean loss over 2B examples = the mean of the two workers' means; no batch-dependent state)
    model = mlp()
    union = [(torch.cat([x0, x1]), torch.cat([y0, y1]))
             for (x0, y0), (x1, y1) in zip(_data(0), _data(1), strict=True)]
    _train(model, CASES["momentum"], union)
    for n, p in model.named_parameters():
        torch.testing.assert_close(ranks[0]["momentum"]["weights"][n], p.detach(), rtol=1e-9,
                                   atol=1e-12)
