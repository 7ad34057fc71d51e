"""One-line messages from pydantic's errors: the key, the value and what is allowed (for `ConfigError`).

Every message names the key, the value and what is allowed, on one line.

Example:
    >>> from pydantic import BaseModel, Field, ValidationError
    >>> class M(BaseModel):
    ...     rho: float = Field(0.0, ge=0)
    >>> try:
    ...     M(rho=-1)
    ... except ValidationError as e:
    ...     print(format_validation_error(e))
    key 'rho': value -1 is invalid: must be >= 0
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from samtrain.config.suggest import did_you_mean

_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def first_error(err: ValidationError) -> tuple[str, Any, str, str]:
    """`(dotted key, offending value, rule, pydantic error type)` of the first error."""
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    msg = e["msg"].removeprefix("Value error, ")
    for should in ("Input should be ", "input should be "):
        if msg.startswith(should):
            msg = "must be " + msg.removeprefix(should)
    bound = _BOUNDS.get(e["type"])
    if bound is not None:
        limit = e.get("ctx", {}).get(bound[1])
        msg = f"must be {bound[0]} {limit:g}" if isinstance(limit, int | float) else msg
    return loc, e.get("input"), " ".join(msg.split()), e["type"]


def format_validation_error(err: ValidationError, allowed_keys: Iterable[str] = (),
                            prefix: str = "") -> str:
    """First pydantic error as one line: `key 'k': value v is invalid: rule`.

    An unknown key lists `allowed_keys`; a model-level error (no key) is `invalid config: rule`.
    `prefix` (e.g. `methods.sam.`) is put before the key.
    """
    loc, value, msg, kind = first_error(err)
    where = f"{prefix}{loc}"
    if kind == "extra_forbidden":
        return f"unknown key {where!r} (value {value!r}); {unknown_key_hint(loc, allowed_keys)}"
    if kind == "missing":
        return f"key {where!r}: required key is missing"
    if not loc:
        return f"invalid {prefix.rstrip('.') or 'config'}: {msg}"
    return f"key {where!r}: value {value!r} is invalid: {msg}{choice_hint(loc, value, msg, kind)}"


def unknown_key_hint(key: str, allowed_keys: Iterable[str]) -> str:
    """`did you mean 'rho'?` for a misspelled key, else the allowed keys.

    >>> unknown_key_hint("rh0", ["rho", "lr"]), unknown_key_hint("zz", ["rho", "lr"])
    ("did you mean 'rho'?", 'allowed keys: lr, rho')
    """
    allowed = sorted(allowed_keys)
    return did_you_mean(key.rsplit(".", 1)[-1], allowed) or f"allowed keys: {', '.join(allowed)}"


def choice_hint(key: str, value: Any, msg: str, kind: str) -> str:
    """`; did you mean 'ascent'?` for a value outside a fixed set of choices (pydantic's
    `literal_error`), else `''`."""
    if kind != "literal_error" or not isinstance(value, str):
        return ""
    hint = did_you_mean(value, re.findall(r"'([^']*)'", msg), key=key.rsplit(".", 1)[-1])
    return f"; {hint}" if hint else ""
