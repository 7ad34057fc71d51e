"""`sweep`: run, resume, inspect and report SAM-family sweeps; train a single config.

Bad input exits with code 2 and one line naming the key, the value and what is allowed, before
anything starts or is written. `run`, `resume`, `confirm` and `train` exit 0 only when every
trial finished, 1 otherwise (naming the failed trials and how to resume). Each command's work is
a function of `sweeps.commands` (plain arguments; `COMMANDS` maps a command's name to it), which
calls the Python API, `sweeps.api`. `build_parser` builds the whole parser (a CLI reference can
be generated from it).

Example:
    $ sweep example tiny > study.yaml
    $ sweep run study.yaml --set budget=3 --set base.epochs=1
    $ sweep list
    $ sweep status tiny
    $ sweep extend tiny --trials 4   # 4 more trials per searched method
    $ sweep best tiny --method sam > best.yaml && sweep train best.yaml
    $ sweep analyze tiny     # does test accuracy track forgetting or sharpness?
    $ sweep plan search_spaces/tiny.yaml --seeds 5 --sd 0.01   # cost and power, before running
    $ sweep suite search_spaces/suites/two_workloads.yaml   # several workloads, one verdict
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from samtrain.errors import SamtrainError
from sweeps.errors import UserError

DEFAULT_STORAGE = "runs"  # also `sweeps.api.checks.DEFAULT_STORAGE`
STORAGE_ENV = "SWEEP_STORAGE"
RUN_EXAMPLES = """examples (from any directory):
  sweep example tiny > study.yaml          # a bundled study file (sweep example --help: all)
  sweep run study.yaml
  sweep run study.yaml --name tiny2 --set budget=4 --set base.epochs=3
  sweep run study.yaml --set 'methods.sam.space.rho={loguniform: [0.01, 0.1]}'
"""


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
    p.add_argument("--storage", default=None,
                   help=f"directory holding sweeps (default: ${STORAGE_ENV}, else "
                   f"./{DEFAULT_STORAGE}), or object storage: s3://BUCKET/PREFIX (credentials "
                   "from the environment: AWS_*)")
    if tracking:
        p.add_argument("--tracking-uri", default=None,
                       help="MLflow tracking URI (default: the sweep's, else $MLFLOW_TRACKING_URI, "
                       "else sqlite:///$PWD/mlflow.db); no password in it: PGPASSWORD or "
                       "~/.pgpass, MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")
    if address:
        p.add_argument("--address", default=None,
                       help="Ray cluster address (e.g. auto); default: start a local Ray")


def _force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="take over a sweep whose driver's lease went stale (that driver is gone)")


def _command(sub: Any, name: str, help: str, tracking: bool = True, address: bool = True,
             storage: bool = True, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand; its options' names are the parameters of `sweeps.commands.COMMANDS[name]`."""
    p = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", **kwargs)
    if storage:
        _common(p, tracking=tracking, address=address)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The `sweep` parser. It imports nothing heavy: `sweep --help` never loads torch, Ray or
    MLflow (tests/system/test_layers.py times it)."""
    parser = _Parser(prog="sweep", description=(
        "Hyperparameter sweeps for SAM-family optimizers on Ray Tune + Optuna, tracked in MLflow."),
        epilog="Start here: `sweep example tiny > study.yaml && sweep run study.yaml`.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _search_commands(sub)
    _reading_commands(sub)
    _store_commands(sub)
    _suite_command(sub)
    return parser


def _suite_command(sub: Any) -> None:
    """suite: several workloads sharing methods and protocol (`sweeps.api.suite`)."""
    p = _command(sub, "suite", "run every workload of a suite file (search, confirm, report "
                 "each), then the aggregate report; again: skips finished workloads")
    p.add_argument("space", help="suite file, e.g. search_spaces/suites/two_workloads.yaml")


def _search_commands(sub: Any) -> None:
    """run, resume, extend, status, best: a sweep's search phase."""
    p = _command(sub, "run", "start a sweep from a study (search-space) YAML file",
                 epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space", help="study file, e.g. one written by `sweep example tiny > study.yaml`")
    p.add_argument("--name", help="sweep name (default: the file's `name`)")
    p.add_argument("--budget", type=int, help="trials per method (overrides the file)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study value by its dotted key, the value as YAML, checked "
                   "like the file (repeatable): budget=4, base.epochs=3, methods.sam.fixed.rho=0.1")

    p = _command(sub, "resume", "continue an interrupted sweep", tracking=False)
    p.add_argument("name")
    _force(p)

    p = _command(sub, "extend", "give every searched method N more trials (a finished or "
                 "interrupted sweep; the Optuna study and MLflow parent continue)", tracking=False)
    p.add_argument("name")
    p.add_argument("--trials", type=int, required=True, help="more trials per searched method")
    _force(p)

    p = _command(sub, "status", "trials by state and the best so far per method",
                 address=False)
    p.add_argument("name")

    p = _command(sub, "best", "print the best TrainConfig as YAML (input for `sweep train`)",
                 address=False)
    p.add_argument("name")
    p.add_argument("--method", help="restrict to one method")
    p.add_argument("--all", dest="all_fields", action="store_true",
                   help="every TrainConfig field, defaults included")
    p.add_argument("--pareto", action="store_true",
                   help="list the configs no other beats on every objective (the study's "
                        "objectives, else its metric and gradient evaluations)")


def _reading_commands(sub: Any) -> None:
    """train, confirm, report, analyze: runs from a sweep's results, and what they say."""
    p = _command(sub, "train", "one training run of a TrainConfig YAML file")
    p.add_argument("config", help="TrainConfig YAML, e.g. one written by `sweep best NAME`")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--name", help="MLflow experiment of the run (default: the config file's stem); "
                   "other values under the same name add one more run, the same values reuse it")
    p.add_argument("--launcher", choices=["auto", "train", "inprocess"], default="train",
                   help="train: Ray Train TorchTrainer (default); inprocess: the Tune trial's process")

    p = _command(sub, "confirm", "re-run the best config of each method with fresh seeds (each "
                 "seed also draws the data split and label noise)")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=1,
                   help="best configs per method (default 1); K > 1 runs the K on select seeds "
                        "first and confirms only the pick (best mean validation metric)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per config (default: the study's confirm_seeds, default 5)")
    _force(p)

    p = _command(sub, "transfer", "fine-tune every method's confirmed checkpoints on the "
                 "study's transfer target with one shared recipe (docs/transfer.md)")
    p.add_argument("name")
    p.add_argument("--study", default=None, metavar="FILE",
                   help="take the `transfer:` block from this study file (default: the sweep's)")
    _force(p)

    p = _command(sub, "report", "tables (md/csv/latex) and plots of a sweep",
                 address=False)
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")
    p.add_argument("--format", dest="fmt", choices=["md", "csv", "latex"], default="md")

    p = _command(sub, "analyze", "does test accuracy track forgetting or sharpness? (Kendall tau "
                 "of each diagnostic, bootstrap CIs)", address=False)
    p.add_argument("name")
    p.add_argument("--out", help="output directory (default: STORAGE/NAME/report)")

    p = _command(sub, "plan", "before running: a study's cost (calibration run or --from an "
                 "earlier sweep) and power (CI of Δ vs baseline, seeds, configs for tau)",
                 address=False)
    _plan_arguments(p)

