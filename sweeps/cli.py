"""`sweep`: run, resume, inspect and report SAM-family sweeps; train a single config.

Bad input exits with code 2 and one line naming the key, the value and what is allowed, before
anything starts or is written. `run`, `resume`, `confirm` and `train` exit 0 only when every
trial finished, 1 otherwise (naming the failed trials and how to resume).

Example:
    $ sweep run search_spaces/tiny.yaml --name tiny
    $ sweep status tiny
    $ sweep best tiny --method sam > best.yaml && sweep train best.yaml
    $ sweep analyze tiny     # does test accuracy track forgetting or sharpness?
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

DEFAULT_STORAGE = "runs"


class _Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


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
    from sweeps import commands as c

    parser = _Parser(prog="sweep", description=(
        "Hyperparameter sweeps for SAM-family optimizers on Ray Tune + Optuna, tracked in MLflow."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start a sweep from a study (search-space) YAML file")
    p.add_argument("space", help="study file, e.g. search_spaces/tiny.yaml")
    p.add_argument("--name", help="sweep name (default: the file's `name`)")
    p.add_argument("--budget", type=int, help="trials per method (overrides the file)")
    p.set_defaults(func=c.cmd_run)
    _common(p)

    p = sub.add_parser("resume", help="continue an interrupted sweep")
    p.add_argument("name")
    p.set_defaults(func=c.cmd_resume)
    _common(p, tracking=False)

    p = sub.add_parser("status", help="trials by state and the best so far per method")
    p.add_argument("name")
    p.set_defaults(func=c.cmd_status)
    _common(p, address=False)

    p = sub.add_parser("best", help="print the best TrainConfig as YAML (input for `sweep train`)")
    p.add_argument("name")
    p.add_argument("--method", help="restrict to one method")
    p.set_defaults(func=c.cmd_best)
    _common(p, address=False)

    p = sub.add_parser("train", help="one training run of a TrainConfig YAML file")
    p.add_argument("config", help="TrainConfig YAML, e.g. configs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--name", help="run name (default: the config file's stem)")
    p.add_argument("--launcher", choices=["auto", "train", "inprocess"], default="train",
                   help="train: Ray Train TorchTrainer (default); inprocess: the Tune trial's process")
    p.set_defaults(func=c.cmd_train)
    _common(p)

    p = sub.add_parser("confirm", help="re-run the best configs of each method with fresh seeds")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=1, help="best configs per method (default 1)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per config (default: the study's confirm_seeds, else 3)")
    p.set_defaults(func=c.cmd_confirm)
    _common(p)

    p = sub.add_parser("report", help="tables (md/csv/latex) and plots of a sweep")
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    p.set_defaults(func=c.cmd_report)
    _common(p, address=False)
    _add_analyze(sub)
    return parser


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    from sweeps.commands import cmd_analyze

    p = sub.add_parser("analyze", help="does test accuracy track forgetting or sharpness? "
                       "(Kendall tau of each diagnostic, bootstrap CIs)")
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    p.set_defaults(func=cmd_analyze)
    _common(p, address=False)


def main(argv: list[str] | None = None) -> int:
    from samtrain.data import DatasetNotFound
    from samtrain.launch import ResourceError
    from samtrain.validation import ConfigError
    from sweeps.distributions import SpaceError
    from sweeps.sweep_dir import SweepError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) goes on; a usage error (2) was printed as one line
        if not e.code:
            raise
        return 2
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # no usage reports leave this machine unless the user asks for them
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        return args.func(args) or 0
    except (ConfigError, SpaceError, SweepError, ResourceError, DatasetNotFound) as e:
        # one line even when a message quotes a key holding a line break
        print(f"sweep {args.command}: error: {' '.join(str(e).splitlines())}", file=sys.stderr)
        return 2
