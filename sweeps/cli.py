"""`sweep`: run, resume, inspect and report SAM-family sweeps; train a single config.

Bad input exits with code 2 and one line naming the problem, before anything starts or is
written.

Example:
    $ sweep run search_spaces/tiny.yaml --name tiny
    $ sweep status tiny
    $ sweep best tiny --method sam > best.yaml && sweep train best.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_STORAGE = "runs"


def _common(p: argparse.ArgumentParser, tracking: bool = True, address: bool = True) -> None:
    p.add_argument("--storage", default=DEFAULT_STORAGE,
                   help=f"directory holding sweeps (default: ./{DEFAULT_STORAGE})")
    if tracking:
        p.add_argument("--tracking-uri", default=None,
                       help="MLflow tracking URI (default: the sweep's, else sqlite:///$PWD/mlflow.db)")
    if address:
        p.add_argument("--address", default=None,
                       help="Ray cluster address (e.g. auto); default: start a local Ray")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweep", description=(
        "Hyperparameter sweeps for SAM-family optimizers on Ray Tune + Optuna, tracked in MLflow."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start a sweep from a search-space YAML file")
    p.add_argument("space", help="search-space file, e.g. search_spaces/tiny.yaml")
    p.add_argument("--name", help="sweep name (default: the file's `name`)")
    p.add_argument("--budget", type=int, help="trials per method (overrides the file)")
    _common(p)

    p = sub.add_parser("resume", help="continue an interrupted sweep")
    p.add_argument("name")
    _common(p, tracking=False)

    p = sub.add_parser("status", help="trials by state and the best so far per method")
    p.add_argument("name")
    _common(p, address=False)

    p = sub.add_parser("best", help="print the best TrainConfig as YAML (input for `sweep train`)")
    p.add_argument("name")
    p.add_argument("--method", help="restrict to one method")
    _common(p, address=False)

    p = sub.add_parser("train", help="one training run of a TrainConfig YAML file")
    p.add_argument("config", help="TrainConfig YAML, e.g. configs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--name", help="run name (default: the config file's stem)")
    p.add_argument("--launcher", choices=["auto", "train", "inprocess"], default="train",
                   help="train: Ray Train TorchTrainer (default); inprocess: the Tune trial's process")
    _common(p)

    p = sub.add_parser("confirm", help="re-run the best configs of each method with several seeds")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=1, help="best configs per method (default 1)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per config (default: the study's confirm_seeds, else 3)")
    _common(p)

    p = sub.add_parser("report", help="tables (md/csv/latex) and plots of a sweep")
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    _common(p, address=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    from samtrain.config import ConfigError
    from samtrain.data import DatasetNotFound
    from samtrain.launch import ResourceError
    from sweeps.runner import SweepError
    from sweeps.space import SpaceError

    args = build_parser().parse_args(argv)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    handler = globals()[f"cmd_{args.command}"]
    try:
        return handler(args) or 0
    except (ConfigError, SpaceError, SweepError, ResourceError, DatasetNotFound) as e:
        print(f"sweep {args.command}: error: {e}", file=sys.stderr)
        return 2


def _positive(name: str, value: int | None) -> None:
    from sweeps.runner import SweepError

    if value is not None and value < 1:
        raise SweepError(f"{name}: value {value} is invalid: must be >= 1")


def _tracking_uri(args: argparse.Namespace, meta: dict[str, Any] | None = None) -> str:
    from sweeps.tracking import default_tracking_uri

    return args.tracking_uri or (meta or {}).get("tracking_uri") or default_tracking_uri()


def cmd_run(args: argparse.Namespace) -> int:
    from samtrain.data import check_dataset
    from sweeps.runner import method_configs, run_sweep
    from sweeps.space import load_study

    _positive("--budget", args.budget)
    study = load_study(args.space, budget=args.budget, name=args.name)
    if args.address is None:  # a local cluster reads local files: check them before starting
        for cfg in method_configs(study):
            check_dataset(cfg)
    grid = run_sweep(study, args.storage, _tracking_uri(args), args.address)
    _print_outcome(grid, study.name)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from sweeps.runner import resume_sweep

    grid = resume_sweep(args.name, args.storage, args.address)
    _print_outcome(grid, args.name)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from samtrain.config import TrainConfig
    from samtrain.data import check_dataset
    from sweeps.runner import run_configs
    from sweeps.space import Resources

    cfg = TrainConfig.from_yaml(args.config, args.overrides)
    if args.address is None:
        check_dataset(cfg)
    name = args.name or Path(args.config).stem
    resources = Resources(workers=cfg.num_workers, gpus_per_worker=1.0 if cfg.use_gpu else 0.0)
    in_process = {"auto": None, "train": False, "inprocess": True}[args.launcher]
    grid = run_configs(name, "train", args.storage, _tracking_uri(args), [("train", cfg, "train")],
                       resources, parent=False, log_checkpoints=True, address=args.address,
                       in_process=in_process)
    result = grid[0]
    if result.error:
        print(f"sweep train: run failed: {result.error}", file=sys.stderr)
        return 1
    m = result.metrics or {}
    print(f"final: epoch {m.get('epoch')} status {m.get('status')} "
          f"val_acc {m.get('val_acc', float('nan')):.4f} val_loss {m.get('val_loss', float('nan')):.4f} "
          f"train_loss {m.get('train_loss', float('nan')):.4f} grad_evals {m.get('grad_evals')}")
    uri = _tracking_uri(args)
    where = uri if uri.startswith("http") else f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1"
    print(f"MLflow (experiment {name!r}): {where}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from sweeps.inspect import format_status
    from sweeps.runner import open_sweep

    study, meta, _ = open_sweep(args.name, args.storage)
    print(format_status(study, _tracking_uri(args, meta), args.name))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from sweeps.inspect import best_config_yaml
    from sweeps.runner import open_sweep

    study, meta, _ = open_sweep(args.name, args.storage)
    print(best_config_yaml(study, _tracking_uri(args, meta), args.name, args.method), end="")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from sweeps.confirm import confirm_sweep

    _positive("--top", args.top)
    _positive("--seeds", args.seeds)
    confirm_sweep(args.name, args.storage, args.tracking_uri, args.top, args.seeds, args.address)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sweeps.confirm import report_sweep

    text = report_sweep(args.name, args.storage, args.tracking_uri, args.out, args.format)
    print(text)
    return 0


def _print_outcome(grid: Any, name: str) -> None:
    errors = sum(1 for r in grid if r.error)
    print(f"sweep {name!r}: {len(grid)} trials, {errors} errored. "
          f"Next: `sweep status {name}`, `sweep best {name}`, `sweep report {name}`")