def _store_commands(sub: Any) -> None:
    """list, delete, example: the sweeps in a store, and the bundled study files."""
    _command(sub, "list", "the sweeps in the store: name, state, trials done/planned, best value",
             tracking=False, address=False)

    p = _command(sub, "delete", "delete a sweep: its folder and its MLflow runs (asks first)",
                 tracking=False, address=False)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    p.add_argument("--keep-runs", action="store_true",
                   help="keep the sweep's MLflow runs (only its folder goes)")
    _force(p)

    p = _command(sub, "example", "print a bundled study file: `sweep example tiny > study.yaml`",
                 storage=False)
    p.add_argument("name", help="tiny (seconds on a CPU), fashion_label_noise, cifar10_resnet18")


def _plan_arguments(p: argparse.ArgumentParser) -> None:
    """`sweep plan`'s arguments (its work: `sweeps.execution.planner`)."""
    p.add_argument("space", help="study file, e.g. search_spaces/tiny.yaml")
    p.add_argument("--from", dest="from_sweep", metavar="NAME",
                   help="an earlier sweep of the same problem: its costs and paired spread")
    p.add_argument("--cpus", type=float, help="CPUs the sweep will have (default: this machine's)")
    p.add_argument("--gpus", type=float, default=0.0, help="GPUs the sweep will have (default 0)")
    p.add_argument("--seeds", type=int, help="confirm seeds per method (default: the study's "
                   "confirm_seeds, else 3)")
    p.add_argument("--effect", type=float, default=0.01,
                   help="the Δ vs baseline to detect (default 0.01)")
    p.add_argument("--sd", type=float, help="assumed SD of paired Δ when no --from sweep has one")
    p.add_argument("--tau-width", type=float, default=0.2,
                   help="half-width of the tau interval to size for (default 0.2)")
    p.add_argument("--calibration-epochs", type=int, default=2,
                   help="epochs each calibration config trains (default 2)")
    p.add_argument("--calibration-configs", type=int, default=4,
                   help="configs per method the calibration trains, spread over its search "
                   "space (default 4)")


# MLflow's errors, caught only where MLflow was imported (it is heavy; `sweep --help` never loads it)
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
    # a URI holding a password is refused, but the refused line must not carry it there either
    if argv is None:
        sys.argv[1:] = [redact(a) for a in sys.argv[1:]]

    kwargs = vars(args)
    command = kwargs.pop("command")
    try:
        return commands.COMMANDS[command](**kwargs) or 0
    except (UserError, SamtrainError) as e:  # bad input: each package's one error root
        # one line even when a message quotes a key holding a line break
        print(f"sweep {command}: error: {redact(' '.join(str(e).splitlines()))}",
              file=sys.stderr)
        return 2
    except _loaded(_MLFLOW_ERRORS) as e:  # the tracking server failed while reading or writing
        print(f"sweep {command}: MLflow error: {redact(' '.join(str(e).split()))[:500]}",
              file=sys.stderr)
        return 1
