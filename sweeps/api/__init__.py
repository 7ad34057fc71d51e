"""The Python API of samsweep: what `sweep` does, callable from a notebook or a script.

Build a study (`study_from_dict`, `study_from_file`, `example_path`), run it (`run_study`),
open it later (`Sweep.open`), run more of it (`Sweep.resume`, `extend`, `confirm`), read it
(`Sweep.records`, `runs_dataframe`, `rows`, `winners`, `best_config`, `status`), write its report
(`Sweep.report`), list and delete sweeps (`list_sweeps`, `delete_sweep`), run several workloads
as one suite (`run_suite`, docs/suites.md). Bad input raises a
`sweeps.errors.UserError` whose message is one line naming the key and value; `sweep` turns it
into exit code 2. A guide: docs/python_api.md.

Example:
    >>> from sweeps.api import study_from_file, example_path
    >>> study_from_file(example_path("tiny"), overrides=["base.epochs=1"]).base["epochs"]
    1
"""

from sweeps.api.catalog import SweepSummary, delete_sweep, list_sweeps, summary_table
from sweeps.api.checks import DEFAULT_STORAGE, STORAGE_ENV, resolve_storage, resolve_tracking_uri
from sweeps.api.studies import (
    apply_overrides,
    example_names,
    example_path,
    example_text,
    study_from_dict,
    study_from_file,
)
from sweeps.api.suite import SuiteOutcome, run_suite, suite_report
from sweeps.api.sweep import Outcome, Sweep, run_study

__all__ = ["Sweep", "Outcome", "SweepSummary", "run_study", "study_from_dict", "study_from_file",
           "apply_overrides", "example_names", "example_path", "example_text", "list_sweeps",
           "delete_sweep", "summary_table", "resolve_storage", "resolve_tracking_uri",
           "DEFAULT_STORAGE", "STORAGE_ENV", "run_suite", "suite_report", "SuiteOutcome"]
