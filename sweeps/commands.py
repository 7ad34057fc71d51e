"""What each `sweep` command does, given plain arguments (`sweeps.cli` maps its parsed options
onto them through `COMMANDS`): the work is `sweeps.api`'s, here it is printed.

Every command validates all of its input (names, files, storage, tracking URI, Ray address)
before it starts Ray or writes anything; invalid input raises one of the one-line errors that
`sweeps.cli.main` turns into exit code 2.

Example:
    cmd_status("tiny", storage="runs")
    COMMANDS["best"](name="tiny", method="sam")
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from sweeps.api import (
    Outcome,
    Sweep,
    delete_sweep,
    example_text,
    list_sweeps,
    run_study,
    study_from_file,
    summary_table,
)
from sweeps.api.checks import (
    check_cluster,
    check_components,
    checked_storage,
    positive,
    resolve_tracking_uri,
)
from sweeps.errors import SweepError
from sweeps.study.spec import check_name

__all__ = ["COMMANDS"]


def _print_outcome(outcome: Outcome) -> int:
    """Print a one-line summary; 0 when every trial finished, 1 (naming the failures) otherwise."""
    from sweeps.execution.console import summary_line

    name, what = outcome.sweep.name, outcome.what
    print(summary_line(name, Counter(outcome.statuses).elements(), what))
    if outcome.ok:
        after = "" if what in ("confirm runs", "transfer runs") else f"`sweep confirm {name}`, "
        print(f"Next: `sweep status {name}`, {after}`sweep report {name}`, `sweep analyze {name}`")
        return 0
    for trial, error in outcome.failed:
        print(f"  failed: {trial}: {error}", file=sys.stderr)
    again = f"sweep transfer {name}" if what == "transfer runs" else f"sweep resume {name}"
    print(f"sweep {name!r}: {len(outcome.failed)} trial(s) failed after their retries; fix the "
          f"cause and run `{again}` (finished trials are kept)", file=sys.stderr)
    return 1


def cmd_run(space: str, name: str | None = None, budget: int | None = None,
            overrides: Sequence[str] = (), storage: str | None = None,
            tracking_uri: str | None = None, address: str | None = None) -> int:
    positive("--budget", budget)
    if name is not None:
        check_name("--name", name)
    checked_storage(storage)
    study = study_from_file(space, name=name, budget=budget, overrides=overrides)
    return _print_outcome(run_study(study, storage, tracking_uri, address))


def _open(name: str, storage: str | None, tracking_uri: str | None = None) -> Sweep:
    check_name("NAME", name)
    return Sweep.open(name, storage, tracking_uri)


def cmd_resume(name: str, storage: str | None = None, address: str | None = None,
               force: bool = False) -> int:
    return _print_outcome(_open(name, storage).resume(address, force))


def cmd_extend(name: str, trials: int, storage: str | None = None, address: str | None = None,
               force: bool = False) -> int:
    positive("--trials", trials)
    return _print_outcome(_open(name, storage).extend(trials, address, force))


def cmd_confirm(name: str, top: int = 1, seeds: int | None = None, storage: str | None = None,
                tracking_uri: str | None = None, address: str | None = None,
                force: bool = False) -> int:
    positive("--top", top)
    positive("--seeds", seeds)
    outcome = _open(name, storage, tracking_uri).confirm(top, seeds, address, force)
    return _print_outcome(outcome) if outcome.trials else 0


def cmd_transfer(name: str, study: str | None = None, storage: str | None = None,
                 tracking_uri: str | None = None, address: str | None = None,
                 force: bool = False) -> int:
    outcome = _open(name, storage, tracking_uri).transfer(study, address, force)
    return _print_outcome(outcome) if outcome.trials else 0


def cmd_status(name: str, storage: str | None = None, tracking_uri: str | None = None) -> int:
    print(_open(name, storage, tracking_uri).status())
    return 0


def cmd_best(name: str, method: str | None = None, pareto: bool = False, all_fields: bool = False,
             storage: str | None = None, tracking_uri: str | None = None) -> int:
    from sweeps.report.pareto_listing import pareto_text
    from sweeps.report.status import best_config_yaml

    check_name("NAME", name)
    sweep = _open_checked_method(name, method, pareto, storage, tracking_uri)
    records = sweep.records()
    if pareto:
        print(pareto_text(sweep.study, name, records), end="")
    else:
        print(best_config_yaml(sweep.study, name, records, method, all_fields), end="")
    return 0


def _open_checked_method(name: str, method: str | None, pareto: bool, storage: str | None,
                         tracking_uri: str | None) -> Sweep:
    """The sweep, `--method` and `--pareto` checked before its tracking URI is."""
    from samtrain.config.suggest import did_you_mean
    from sweeps.store.sweep_dir import open_sweep

    study, _, _ = open_sweep(name, checked_storage(storage))
    if method is not None and method not in study.methods:
        hint = did_you_mean(method, study.methods)
        raise SweepError(f"--method: value {method!r} is unknown; {hint + ' ' if hint else ''}"
                         f"allowed: {', '.join(study.methods)}")
    if method is not None and pareto:
        raise SweepError("--pareto: it lists the configs of every method; omit --method")
    return Sweep.open(name, storage, tracking_uri)


def cmd_train(config: str, overrides: Sequence[str] = (), name: str | None = None,
              launcher: str = "train", storage: str | None = None,
              tracking_uri: str | None = None, address: str | None = None) -> int:
    from samtrain.config.train_config import TrainConfig
    from samtrain.data import check_dataset
    from sweeps.execution.train_command import train_once
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.spec import Resources

    cfg = TrainConfig.from_yaml(config, list(overrides))
    name = check_name("--name" if name else "config file name", name or Path(config).stem)
    where = checked_storage(storage)
    uri = resolve_tracking_uri(tracking_uri)
    check_cluster(address)
    if address is None:
        check_dataset(cfg)
    check_components([cfg], address)
    resources = Resources(workers=cfg.num_workers, gpus_per_worker=1.0 if cfg.use_gpu else 0.0)
    in_process = {"auto": None, "train": False, "inprocess": True}[launcher]
    outcome = train_once(name, where, uri, cfg, resources, address, in_process)
    result = outcome.result
    if result.error:
        print(f"sweep train: run failed: {result.error}", file=sys.stderr)
        return 1
    m = result.metrics or {}
    if outcome.reused:
        at = sweep_dir(where, name).at(outcome.experiment)
        print(f"sweep train: {name!r} already ran these values to the end (MLflow run "
              f"train-{m.get('trial_id')}, {at}): "
              "reused it, nothing was trained; change a value (--set) for a new run")
    shown = " ".join(f"{k} {m[k]:.4f}" for k in ("val_acc", "val_loss", "test_acc", "test_loss",
                                                  "train_loss") if isinstance(m.get(k), float))
    print(f"final: epoch {m.get('epoch')} status {m.get('status')} {shown} "
          f"grad_evals {m.get('grad_evals')}")
    ui = uri if uri.startswith("http") else f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1"
    print(f"MLflow (experiment {name!r}): {ui}")
    return 0


def _check_out(name: str, out: str | None, storage: str | None) -> None:
    """The sweep exists and `--out` can be a directory (before its tracking URI is checked)."""
    from sweeps.store.sweep_dir import check_directory, open_sweep

    check_name("NAME", name)
    open_sweep(name, checked_storage(storage))
    if out is not None:
        check_directory("--out", out)


def cmd_report(name: str, out: str | None = None, fmt: str = "md", storage: str | None = None,
               tracking_uri: str | None = None) -> int:
    _check_out(name, out, storage)
    print(_open(name, storage, tracking_uri).report(out, fmt))
    return 0


def cmd_analyze(name: str, out: str | None = None, storage: str | None = None,
                tracking_uri: str | None = None) -> int:
    from sweeps.report.analysis import (
        analysis_notes,
        analysis_table_md,
        analyze_sweep,
        best_sentence,
    )
    _check_out(name, out, storage)
    sweep = _open(name, storage, tracking_uri)
    analysis, files = analyze_sweep(name, sweep.storage, sweep.tracking_uri, out)
    where = files[0].parent if out is not None else sweep.dir.at("report")  # a URI on object storage
    print("\n".join([*analysis_notes(analysis), "", analysis_table_md(analysis),
                     best_sentence(analysis), "",
                     f"Analysis files: {where} (also in MLflow, parent run: analysis/)"]))
    return 0


def cmd_list(storage: str | None = None) -> int:
    rows = list_sweeps(storage)
    if not rows:
        print(f"no sweeps in {checked_storage(storage)} (give --storage or set SWEEP_STORAGE to "
              "the folder holding them)")
        return 0
    print(summary_table(rows))
    return 0


def cmd_delete(name: str, yes: bool = False, keep_runs: bool = False, force: bool = False,
               storage: str | None = None) -> int:
    from sweeps.store.lease import check_free
    from sweeps.store.sweep_dir import open_sweep
    from sweeps.store.tracking_uri import refuse_secrets

    check_name("NAME", name)
    _, meta, d = open_sweep(name, checked_storage(storage))
    check_free(d, name, force)
    if not keep_runs:  # before asking: the question quotes the URI
        refuse_secrets(meta.tracking_uri, f"tracking_uri of sweep {name!r} (its sweep.json)")
    runs = "" if keep_runs else f" and its MLflow runs (experiment {name!r} at {meta.tracking_uri})"
    if not yes:
        if not sys.stdin.isatty():
            raise SweepError(f"--yes: not given and stdin is not a terminal to ask on; run "
                             f"`sweep delete {name} --yes` to delete {d.location}{runs}")
        answer = input(f"Delete sweep {name!r}: {d.location}{runs}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print(f"sweep {name!r}: kept")
            return 0
    print("\n".join(delete_sweep(name, storage, keep_runs=keep_runs, force=force)))
    return 0


def cmd_plan(space: str, from_sweep: str | None = None, cpus: float | None = None,
             gpus: float = 0.0, seeds: int | None = None, effect: float = 0.01,
             sd: float | None = None, tau_width: float = 0.2, calibration_epochs: int = 2,
             calibration_configs: int = 4, storage: str | None = None,
             tracking_uri: str | None = None) -> int:
    from types import SimpleNamespace

    from sweeps.execution.planner import run_plan

    if from_sweep is not None:
        check_name("--from", from_sweep)
    print(run_plan(SimpleNamespace(
        space=space, from_sweep=from_sweep, cpus=cpus, gpus=gpus, seeds=seeds, effect=effect,
        sd=sd, tau_width=tau_width, calibration_epochs=calibration_epochs,
        calibration_configs=calibration_configs,
        storage=checked_storage(storage), tracking_uri=tracking_uri)), end="")
    return 0


def cmd_suite(space: str, storage: str | None = None, tracking_uri: str | None = None,
              address: str | None = None) -> int:
    from sweeps.api.suite import run_suite

    outcome = run_suite(space, storage, tracking_uri, address)
    name = outcome.suite.name
    if not outcome.ok:
        _print_outcome(outcome.failed)
        print(f"suite {name!r}: stopped; run `sweep suite {space}` again to resume (finished "
              "workloads are skipped)", file=sys.stderr)
        return 1
    print(outcome.table)
    print(f"Suite report: {outcome.report_dir} (also in MLflow: experiment {name!r}, run "
          f"{outcome.suite_run_id}; one nested parent run per workload)")
    return 0


def cmd_example(name: str) -> int:
    print(example_text(name), end="")
    return 0


COMMANDS: dict[str, Callable[..., int]] = {
    "run": cmd_run, "resume": cmd_resume, "extend": cmd_extend, "status": cmd_status,
    "best": cmd_best, "train": cmd_train, "confirm": cmd_confirm, "transfer": cmd_transfer,
    "report": cmd_report,
    "analyze": cmd_analyze, "plan": cmd_plan, "list": cmd_list, "delete": cmd_delete, "example": cmd_example,
    "suite": cmd_suite,
}
