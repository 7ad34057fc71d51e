"""Equal-compute arms: the baseline given each SAM-family method's budget as a cap to spend.

One cost unit throughout: gradient evaluations counted per pass over a batch, a forward and
backward pass being 1 and a forward-only pass 1/3 (a backward pass costs about twice the
forward's FLOPs; Kaplan et al. 2020, "Scaling Laws for Neural Language Models", sec. 2.1). An
SGD step costs 1; a SAM-family step (SAM, ASAM, GSAM, OBF) 2, the ascent and the update;
RandSAM's step 4/3, a forward-only clean pass and one forward-backward pass at the randomly
perturbed point; a step policy that perturbs on some steps only (every k, with a probability,
LookSAM) its planned mean; Momentum-SAM 1. The plan is samtrain's
(`samtrain.config.sam_schema.expected_grad_evals`); the runs' `grad_evals` metric counts what they
made in the same unit. Where only the run can tell (AE-SAM decides from its gradients), the arm
gets the most the method can spend, a perturbing step's cost; where the method searches a knob
that changes its cost (e.g. LookSAM's k), the most over its space's extremes.

With `compute_matched: true` a study gains, for each distinct cost factor f > 1 among its
methods, the arm `<baseline>_x<f>` (`sgd_x2`, `sgd_x1.33`). Its budget is a cap, not an order
(a run given more compute may stop earlier): the arm searches `epochs` as an integer in
[E, round(f * E)], E the baseline's epochs, besides the baseline's own and the shared space,
with the same trial count as every method, and is selected on validation like any method. Its
warmup scales with the epochs it samples and its learning-rate schedule spans its own epochs.
The report compares every method with the equal-epoch baseline and with the arm of its own
factor (Foret et al. 2021 compare SAM with SGD at equal epochs; "twice the compute" is the
first objection to that).

Example:
    >>> step_cost({"perturbation": "obf"}), round(step_cost({"perturbation": "random"}), 4)
    (2.0, 1.3333)
    >>> step_cost({"perturb_policy": "looksam", "perturb_every": 5}), step_cost(
    ...     {"perturbation": "momentum"}), step_cost({"perturb_policy": "aesam"})
    (1.2, 1.0, 2.0)
    >>> arm_name("sgd", 2.0), arm_name("sgd", 4 / 3), arm_epochs(40, 4 / 3)
    ('sgd_x2', 'sgd_x1.33', Int(low=40, high=53, log=False, values=None))
"""

from __future__ import annotations

import itertools
from typing import Any

from samtrain.config.sam_schema import expected_grad_evals
from samtrain.config.train_config import TrainConfig
from sweeps.errors import SpaceError
from sweeps.study.distributions import Dist, Fixed, Int
from sweeps.study.spec import MethodSpec, build_config
from sweeps.study.strategy import Grid, Sampler

__all__ = ["step_cost", "method_cost", "arm_name", "arm_epochs", "equal_compute_arms"]


def step_cost(values: dict[str, Any]) -> float:
    """Gradient evaluations a step of the config `values` plans on average, SGD's being 1; the
    most it can make where only the run can tell (see the module docstring)."""
    cfg = TrainConfig.build({k: v for k, v in values.items() if k != "seed"})
    cost = expected_grad_evals(cfg)
    if cost is None:  # decided from the gradients: every step may perturb
        cost = expected_grad_evals(cfg.model_copy(update={"perturb_policy": "always"}))
    assert cost is not None
    return cost


def method_cost(values: dict[str, Any], space: dict[str, Dist]) -> float:
    """The most a step of a method can cost: `step_cost` of its fixed `values` with every
    combination of its space's extremes."""
    axes = {k: d.extremes() for k, d in space.items() if not isinstance(d, Fixed)}
    fixed = {k: d.value for k, d in space.items() if isinstance(d, Fixed)}
    return max(step_cost({**values, **fixed, **dict(zip(axes, combo, strict=True))})
               for combo in itertools.product(*axes.values()))


def arm_name(baseline: str, factor: float) -> str:
    """The equal-compute arm's method name: `<baseline>_x<factor>` (2 decimals at most)."""
    return f"{baseline}_x{round(factor, 2):g}"


def arm_epochs(epochs: int, factor: float, sampler: Sampler | None = None) -> Dist:
    """The arm's `epochs`: an integer in [epochs, round(factor * epochs)] (fixed when that range
    is one value); a grid takes both ends."""
    high = max(epochs, round(epochs * factor))
    if high == epochs:
        return Fixed(epochs)
    return Int(epochs, high, values=(epochs, high) if isinstance(sampler, Grid) else None)


def _arm(baseline: MethodSpec, values: dict[str, Any], factor: float,
         sampler: Sampler) -> MethodSpec:
    """The baseline's method searching its epochs within the budget, warmup scaled with them."""
    cfg = build_config("compute_matched", values)
    return MethodSpec(fixed={**baseline.fixed, "epochs": cfg.epochs},
                      space={**baseline.space, "epochs": arm_epochs(cfg.epochs, factor, sampler)},
                      start_from=baseline.start_from,
                      warmup_fraction=cfg.warmup_epochs / cfg.epochs)


def equal_compute_arms(methods: dict[str, MethodSpec], base: dict[str, Any],
                       baseline: str | None, sampler: Sampler
                       ) -> tuple[dict[str, str], dict[str, float]]:
    """Add to `methods` the baseline arm of each cost factor > 1; return (method -> arm, arms)."""
    if baseline is None:
        raise SpaceError("compute_matched: value True needs a baseline method (set `baseline:` "
                         "or add a method with perturbation: none)")
    b = methods[baseline]
    plain = {**base, **b.fixed, **{k: d.value for k, d in b.space.items() if isinstance(d, Fixed)}}
    if step_cost(plain) != 1.0:
        raise SpaceError(f"compute_matched: value True needs a baseline without a perturbation; "
                         f"baseline {baseline!r} has perturbation {plain.get('perturbation')!r}")
    if "epochs" in b.sampled:
        raise SpaceError(f"compute_matched: value True searches the arm's epochs; the baseline "
                         f"{baseline!r} searches epochs already: fix them (base or fixed)")
    matched: dict[str, str] = {}
    arms: dict[str, float] = {}
    for name, m in list(methods.items()):
        factor = method_cost({**base, **m.fixed}, m.space)
        if name == baseline or factor == 1.0:
            continue
        arm = arm_name(baseline, factor)
        if arm not in arms:
            if arm in methods:
                raise SpaceError(f"methods.{arm}: method name {arm!r} is taken by the "
                                 "equal-compute arm of compute_matched; rename the method")
            methods[arm] = _arm(methods[baseline], plain, factor, sampler)
            arms[arm] = factor
        matched[name] = arm
    return matched, arms
