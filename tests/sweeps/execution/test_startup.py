"""What keeps a sweep's start cheap (benchmarks/RESULTS.md, P3): the driver never imports torch,
and Tune's TensorBoard logger (which would import it) is not created; CSV/JSON loggers stay."""

import os
import pkgutil
import subprocess
import sys

import pytest
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

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


def test_tune_gets_csv_and_json_loggers_and_no_automatic_ones(tmp_path, monkeypatch):
    """Tune adds its default loggers (TensorBoard's among them) unless
    TUNE_DISABLE_AUTO_CALLBACK_LOGGERS is set: the run config sets it and brings CSV and JSON."""
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")  # restored after the test
    rc = run_config("search", sweep_dir(tmp_path, "s"), callback=object(), max_failures=2,
                    checkpoint_interval_s=30.0)
    assert os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] == "1"
    kinds = [type(c) for c in rc.callbacks]
    assert kinds.count(CSVLoggerCallback) == 1 and kinds.count(JsonLoggerCallback) == 1
    assert not any(issubclass(k, TBXLoggerCallback) for k in kinds)
    assert rc.failure_config.max_failures == 2
    assert rc.checkpoint_config.num_to_keep == 2 and rc.storage_path == str(tmp_path / "s")


@pytest.mark.ray
def test_a_tune_run_with_the_run_config_writes_csv_and_json_and_no_tensorboard_file(
        ray_local, tmp_path, monkeypatch):
    from ray import tune

    def _two_epochs(config):  # nested: pickled by value, Ray's workers cannot import this module
        for epoch in (1, 2):
            tune.report({"epoch": epoch, "val_acc": 0.5})

    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")  # restored after the test
    rc = run_config("search", sweep_dir(tmp_path, "s"), callback=tune.Callback(), max_failures=0,
                    checkpoint_interval_s=30.0)
    tune.Tuner(_two_epochs, run_config=rc).fit()
    files = [p.name for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert "progress.csv" in files and "result.json" in files, files
    assert not [f for f in files if f.startswith("events.out.tfevents")], files
