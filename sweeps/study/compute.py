"""Equal-compute arms: the baseline trained as long as each SAM-family method computes.

A SAM-family step (SAM, ASAM, GSAM, OBF) costs two gradient evaluations, the ascent and the
update; RandSAM's first pass is forward-only, and its step costs 1.41 SGD steps as measured on
this project's CPU benchmark (benchmarks/RESULTS.md, "step overhead": 1.41-1.42); SGD's costs
one. With `compute_matched: true` a study gains, for each distinct cost factor f > 1 among its
methods, the arm `<baseline>_x<f>`: the baseline's config with `epochs` and `warmup_epochs`
times f (its learning-rate schedule stretched over the longer run), searched over the
baseline's space and confirmed like any method. The report compares every method with the
equal-epoch baseline and with the arm of its own factor (Foret et al. 2021 compare SAM with SGD
at equal epochs; "twice the compute" is the first objection to that).

Example:
    >>> step_cost({"perturbation": "obf"}), step_cost({"perturbation": "random"})
    (2.0, 1.41)
    >>> arm_name("sgd", 2.0), stretched({"epochs": 40, "warmup_epochs": 1.0}, 2.0)
    ('sgd_x2', {'epochs': 80, 'warmup_epochs': 2.0})
"""

from __future__ import annotations

from typing import Any

__all__ = ["RANDSAM_STEP_COST", "step_cost", "arm_name", "stretched"]

RANDSAM_STEP_COST = 1.41  # measured: a RandSAM step / an SGD step (benchmarks/RESULTS.md)


def step_cost(values: dict[str, Any]) -> float:
    """Gradient evaluations of one step of a config (its `perturbation`), SGD's being 1."""
    perturbation = values.get("perturbation", "ascent")
    if perturbation == "none":
        return 1.0
    if perturbation == "random":
        return RANDSAM_STEP_COST
    return 2.0


def arm_name(baseline: str, factor: float) -> str:
    """The equal-compute arm's method name: `<baseline>_x<factor>`."""
    return f"{baseline}_x{factor:g}"


def stretched(values: dict[str, Any], factor: float) -> dict[str, Any]:
    """`epochs` and `warmup_epochs` of a config times `factor` (epochs rounded)."""
    return {"epochs": max(1, round(values["epochs"] * factor)),
            "warmup_epochs": values.get("warmup_epochs", 0.0) * factor}
