"""What object storage costs a sweep: the same small sweep with `--storage` a local folder and
`s3://` (`moto_server` on 127.0.0.1: the cost of the mirror and of Tune's checkpoint uploads, not
of a network), alternating, in one run.

Each sweep: `--trials` single-worker trials on digits (small CNN), two at a time, a checkpoint
every epoch (`--checkpoint-interval-s 0`: the most uploads a sweep makes; a study's default is
30 s, plus the last epoch). Printed per sweep:
wall time of `run_sweep`, the share of it spent in training epochs (as `sweep_share`), the
uploads of the sweep's working copy (`RemoteMirror.push`: count, total seconds) and the objects
written; then the ratio of the S3 sweeps' mean wall time to the local ones'.

    python -m benchmarks.storage_overhead [--trials 4] [--epochs 8] [--repeats 2]
                                          [--checkpoint-interval-s 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def study_text(name: str, trials: int, epochs: int, checkpoint_interval_s: float) -> str:
    return f"""
name: {name}
budget: {trials}
scheduler: none
checkpoint_interval_s: {checkpoint_interval_s}
resources: {{workers: 1, cpus_per_worker: 1.0}}
base: {{dataset: digits, model: small_cnn, epochs: {epochs}, batch_size: 16, lr: 0.05}}
methods:
  sam:
    fixed: {{perturbation: ascent}}
    space: {{rho: {{loguniform: [0.02, 0.2]}}}}
"""


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage_overhead")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpoint-interval-s", type=float, default=0.0)
    args, _ = parser.parse_known_args(argv)

    from sweeps.execution.ray_cluster import connect_ray
    from sweeps.execution.search_phase import run_sweep
    from sweeps.store import remote
    from sweeps.store.mlflow_records import load_records
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.study_file import parse_study
    from tests.support.services import S3Server

    root = Path(tempfile.mkdtemp(prefix="storage-overhead-"))
    s3 = S3Server(root / "s3", bucket="bench").start()
    os.environ.update({**s3.env, "AWS_ENDPOINT_URL": s3.endpoint})  # before Ray starts
    pushes: list[float] = []
    push = remote.RemoteMirror.push

    def timed_push(self, *only):  # noqa: ANN001, ANN202 - the method, timed
        start = time.perf_counter()
        try:
            return push(self, *only)
        finally:
            pushes.append(time.perf_counter() - start)

    remote.RemoteMirror.push = timed_push
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cluster = connect_ray()
    concurrency = min(int(cluster.get("CPU", 1)), args.trials)
    lines = ["| sweep | storage | wall s | share in training | uploads (s) | objects |",
             "|---|---|---|---|---|---|"]
    walls: dict[str, list[float]] = {"local": [], "s3": []}
    try:
        for rep in range(args.repeats):
            for kind in ("local", "s3") if rep % 2 == 0 else ("s3", "local"):
                name = f"so-{kind}-{rep}"
                storage = str(root / "runs") if kind == "local" else "s3://bench/runs"
                study = parse_study(study_text(name, args.trials, args.epochs,
                                              args.checkpoint_interval_s), source=name)
                pushes.clear()
                before = len(s3.keys())
                t0 = time.time()
                run_sweep(study, storage, uri)
                wall = time.time() - t0
                meta = sweep_dir(storage, name).read_meta()
                _, records = load_records(uri, name, meta.sweep_id)
                share = sum(r.device_seconds for r in records) / (wall * concurrency)
                walls[kind].append(wall)
                lines.append(f"| {name} | {kind} | {wall:.1f} | {share:.3f} | "
                             f"{len(pushes)} ({sum(pushes):.2f}) | {len(s3.keys()) - before} |")
                print(lines[-1], flush=True)
    finally:
        remote.RemoteMirror.push = push
        s3.stop()
    ratio = statistics.mean(walls["s3"]) / statistics.mean(walls["local"])
    lines.append(f"\n**S3 / local wall time: {ratio:.3f}** ({args.repeats} sweeps each, "
                 f"{args.trials} trials x {args.epochs} epochs, {concurrency} at a time, "
                 f"checkpoint_interval_s {args.checkpoint_interval_s:g})")
    print("\n".join(lines[:2] + lines[-1:]))
    return lines


if __name__ == "__main__":
    main()
