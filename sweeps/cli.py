"""`sweep`: run, resume, inspect and report SAM-family sweeps; train a single config.

Bad input exits with code 2 and one line naming the key, the value and what is allowed, before
anything starts or is written. `run`, `resume`, `confirm` and `train` exit 0 only when every
trial finished, 1 otherwise (naming the failed trials and how to resume).

Example:
    $ sweep run search_spaces/tiny.yaml --name tiny
    $ sweep status tiny
    $ sweep extend tiny --trials 4   # 4 more trials per searched method
    $ sweep best tiny --method sam > best.yaml && sweep train best.yaml
    $ sweep analyze tiny     # does test accuracy track forgetting or sharpness?
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

DEFAULT_STORAGE = "runs"


class _Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class _Version(argparse.Action):
    """`--version`: the installed samsweep's version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the installed samsweep version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("samsweep")
        except PackageNotFoundError:
            found = "unknown (samsweep is not installed: `pip install .`)"
        print(f"sweep {found}")
        parser.exit(0)


def _common(p: argparse.ArgumentParser, tracking: bool = True, address: bool = True) -> None:
    p.add_argument("--storage", default=DEFAULT_STORAGE,
                   help=f"directory holding sweeps (default: ./{DEFAULT_STORAGE}), or object "
                   "storage: s3://BUCKET/PREFIX (credentials from the environment: AWS_*)")
    if tracking:
        p.add_argument("--tracking-uri", default=None,
                       help="MLflow tracking URI (default: the sweep's, else $MLFLOW_TRACKING_URI, "
                       "else sqlite:///$PWD/mlflow.db)")
    if address:
        p.add_argument("--address", default=None,
                       help="Ray cluster address (e.g. auto); default: start a local Ray")


def _command(sub: Any, name: str, help: str, tracking: bool = True,
             address: bool = True) -> argparse.ArgumentParser:
    """A subcommand whose work is `sweeps.commands.cmd_<name>` (imported only to run it)."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=f"cmd_{name}")
    _common(p, tracking=tracking, address=address)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The `sweep` parser. It imports nothing heavy: `sweep --help` never loads torch, Ray or
    MLflow (tests/system/test_layers.py times it)."""
    parser = _Parser(prog="sweep", description=(
        "Hyperparameter sweeps for SAM-family optimizers on Ray Tune + Optuna, tracked in MLflow."))
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "run", "start a sweep from a study (search-space) YAML file")
    p.add_argument("space", help="study file, e.g. search_spaces/tiny.yaml")
    p.add_argument("--name", help="sweep name (default: the file's `name`)")
    p.add_argument("--budget", type=int, help="trials per method (overrides the file)")

    p = _command(sub, "resume", "continue an interrupted sweep", tracking=False)
    p.add_argument("name")

    p = _command(sub, "extend", "give every searched method N more trials (a finished or "
                 "interrupted sweep; the Optuna study and MLflow parent continue)", tracking=False)
    p.add_argument("name")
    p.add_argument("--trials", type=int, required=True, help="more trials per searched method")

    p = _command(sub, "status", "trials by state and the best so far per method",
                 address=False)
    p.add_argument("name")

    p = _command(sub, "best", "print the best TrainConfig as YAML (input for `sweep train`)",
                 address=False)
    p.add_argument("name")
    p.add_argument("--method", help="restrict to one method")
    p.add_argument("--all", action="store_true", help="every TrainConfig field, defaults included")
    p.add_argument("--pareto", action="store_true",
                   help="list the configs no other beats on every objective (the study's "
                        "objectives, else its metric and gradient evaluations)")

    p = _command(sub, "train", "one training run of a TrainConfig YAML file")
    p.add_argument("config", help="TrainConfig YAML, e.g. configs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--name", help="MLflow experiment of the run (default: the config file's stem); "
                   "other values under the same name add one more run, the same values reuse it")
    p.add_argument("--launcher", choices=["auto", "train", "inprocess"], default="train",
                   help="train: Ray Train TorchTrainer (default); inprocess: the Tune trial's process")

    p = _command(sub, "confirm", "re-run the best configs of each method with fresh seeds")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=1, help="best configs per method (default 1)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per config (default: the study's confirm_seeds, else 3)")

    p = _command(sub, "report", "tables (md/csv/latex) and plots of a sweep",
                 address=False)
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")

    p = _command(sub, "analyze", "does test accuracy track forgetting or sharpness? (Kendall tau "
                 "of each diagnostic, bootstrap CIs)", address=False)
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    return parser


# Bad input: sweeps' own errors, samtrain's config and missing-data errors; MLflow's errors.
_USER_ERRORS = (("sweeps.errors", "UserError"), ("samtrain.validation", "ConfigError"),
                ("samtrain.data.bundle", "DatasetNotFound"))
_MLFLOW_ERRORS = (("mlflow.exceptions", "MlflowException"),)


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes among `names` whose module is imported: an error of a module that was never
    imported cannot have been raised. An `except` clause evaluates its tuple only when something
    was raised, so no command pays for importing these modules."""
    return tuple(getattr(sys.modules[m], c) for m, c in names if m in sys.modules)


def main(argv: list[str] | None = None) -> int:
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
    from sweeps import commands
    from sweeps.store.tracking_uri import redact  # a URI in a message never shows its password

    # Ray records the driver's command line (its job's entrypoint, in the dashboard and its logs):
    # a password given in --tracking-uri stays out of it (`ps` still shows the real one)
    if argv is None:
        sys.argv[1:] = [redact(a) for a in sys.argv[1:]]

    try:
        return getattr(commands, args.func)(args) or 0
    except _loaded(_USER_ERRORS) as e:
        # one line even when a message quotes a key holding a line break
        print(f"sweep {args.command}: error: {redact(' '.join(str(e).splitlines()))}",
              file=sys.stderr)
        return 2
    except _loaded(_MLFLOW_ERRORS) as e:  # the tracking server failed while reading or writing
        print(f"sweep {args.command}: MLflow error: {redact(' '.join(str(e).split()))[:500]}",
              file=sys.stderr)
        return 1
