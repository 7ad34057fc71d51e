"""Epoch accumulators of samtrain.diagnostics: ForgettingTracker and PerturbedAccumulator, on
hand-counted cases, their DDP merge (threads standing in for workers, and two gloo processes),
and exact resumption from a state_dict."""

from __future__ import annotations

import datetime
import io
import math
import threading

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from samtrain.diagnostics import (
    ForgettingTracker,
    PerturbedAccumulator,
    all_reduce_fn,
    measure_sharpness,
    perturbed_sums,
)

# Correctness at each presentation, per example (rows) and epoch (columns); None = not presented.
#   ex0: learned, forgotten at e1 and e3        ex3: skipped e1; e2 compared with e0 -> event
#   ex1: always correct (unforgettable)         ex4: learned at e1, skipped e2, still correct
#   ex2: never learned                          ex5: first presented at e2, forgotten at e3
SEQ = [[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, None, 0, 1], [0, 1, None, 1], [None, None, 1, 0]]
# Hand-counted per epoch: (forget_events, ever_forgotten, unforgettable, clean_fit)
EXPECTED = [(0, 0 / 6, 3 / 6, 3 / 5), (1, 1 / 6, 3 / 6, 2 / 4), (1, 2 / 6, 3 / 6, 3 / 5),
            (2, 3 / 6, 2 / 6, 3 / 6)]
N = len(SEQ)


