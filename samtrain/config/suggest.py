""""Did you mean": the allowed name closest to a misspelled one, for one-line error messages.

A key or value is matched against the allowed ones by `difflib.get_close_matches` (Python's
standard sequence matcher); a few values people write by another name get their name
(`perturbation: sam` is spelled `ascent` here).

Example:
    >>> did_you_mean("rh0", ["rho", "lr", "epochs"])
    "did you mean 'rho'?"
    >>> did_you_mean("sam", ["none", "ascent", "obf", "random"], key="perturbation")
    "did you mean 'ascent'?"
    >>> did_you_mean("zzz", ["rho"])
    ''
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "closest", "VALUE_ALIASES"]

# values written under another name (a method's name for its perturbation), per key
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "perturbation": {"sam": "ascent", "asam": "ascent", "gsam": "ascent", "sgd": "none",
                     "adamw": "none", "randsam": "random", "rand": "random"},
}


def closest(value: object, allowed: Iterable[object], key: str | None = None) -> str | None:
    """The allowed name `value` most likely meant (an alias of `key`, else the closest spelling
    with a similarity of at least 0.6), or None."""
    names = [str(a) for a in allowed]
    text = str(value)
    alias = VALUE_ALIASES.get(key or "", {}).get(text.lower())
    if alias in names:
        return alias
    lowered = {n.lower(): n for n in names}
    if text.lower() in lowered and lowered[text.lower()] != text:
        return lowered[text.lower()]
    found = difflib.get_close_matches(text, names, n=1)
    return found[0] if found else None


def did_you_mean(value: object, allowed: Iterable[object], key: str | None = None) -> str:
    """`"did you mean 'X'?"` for the closest allowed name, or `''` when none is close."""
    match = closest(value, allowed, key)
    return f"did you mean {match!r}?" if match is not None else ""
