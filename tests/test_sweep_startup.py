"""What keeps a sweep's start cheap (benchmarks/RESULTS.md, P3): the driver never imports torch,
and Tune's TensorBoard logger (which would import it) is not created; CSV/JSON loggers stay."""

import subprocess
import sys

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
from ray.tune.utils.callback import _create_default_callbacks

from sweeps.runner import _run_config
from sweeps.sweep_dir import sweep_dir

DRIVER_MODULES = ("sweeps.cli", "sweeps.commands", "sweeps.runner", "sweeps.mlflow_callback",
                  "sweeps.trainable", "sweeps.searcher", "sweeps.scheduler", "sweeps.orphans",
                  "sweeps.store.outbox", "sweeps.store.reader", "sweeps.status", "sweeps.confirm",
                  "sweeps.report", "sweeps.selection")


def test_driver_modules_do_not_import_torch():
    code = (f"import sys, {', '.join(DRIVER_MODULES)}; "
            "print(sorted(m for m in sys.modules if m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tune_gets_csv_and_json_loggers_but_no_tensorboard(tmp_path):
    rc = _run_config("search", sweep_dir(tmp_path, "s"), callback=object(), parameter_columns=[],
                     max_failures=2)
    callbacks = _create_default_callbacks(list(rc.callbacks))  # what Tune adds at fit()
    kinds = [type(c) for c in callbacks]
    assert kinds.count(CSVLoggerCallback) == 1 and kinds.count(JsonLoggerCallback) == 1
    assert not any(issubclass(k, TBXLoggerCallback) for k in kinds)
    assert rc.failure_config.max_failures == 2
