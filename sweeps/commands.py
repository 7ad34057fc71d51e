"""What each `sweep` command does, given its parsed arguments (see `sweeps.cli`).

Every command validates all of its input (names, files, storage, tracking URI, Ray address)
before it starts Ray or writes anything; invalid input raises one of the one-line errors that
`sweeps.cli.main` turns into exit code 2.

Example:
    from sweeps.cli import build_parser
    cmd_status(build_parser().parse_args(["status", "tiny"]))
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sweeps.errors import SweepError
from sweeps.execution.ray_cluster import check_address
from sweeps.store.sweep_dir import SweepMeta, check_directory, check_storage, open_sweep
from sweeps.store.tracking_uri import (
    absolute_tracking_uri,
    check_tracking_uri,
    default_tracking_uri,
    public_uri,
    remember_secrets,
)
from sweeps.study.spec import check_name


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise SweepError(f"{name}: value {value} is invalid: must be >= 1")


def _tracking_uri(args: argparse.Namespace, meta: SweepMeta | None = None) -> str:
    """`--tracking-uri`, else the sweep's (from its sweep.json: it wins over the environment),
    else `$MLFLOW_TRACKING_URI`, else sqlite:///$PWD/mlflow.db; checked, sqlite paths absolute.

    Returns the URI without its password (`public_uri`): this process keeps the password for its
    MLflow clients, nothing writes it (see `sweeps.store.tracking_uri`)."""
    uri, key = getattr(args, "tracking_uri", None), "--tracking-uri"
    if meta is not None:
        if uri is not None and public_uri(meta.tracking_uri) not in (
                public_uri(uri), public_uri(absolute_tracking_uri(uri))):
            raise SweepError(f"--tracking-uri: value {public_uri(uri)!r} differs from the tracking "
                             f"URI of sweep {args.name!r} ({public_uri(meta.tracking_uri)}, in its "
                             "sweep.json); omit it")
        if uri is None:
            uri, key = meta.tracking_uri, f"tracking_uri of sweep {args.name!r} (its sweep.json)"
    elif uri is None:
        uri, key = default_tracking_uri()
    public = remember_secrets(absolute_tracking_uri(uri))
    check_tracking_uri(public, key=key)
    return public


def _address(args: argparse.Namespace) -> None:
    if args.address is not None:
        check_address(args.address)


def _existing(args: argparse.Namespace) -> tuple[Any, SweepMeta, Any]:
    check_name("NAME", args.name)
    return open_sweep(args.name, args.storage)


def _outcome(grid: Any, name: str, what: str = "trials") -> int:
    """Print a one-line summary; 0 when every trial finished, 1 (naming the failures) otherwise."""
    from sweeps.execution.console import result_outcome, summary_line

    failed = [r for r in grid if r.error]
    print(summary_line(name, [result_outcome(r) for r in grid], what))
    if not failed:
        after = "" if what == "confirm runs" else f"`sweep confirm {name}`, "
        print(f"Next: `sweep status {name}`, {after}`sweep report {name}`, `sweep analyze {name}`")
        return 0
    for r in failed:
        print(f"  failed: {Path(r.path).name}: {' '.join(str(r.error).split())[:300]}",
              file=sys.stderr)
    print(f"sweep {name!r}: {len(failed)} trial(s) failed after their retries; fix the cause and "
          f"run `sweep resume {name}` (finished trials are kept)", file=sys.stderr)
    return 1


def _check_components(cfgs: list[Any], address: str | None) -> None:
    """Model, dataset and loss of every config: imported, and (on a local cluster, whose files
    are this machine's) built and tried on two examples (`samtrain.component_check`). Configs of
    built-ins alone are skipped: nothing of the user's to check, and no torch import in the
    driver."""
    from samtrain.components import KINDS, is_builtin

    cfgs = [c for c in cfgs if not all(is_builtin(k, getattr(c, k)) for k in KINDS)
            or c.model_kwargs or c.dataset_kwargs or c.loss_kwargs]
    if not cfgs:
        return
    from samtrain.component_check import check_components, resolve_components

    if address is None:
        check_components(cfgs)
    else:
        for cfg in cfgs:
            resolve_components(cfg)


def cmd_run(args: argparse.Namespace) -> int:
    from samtrain.data import check_dataset
    from sweeps.execution.search_phase import run_sweep
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.spec import build_train_config, component_configs
    from sweeps.study.study_file import load_study

    _positive("--budget", args.budget)
    if args.name is not None:
        check_name("--name", args.name)
    check_storage(args.storage)
    study = load_study(args.space, budget=args.budget, name=args.name)
    if sweep_dir(args.storage, study.name).exists():
        raise SweepError(f"sweep {study.name!r} already exists in {args.storage}; use "
                         f"`sweep resume {study.name}` or another --name")
    uri = _tracking_uri(args)
    _address(args)
    if args.address is None:  # a local cluster reads local files: check them before starting
        for m in study.methods:
            check_dataset(build_train_config(study, m, {}))
    _check_components(component_configs(study), args.address)
    return _outcome(run_sweep(study, args.storage, uri, args.address), study.name)


def cmd_resume(args: argparse.Namespace) -> int:
    from sweeps.execution.search_phase import resume_sweep
    from sweeps.study.spec import component_configs

    study, meta, _ = _existing(args)
    _tracking_uri(args, meta)
    _address(args)
    _check_components(component_configs(study), args.address)  # e.g. PYTHONPATH forgotten
    return _outcome(resume_sweep(args.name, args.storage, args.address), args.name)


def cmd_extend(args: argparse.Namespace) -> int:
    from sweeps.execution.search_phase import extend_sweep
    from sweeps.search.plan import plan_extension

    _positive("--trials", args.trials)
    study, meta, _ = _existing(args)
    plan_extension(study, args.trials)  # a grid has nothing more to sample: exit 2 now
    _tracking_uri(args, meta)
    _address(args)
    return _outcome(extend_sweep(args.name, args.storage, args.trials, args.address), args.name)


def cmd_status(args: argparse.Namespace) -> int:
    from sweeps.report.status import format_status
    from sweeps.store.records import read_sweep

    _, meta, _ = _existing(args)
    uri = _tracking_uri(args, meta)
    sweep = read_sweep(args.name, args.storage, uri, history=False, deliver_timeout=10)
    print(format_status(sweep.study, args.name, sweep.records))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from sweeps.report.status import best_config_yaml, pareto_text
    from sweeps.store.records import read_sweep

    study, meta, _ = _existing(args)
    if args.method is not None and args.method not in study.methods:
        raise SweepError(f"--method: value {args.method!r} is unknown; allowed: "
                         f"{', '.join(study.methods)}")
    if args.method is not None and args.pareto:
        raise SweepError("--pareto: it lists the configs of every method; omit --method")
    uri = _tracking_uri(args, meta)
    sweep = read_sweep(args.name, args.storage, uri, history=False, deliver_timeout=10)
    if args.pareto:
        print(pareto_text(study, args.name, sweep.records), end="")
    else:
        print(best_config_yaml(study, args.name, sweep.records, args.method, args.all), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from samtrain.config import TrainConfig
    from samtrain.data import check_dataset
    from sweeps.execution.train import train_once
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.spec import Resources

    cfg = TrainConfig.from_yaml(args.config, args.overrides)
    name = check_name("--name" if args.name else "config file name",
                      args.name or Path(args.config).stem)
    check_storage(args.storage)
    uri = _tracking_uri(args)
    _address(args)
    if args.address is None:
        check_dataset(cfg)
    _check_components([cfg], args.address)
    resources = Resources(workers=cfg.num_workers, gpus_per_worker=1.0 if cfg.use_gpu else 0.0)
    in_process = {"auto": None, "train": False, "inprocess": True}[args.launcher]
    outcome = train_once(name, args.storage, uri, cfg, resources, args.address, in_process)
    result = outcome.result
    if result.error:
        print(f"sweep train: run failed: {result.error}", file=sys.stderr)
        return 1
    m = result.metrics or {}
    if outcome.reused:
        where = sweep_dir(args.storage, name).at(outcome.experiment)
        print(f"sweep train: {name!r} already ran these values to the end (MLflow run "
              f"train-{m.get('trial_id')}, {where}): "
              "reused it, nothing was trained; change a value (--set) for a new run")
    shown = " ".join(f"{k} {m[k]:.4f}" for k in ("val_acc", "val_loss", "test_acc", "test_loss",
                                                  "train_loss") if isinstance(m.get(k), float))
    print(f"final: epoch {m.get('epoch')} status {m.get('status')} {shown} "
          f"grad_evals {m.get('grad_evals')}")
    where = uri if uri.startswith("http") else f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1"
    print(f"MLflow (experiment {name!r}): {where}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from sweeps.execution.confirm import confirm_sweep
    from sweeps.study.spec import component_configs

    _positive("--top", args.top)
    _positive("--seeds", args.seeds)
    study, meta, _ = _existing(args)
    uri = _tracking_uri(args, meta)
    _address(args)
    _check_components(component_configs(study), args.address)
    grid = confirm_sweep(args.name, args.storage, uri, args.top, args.seeds, args.address)
    return _outcome(grid, args.name, "confirm runs") if grid else 0


def cmd_report(args: argparse.Namespace) -> int:
    from sweeps.report.report import report_sweep

    _, meta, _ = _existing(args)
    if args.out is not None:
        check_directory("--out", args.out)
    uri = _tracking_uri(args, meta)
    print(report_sweep(args.name, args.storage, uri, args.out, args.format))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from sweeps.report.analysis import (
        analysis_notes,
        analysis_table_md,
        analyze_sweep,
        best_sentence,
    )

    _, meta, d = _existing(args)
    if args.out is not None:
        check_directory("--out", args.out)
    uri = _tracking_uri(args, meta)
    analysis, files = analyze_sweep(args.name, args.storage, uri, args.out)
    where = files[0].parent if args.out is not None else d.at("report")  # a URI on object storage
    print("\n".join([*analysis_notes(analysis), "", analysis_table_md(analysis),
                     best_sentence(analysis), "",
                     f"Analysis files: {where} (also in MLflow, parent run: analysis/)"]))
    return 0
