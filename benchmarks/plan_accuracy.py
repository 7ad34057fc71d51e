"""How close `sweep plan`'s cost estimate is to a real run: the plan of a study from a short
calibration run, then the study itself (search phase, and confirm seeds when it has them), and
the ratio of the real device-seconds and gradient evaluations to the planned ones, per method
and in total. The target for the demo study is a ratio within 10 % of 1.

    python -m benchmarks.plan_accuracy [--study search_spaces/fashion_label_noise.yaml]
                                       [--calibration-epochs 2] [--calibration-configs 4]
                                       [--confirm-seeds N]
                                       [--sweep NAME --storage DIR --tracking-uri URI]

With `--sweep`, the study is not run again: the plan is compared with that finished sweep of
the same study (e.g. the one `make demo` left in runs/, tracked in sqlite:///.../mlflow.db).
With `--from NAME --from-storage DIR --from-tracking-uri URI`, the plan is `sweep plan --from`'s:
the per-epoch costs of that earlier sweep of the study (no calibration; it depends on that
sweep's records only, not on when it is made), with the power table from its confirm seeds.

The plan counts the epochs ASHA lets a search trial train in expectation and each method's
planned epochs (a searched `epochs` at the middle of its range); the real sweep trains the
epochs its scheduler and selection chose. So the script also prints: the ratio per epoch
trained (real device-seconds per epoch vs the planned cost of an epoch, what the calibration
measures); the ratio with the confirm seeds planned as the config the selection picked (what
the plan cannot know before the search), calibrated afterwards the same way over 4 epochs at
its picked epochs; and whether the real total lies in the plan's span (every run its method's
cheapest config at the fewest epochs, to the dearest at the most). It runs the whole study: on
the 2-core VM the demo takes ~35 minutes; `--study search_spaces/tiny.yaml` checks the script
in a minute.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _picked_costs(study, records, slots: int, epochs: int = 4) -> dict:  # noqa: ANN001
    """Each method's picked config (its confirm runs'), calibrated as `sweep plan` calibrates a
    config but over `epochs` epochs (the typical epoch a median of `epochs` - 1), ending its run:
    {method: (typical epoch s, end-of-run s, the picked epochs)}."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sweeps.execution.planner import _calibrate_config

    picks = {}
    for m, spec in study.methods.items():
        confirm = [r for r in records if r.method == m and r.phase == "confirm"]
        if confirm:
            picks[m] = ({k: confirm[0].params[k] for k in spec.sampled}, int(confirm[0].params["epochs"]))
    names = list(picks)
    with ProcessPoolExecutor(slots, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = list(pool.map(_calibrate_config, *zip(*[(study, m, picks[m][0], epochs, True)
                                                       for m in names], strict=True)))
    return {m: (typical, end or 0.0, picks[m][1]) for m, (_, typical, end) in zip(names, got, strict=True)}


def _ratio_lines(plan, records, study, picked) -> list[str]:  # noqa: ANN001 - a Plan, RunRecords
    from sweeps.execution.planner import planned_epochs

    lines = ["| method | planned device-s | real device-s | ratio | ratio with the picked configs "
             "calibrated | planned grad evals | real grad evals | ratio | "
             "per epoch: real / planned device-s |", "|---|---|---|---|---|---|---|---|---|"]
    tot = [0.0, 0.0, 0.0, 0.0, 0.0]
    for m, c in plan.costs.items():
        runs = [r for r in records if r.method == m]
        real_s, real_g = sum(r.device_seconds for r in runs), sum(r.grad_evals for r in runs)
        epochs = sum(float(r.final.get("epoch", 0) or 0) for r in runs)
        per_epoch = (real_s / epochs) / plan.per_epoch[m].device_seconds if epochs else float("nan")
        # the plan with its confirm seeds replaced by the picked config (known afterwards),
        # calibrated at the picked epochs: what the cost model says given the pick
        at_picks = c.device_seconds
        if m in picked:
            typical, end, e = picked[m]
            at_picks += plan.inputs.seeds * (e * typical + end - planned_epochs(study, m)
                                             * plan.per_epoch[m].device_seconds)
        lines.append(f"| {m} | {c.device_seconds:.1f} | {real_s:.1f} | "
                     f"{real_s / c.device_seconds:.3f} | "
                     f"{f'{real_s / at_picks:.3f}' if m in picked else '-'} | "
                     f"{c.grad_evals:,.0f} | {real_g:,.0f} | "
                     f"{real_g / c.grad_evals:.3f} | {per_epoch:.3f} |")
        tot = [tot[0] + c.device_seconds, tot[1] + real_s, tot[2] + c.grad_evals, tot[3] + real_g,
               tot[4] + at_picks]
    lines.append(f"| total | {tot[0]:.1f} | {tot[1]:.1f} | {tot[1] / tot[0]:.3f} | "
                 f"{f'{tot[1] / tot[4]:.3f}' if picked else '-'} | {tot[2]:,.0f} | {tot[3]:,.0f} | "
                 f"{tot[3] / tot[2]:.3f} | |")
    lo, hi = (sum(s[i] for s in plan.spans.values()) for i in (0, 1))
    lines.append(f"\nthe plan's span (every run its method's cheapest / dearest config): {lo:.0f}–{hi:.0f} "
                 f"device-s; the real {tot[1]:.0f} is " + ("inside" if lo <= tot[1] <= hi else
                                                          "OUTSIDE"))
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_accuracy")
    parser.add_argument("--study", default="search_spaces/fashion_label_noise.yaml")
    parser.add_argument("--calibration-epochs", type=int, default=2)
    parser.add_argument("--calibration-configs", type=int, default=4)
    parser.add_argument("--confirm-seeds", type=int, default=None,
                        help="confirm seeds to run and plan (default: the study's)")
    parser.add_argument("--sweep", help="a finished sweep of the study to compare with")
    parser.add_argument("--storage", default="runs", help="the --sweep's storage")
    parser.add_argument("--tracking-uri", help="the --sweep's tracking URI")
    parser.add_argument("--from", dest="from_sweep",
                        help="plan from this earlier sweep of the study (as `sweep plan --from`)")
    parser.add_argument("--from-storage", default="runs", help="the --from sweep's storage")
    parser.add_argument("--from-tracking-uri", help="the --from sweep's tracking URI")
    args, _ = parser.parse_known_args(argv)

    from sweeps.execution.confirm import confirm_sweep
    from sweeps.execution.planner import PlanInputs, make_plan, plan_text
    from sweeps.execution.search_phase import run_sweep
    from sweeps.store.mlflow_records import load_records
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.study_file import load_study

    study = load_study(args.study)
    seeds = study.confirm_seeds if args.confirm_seeds is None else args.confirm_seeds
    cpus = float(os.cpu_count() or 1)
    t0 = time.time()
    inputs = PlanInputs(cpus=cpus, gpus=0.0, seeds=seeds, calibration_epochs=args.calibration_epochs,
                        calibration_configs=args.calibration_configs)
    if args.from_sweep:
        from sweeps.store.sweep_access import read_sweep

        earlier = read_sweep(args.from_sweep, args.from_storage, args.from_tracking_uri,
                             history=False, deliver_timeout=10)
        plan = make_plan(study, inputs, earlier.records, args.from_sweep)
    else:
        plan = make_plan(study, inputs)
    planning = time.time() - t0
    print(plan_text(plan), flush=True)
    t0 = time.time()
    if args.sweep:
        name, storage, uri = args.sweep, args.storage, args.tracking_uri
    else:
        root = Path(tempfile.mkdtemp(prefix="plan-accuracy-"))
        name, storage, uri = study.name, str(root / "runs"), f"sqlite:///{root / 'mlflow.db'}"
        run_sweep(study, storage, uri)
        if seeds:
            confirm_sweep(study.name, storage, uri, 1, seeds, None)
    wall = time.time() - t0
    meta = sweep_dir(storage, name).read_meta()
    _, records = load_records(uri, name, meta.sweep_id)
    t0 = time.time()
    # the picks calibrated: what the calibration would say given them (not with --from)
    picked = {} if args.from_sweep else _picked_costs(study, records, plan.slots)
    lines = _ratio_lines(plan, records, study, picked)
    picks_s = time.time() - t0
    lines.append(f"\nplanning ({'--from ' + args.from_sweep if args.from_sweep else 'calibration'}) "
                 f"{planning:.0f} s, the picked configs {picks_s:.0f} s; "
                 + (f"the sweep {name!r} (run earlier)" if args.sweep else
                    f"the study {wall:.0f} s wall") + " on "
                 f"{cpus:g} CPUs ({plan.slots} slots); planned wall "
                 f"{sum(c.run_seconds for c in plan.costs.values()) / plan.slots:.0f} s")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
