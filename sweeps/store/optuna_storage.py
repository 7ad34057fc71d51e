"""`SweepOptunaStorage`: the Optuna storage of a sweep (its `optuna.db`), picklable as a
reference to the sweep rather than to a file.

Tune pickles the searcher, and with it this storage, into the experiment's state. A stock
`RDBStorage` unpickles to the sqlite URL it had; a sweep on object storage keeps `optuna.db` in a
per-process working copy (`sweeps.store.remote`), so `sweep resume` on another machine, or in a
fresh directory, must open that process's copy: this storage re-resolves it from the sweep.

Example::

    storage = SweepOptunaStorage(sweep_dir("s3://team/sweeps", "tiny"))
    SweepSearch(..., storage=storage)
"""

from __future__ import annotations

from typing import Any

import optuna

__all__ = ["SweepOptunaStorage"]


class SweepOptunaStorage(optuna.storages.RDBStorage):
    """`RDBStorage` on `sweep.optuna_url` (`sweep`: a `SweepDir`), pickled as the sweep."""

    def __init__(self, sweep: Any) -> None:
        self.sweep = sweep
        super().__init__(sweep.optuna_url)

    def __reduce__(self) -> tuple:
        return (SweepOptunaStorage, (self.sweep,))
