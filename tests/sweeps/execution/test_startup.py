"""What keeps a sweep's start cheap (benchmarks/RESULTS.md, P3): the driver never imports torch,
and Tune's TensorBoard logger (which would import it) is not created; CSV/JSON loggers stay."""

import pkgutil
import subprocess
import sys

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
from ray.tune.utils.callback import _create_default_callbacks

import sweeps
from sweeps.execution.runner import run_config
from sweeps.store.sweep_dir import sweep_dir

# every module of the launcher but the one only a trial process imports, and `python -m sweeps`
TRIAL_ONLY = {"sweeps.execution.trial_context", "sweeps.__main__"}
DRIVER_MODULES = sorted(m.name for m in pkgutil.walk_packages(sweeps.__path__, "sweeps.")
                        if m.name not in TRIAL_ONLY)


def test_driver_modules_do_not_import_torch():
    assert "sweeps.execution.runner" in DRIVER_MODULES and len(DRIVER_MODULES) > 30
    code = (f"import sys, {', '.join(DRIVER_MODULES)}; "
            "print(sorted(m for m in sys.modules if m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tune_gets_csv_and_json_loggers_but_no_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")  # restored after the test
    rc = run_config("search", sweep_dir(tmp_path, "s"), callback=object(), max_failures=2,
                    checkpoint_interval_s=30.0)
    callbacks = _create_default_callbacks(list(rc.callbacks))  # what Tune adds at fit()
    kinds = [type(c) for c in callbacks]
    assert kinds.count(CSVLoggerCallback) == 1 and kinds.count(JsonLoggerCallback) == 1
    assert not any(issubclass(k, TBXLoggerCallback) for k in kinds)
    assert rc.failure_config.max_failures == 2
    assert rc.checkpoint_config.num_to_keep == 2 and rc.storage_path == str(tmp_path / "s")
