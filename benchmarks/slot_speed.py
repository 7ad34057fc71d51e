"""How evenly identical trials progress side by side: the noise floor of P3's idle end.

Starts `--processes` identical single-thread SAM training loops (the P3 sweep's small CNN, B = 128,
random 1x28x28 data) at the same time, unpinned, as a sweep's trial processes run, and prints each
one's steps per second over `--seconds`. A sweep of identical trials ends when its slowest slot
ends: with 4 trials of 60 s per slot, the mean idle per slot at the end is about
`240 s x (fast / slow - 1) / 2` for two slots, whatever the sweep's start-up and stop costs.

    python -m benchmarks.slot_speed [--seconds 60] [--processes 2] [--window 10] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def train_loop(seconds: float, window_s: float, queue: mp.Queue) -> None:
    """One single-thread SAM loop; put (steps per second per window, overall steps/s) on `queue`."""
    import torch

    from benchmarks.step_overhead import Runner

    torch.set_num_threads(1)
    step = Runner({"rho": 0.05}, "small_cnn", torch.device("cpu"), amp=False, shape=(1, 28, 28)).step
    for _ in range(3):
        step()
    start = window_start = time.perf_counter()
    steps = window_steps = 0
    windows: list[float] = []
    while (now := time.perf_counter()) - start < seconds:
        step()
        steps += 1
        window_steps += 1
        if now - window_start >= window_s:
            windows.append(window_steps / (now - window_start))
            window_start, window_steps = now, 0
    queue.put((windows, steps / (time.perf_counter() - start)))


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slot_speed")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per reported rate")
    parser.add_argument("--quick", action="store_true", help="15 s (a smoke run)")
    args, _ = parser.parse_known_args(argv)
    seconds = 15.0 if args.quick else args.seconds
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=train_loop, args=(seconds, args.window, queue))
             for _ in range(args.processes)]
    for p in procs:
        p.start()
    # a child that dies raises queue.Empty here instead of hanging the benchmark
    results = sorted((queue.get(timeout=seconds + 120) for _ in procs), key=lambda r: -r[1])
    for p in procs:
        p.join()
    fast, slow = results[0][1], results[-1][1]
    idle = 240.0 * (fast / slow - 1) / 2
    lines = [f"| process | steps/s per {args.window:g} s window | steps/s overall |", "|---|---|---:|"]
    lines += [f"| {i + 1} | {' '.join(f'{w:.2f}' for w in windows)} | {overall:.2f} |"
              for i, (windows, overall) in enumerate(results)]
    lines += ["", f"fastest / slowest: **{fast / slow:.3f}**; idle per slot at the end of an "
              f"8 x 60 s sweep on 2 slots at this spread: about {idle:.1f} s"]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
