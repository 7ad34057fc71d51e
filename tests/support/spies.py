"""Looking at third-party objects through their public surface only: the arguments our code gave
a library class, and an ASHA scheduler's rungs as its `debug_string()` states them."""

from __future__ import annotations

import re
from typing import Any


def record_constructions(monkeypatch: Any, owner: Any, name: str) -> list[dict[str, Any]]:
    """Replace the class `owner.name` by a subclass that records the arguments of every instance
    made (positional ones under "args"); the instances still are the real class's."""
    real = getattr(owner, name)
    calls: list[dict[str, Any]] = []

    class Recorded(real):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append({"args": args, **kwargs})
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(owner, name, Recorded)
    return calls


def rung_cutoffs(scheduler: Any) -> dict[float, float | None]:
    """Milestone -> the value a trial must reach there to continue (None: no result recorded yet),
    parsed from an ASHA-family scheduler's public `debug_string()`. The cutoff is the
    (1 - 1/reduction_factor) percentile of the results recorded at the rung.

    >>> class Fake:
    ...     def debug_string(self):
    ...         return "Using AsyncHyperBand: num_stopped=0\\nBracket: Iter 3.000: None | Iter 1.000: 0.5"
    >>> rung_cutoffs(Fake())
    {3.0: None, 1.0: 0.5}
    """
    found = re.findall(r"Iter ([\d.]+): (\S+)", scheduler.debug_string())
    return {float(m): None if c == "None" else float(c) for m, c in found}
