"""Every error a user's input can cause: one line naming the key, the value and what is allowed.

`sweep` turns each of them into that line on stderr and exit code 2, before anything starts or is
written (`sweeps.cli.main`). This module imports nothing, so every layer may raise them.

Example:
    >>> raise SweepError("--storage: value '' is invalid: it is empty; give a directory")
    Traceback (most recent call last):
    sweeps.errors.SweepError: --storage: value '' is invalid: it is empty; give a directory
"""

from __future__ import annotations

__all__ = ["UserError", "SpaceError", "SweepError", "SweepNotTracked", "ResourceError"]


class UserError(Exception):
    """Bad input; `str(e)` is one line naming the key, the value and what is allowed."""


class SpaceError(UserError, ValueError):
    """An invalid study file or search space."""


class SweepError(UserError, RuntimeError):
    """A sweep cannot be started, resumed or read (names, storage, tracking URI, Ray address)."""


class SweepNotTracked(UserError, LookupError):
    """The tracking store holds no experiment or parent run of the sweep."""


class ResourceError(UserError, RuntimeError):
    """A trial's resource request cannot fit on the cluster; the message says what and why."""