def presentations(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, correct) of one epoch, in a shuffled order."""
    idx = [i for i in range(N) if SEQ[i][epoch] is not None]
    perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(epoch))
    idx_t = torch.tensor(idx)[perm]
    return idx_t, torch.tensor([bool(SEQ[i][epoch]) for i in idx_t.tolist()])


def run_epoch(t: ForgettingTracker, epoch: int, batch: int = 2) -> dict[str, float]:
    idx, cor = presentations(epoch)
    for i, c in zip(idx.split(batch), cor.split(batch), strict=True):
        t.record(i, c)
    return t.end_epoch()


def as_tuple(m: dict[str, float]) -> tuple[float, float, float, float]:
    return m["forget_events"], m["ever_forgotten"], m["unforgettable"], m["clean_fit"]


def test_forgetting_hand_counted_sequence() -> None:
    t = ForgettingTracker(N, "cpu")
    for epoch, expected in enumerate(EXPECTED):
        got = run_epoch(t, epoch)
        assert "noisy_fit" not in got
        assert as_tuple(got) == pytest.approx(expected), epoch
    assert t.forget_counts.tolist() == [2, 0, 0, 1, 0, 1]
    assert t.learned.tolist() == [True, True, False, True, True, True]


def test_forgetting_repeated_presentation_counts_once_correct_if_any() -> None:
    t = ForgettingTracker(2, "cpu")
    t.record(torch.tensor([0, 1]), torch.tensor([True, True]))
    t.end_epoch()
    # ex0 presented twice (wrong, then correct), also twice within one batch for ex1 (wrong, wrong)
    t.record(torch.tensor([0, 1, 1]), torch.tensor([False, False, False]))
    t.record(torch.tensor([0]), torch.tensor([True]))
    m = t.end_epoch()
    assert m["forget_events"] == 1.0 and m["clean_fit"] == 0.5
    assert t.forget_counts.tolist() == [0, 1]


def test_forgetting_empty_epoch_keeps_state() -> None:
    t = ForgettingTracker(3, "cpu")
    t.record(torch.tensor([0, 1]), torch.tensor([True, False]))
    t.end_epoch()
    m = t.end_epoch()
    assert math.isnan(m["clean_fit"]) and m["forget_events"] == 0.0
    t.record(torch.tensor([0]), torch.tensor([False]))  # compared with the presentation 2 epochs ago
    assert t.end_epoch()["forget_events"] == 1.0


def test_forgetting_noisy_and_clean_fit() -> None:
    flipped = torch.tensor([True, True, True, False, False, False, False])
    t = ForgettingTracker(7, "cpu", flipped=flipped)
    # ex2 (flipped) and ex6 (clean) not presented; flipped fit: ex0 yes, ex1 no -> 1/2;
    # clean fit: ex3 yes, ex4 yes, ex5 no -> 2/3
    t.record(torch.tensor([4, 0, 3]), torch.tensor([True, True, True]))
    t.record(torch.tensor([1, 5]), torch.tensor([False, False]))
    m = t.end_epoch()
    assert m["noisy_fit"] == pytest.approx(1 / 2) and m["clean_fit"] == pytest.approx(2 / 3)
    no_noise = ForgettingTracker(7, "cpu", flipped=torch.zeros(7, dtype=torch.bool))
    no_noise.record(torch.tensor([4, 0, 3, 1, 5]), torch.tensor([True, True, True, False, False]))
    m = no_noise.end_epoch()
    assert "noisy_fit" not in m and m["clean_fit"] == pytest.approx(3 / 5)


def thread_all_reduce(world: int, op: str) -> list:
    """One in-place all-reduce callable per simulated worker (threads meeting at a barrier)."""
    barrier, slots = threading.Barrier(world), [None] * world

    def make(rank: int):
        def reduce(t: torch.Tensor) -> None:
            slots[rank] = t.clone()
            barrier.wait()
            stacked = torch.stack(slots)
            t.copy_(stacked.amax(0) if op == "max" else stacked.sum(0))
            barrier.wait()
        return reduce
    return [make(r) for r in range(world)]


def run_workers(objs: list, feeds: list, op: str) -> list[dict[str, float]]:
    """Each worker records its feed (list of record() argument tuples), then all end the epoch."""
    reducers, out = thread_all_reduce(len(objs), op), [None] * len(objs)

    def work(rank: int) -> None:
        for args in feeds[rank]:
            objs[rank].record(*args)
        out[rank] = objs[rank].end_epoch(reducers[rank])
    threads = [threading.Thread(target=work, args=(r,)) for r in range(len(objs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    return out


def test_forgetting_two_workers_equal_one() -> None:
    flipped = torch.tensor([False, True, False, False, True, False])
    single = ForgettingTracker(N, "cpu", flipped=flipped)
    workers = [ForgettingTracker(N, "cpu", flipped=flipped) for _ in range(2)]
    for epoch in range(len(EXPECTED)):
        idx, cor = presentations(epoch)
        single.record(idx, cor)
        expected = single.end_epoch()
        # disjoint shards, plus rank 1 repeating rank 0's first example (DistributedSampler padding)
        feeds = [[(idx[::2], cor[::2])], [(idx[1::2], cor[1::2]), (idx[:1], cor[:1])]]
        got = run_workers(workers, feeds, ForgettingTracker.REDUCE_OP)
        assert got[0] == expected and got[1] == expected, epoch
    for w in workers:
        assert torch.equal(w.forget_counts, single.forget_counts)


def test_forgetting_state_dict_resume_mid_epoch() -> None:
    full = ForgettingTracker(N, "cpu")
    expected = [run_epoch(full, e) for e in range(len(EXPECTED))]
    first = ForgettingTracker(N, "cpu")
    run_epoch(first, 0)
    run_epoch(first, 1)
    idx, cor = presentations(2)
    first.record(idx[:2], cor[:2])  # interrupted two examples into epoch 2
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = ForgettingTracker(N, "cpu")
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    resumed.record(idx[2:], cor[2:])
    assert resumed.end_epoch() == expected[2]
    assert run_epoch(resumed, 3) == expected[3]
    with pytest.raises(ValueError):
        ForgettingTracker(N + 1, "cpu").load_state_dict(first.state_dict())


# ---- perturbed predictions ----

def reference_kl(clean: torch.Tensor, pert: torch.Tensor) -> torch.Tensor:
    """Per-example KL(p || q) in float64 straight from the definition."""
    p = clean.double().exp() / clean.double().exp().sum(1, keepdim=True)
    q = pert.double().exp() / pert.double().exp().sum(1, keepdim=True)
    return (p * (p.log() - q.log())).sum(1)


def test_perturbed_flip_counts_and_kl() -> None:
    y = torch.tensor([0, 1, 2, 0, 1])
    clean = torch.tensor([[3.0, 1, 0], [0, 2, 1], [1, 0, 0.5], [2, 0, 0], [0, 1, 0]])
    # ex0 correct->wrong, ex1 correct->correct, ex2 wrong->wrong, ex3 correct->wrong,
    # ex4 correct (1 > 0) -> wrong; 3 flips out of 5
    pert = torch.tensor([[0.0, 1, 0], [0, 3, 1], [2, 0, 0.5], [0, 0, 0.5], [1, 0, 0]])
    acc = PerturbedAccumulator("cpu")
    acc.record(clean[:2], pert[:2], y[:2])
    acc.record(clean[2:], pert[2:], y[2:])
    m = acc.end_epoch()
    assert m["perturbed_flip"] == pytest.approx(3 / 5)
    assert m["perturbed_kl"] == pytest.approx(float(reference_kl(clean, pert).mean()), rel=1e-6)
    assert math.isnan(acc.end_epoch()["perturbed_kl"])  # reset after the epoch


def test_perturbed_kl_bf16_and_extreme_logits() -> None:
    g = torch.Generator().manual_seed(0)
    clean = (3 * torch.randn(64, 10, generator=g)).bfloat16()
    pert = (clean.float() + 0.5 * torch.randn(64, 10, generator=g)).bfloat16()
    y = torch.randint(0, 10, (64,), generator=g)
    sums = perturbed_sums(clean, pert, y)
    assert sums.dtype == torch.float64
    assert float(sums[2]) == pytest.approx(float(reference_kl(clean, pert).sum()), rel=1e-5)
    huge = torch.tensor([[1e4, -1e4, 0.0]])
    same = perturbed_sums(huge, huge + 50.0, torch.tensor([0]))  # a shift: same softmax
    assert same.tolist() == [1.0, 0.0, 0.0]
    far = perturbed_sums(huge, huge.flip(1), torch.tensor([0]))
    assert far[1] == 1.0 and float(far[2]) == pytest.approx(1e4, rel=1e-6)  # log(p0/q0) = 1e4


def test_perturbed_two_workers_equal_one() -> None:
    g = torch.Generator().manual_seed(1)
    clean, pert = torch.randn(40, 5, generator=g), torch.randn(40, 5, generator=g)
    y = torch.randint(0, 5, (40,), generator=g)
    single = PerturbedAccumulator("cpu")
    single.record(clean, pert, y)
    workers = [PerturbedAccumulator("cpu") for _ in range(2)]
    feeds = [[(clean[:16], pert[:16], y[:16])], [(clean[16:], pert[16:], y[16:])]]
    expected = single.end_epoch()
    for m in run_workers(workers, feeds, PerturbedAccumulator.REDUCE_OP):
        assert m == pytest.approx(expected, rel=1e-12)


# ---- real collectives: two gloo processes ----

def _gloo_worker(rank: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=20))
    try:
        t = ForgettingTracker(N, "cpu")
        acc = PerturbedAccumulator("cpu")
        z = torch.arange(12.0).reshape(4, 3)
        metrics = []
        for epoch in range(len(EXPECTED)):
            idx, cor = presentations(epoch)
            t.record(idx[rank::2], cor[rank::2])
            metrics.append(t.end_epoch(all_reduce_fn(t.REDUCE_OP)))
        acc.record(z[rank::2], z.flip(1)[rank::2], torch.tensor([2, 2, 0, 0])[rank::2])
        metrics.append(acc.end_epoch(all_reduce_fn(acc.REDUCE_OP)))
        # measure_sharpness on one rank only: it unwraps DDP (whose forward would broadcast
        # BatchNorm buffers and wait for the other rank) and equals the bare module's result
        net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
        ddp = DistributedDataParallel(net)
        if rank == 0:
            xs, ys = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1])
            kw = dict(m=2, rho=0.05, steps=2, hessian_iters=2, trace_samples=2)
            wrapped = measure_sharpness(ddp, F.cross_entropy, xs, ys, **kw)
            metrics.append(wrapped == measure_sharpness(net, F.cross_entropy, xs, ys, **kw))
        else:
            metrics.append(True)
        dist.barrier()
        torch.save(metrics, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_gloo_two_processes(tmp_path) -> None:
    mp.spawn(_gloo_worker, args=(f"file://{tmp_path}/store", str(tmp_path / "m")), nprocs=2)
    for rank in range(2):
        metrics = torch.load(tmp_path / f"m.{rank}", weights_only=True)
        assert [as_tuple(m) for m in metrics[:-2]] == pytest.approx(EXPECTED)
        # clean argmax 2 (correct for ex0, ex1), flipped argmax 0 (correct for ex2, ex3): 2 flips
        assert metrics[-2]["perturbed_flip"] == 0.5
        assert metrics[-1] is True
