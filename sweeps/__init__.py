"""sweeps: the sweep launcher (search spaces, Ray Tune + Optuna, MLflow tracking, reports, CLI).

The public Python API (`sweeps.api`) is importable from here; it is loaded on first use, so
`sweep --help` stays instant:

    >>> import sweeps
    >>> sweeps.study_from_file(sweeps.example_path("tiny")).name
    'tiny'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweeps.api import (
        Outcome,
        Sweep,
        SweepSummary,
        delete_sweep,
        example_names,
        example_path,
        example_text,
        list_sweeps,
        run_study,
        study_from_dict,
        study_from_file,
    )
    from sweeps.errors import SpaceError, SweepError, UserError

__all__ = ["Sweep", "Outcome", "SweepSummary", "run_study", "study_from_dict", "study_from_file",
           "example_names", "example_path", "example_text", "list_sweeps", "delete_sweep",
           "UserError", "SpaceError", "SweepError"]
_ERRORS = ("UserError", "SpaceError", "SweepError")


def __getattr__(name: str) -> Any:
    """`sweeps.NAME` for the names of `__all__`, imported when first asked for."""
    if name not in __all__:
        raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
    module = importlib.import_module("sweeps.errors" if name in _ERRORS else "sweeps.api")
    return getattr(module, name)
