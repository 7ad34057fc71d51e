"""Validate SAM-family hyperparameters with `samtrain.config.sam_schema.SAMHParams` (where every rule is
written once) and report the first broken rule as a one-line `ValueError` naming key and value.

Example:
    >>> validated(rho=0.1, obf_C=10).obf_C
    10.0
    >>> validated(rho=-1)
    Traceback (most recent call last):
    ...
    ValueError: rho=-1 is invalid: must be >= 0
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from samtrain.config.error_messages import first_error
from samtrain.config.sam_schema import SAMHParams


def validated(**values: Any) -> SAMHParams:
    """`SAMHParams(**values)`; a broken rule raises `ValueError("key=value is invalid: rule")`, a
    broken rule between keys `ValueError("invalid SAM hyperparameters: rule")`."""
    try:
        return SAMHParams(**values)
    except ValidationError as e:
        key, value, rule, _ = first_error(e)
        if not key:
            raise ValueError(f"invalid SAM hyperparameters: {rule}") from None
        raise ValueError(f"{key}={value!r} is invalid: {rule}") from None
