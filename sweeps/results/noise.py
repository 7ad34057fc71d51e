"""How much of "the winner" is validation noise: the standard error of a config's validation
score, and the configs that cannot be told apart from the best.

A config's score (`sweeps.results.selection`) is the mean final validation metric of its
completed full-length search runs. Its standard error is

- across runs, when the config has several (seeds): sample std / sqrt(n);
- binomial, for an accuracy from one run: sqrt(p (1 - p) / n_val), with `n_val` the validation
  examples the run scored (its `val_examples` metric; else its `val_size` param when a count);
- undefined (NaN) otherwise (a loss from one run).

The configs of a method indistinguishable from its best are those whose score lies within one
standard error of the best score (the best's SE: the one-standard-error rule of Breiman et al.
1984 and Hastie et al., ESL 7.10). With an undefined SE only the best itself is in the set.

Example:
    >>> round(binomial_se(0.5, 2000), 4)
    0.0112
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.results.selection import ConfigScore, rank_configs
from sweeps.store.schema import RunRecord

__all__ = ["binomial_se", "validation_examples", "score_se", "NoisyBest", "noisy_best"]


def binomial_se(p: float, n: float) -> float:
    """sqrt(p (1 - p) / n): the SE of an accuracy measured on `n` examples (NaN for n < 1)."""
    if not n or n < 1 or not 0.0 <= p <= 1.0:
        return math.nan
    return math.sqrt(p * (1.0 - p) / n)


def validation_examples(score: ConfigScore) -> float:
    """How many validation examples the config's runs scored (NaN when unknown)."""
    run = score.runs[0]
    n = run.final.get("val_examples")
    if n is None and isinstance(run.params.get("val_size"), int) and not isinstance(
            run.params.get("val_size"), bool):
        n = run.params["val_size"]
    return float(n) if n is not None else math.nan


def score_se(score: ConfigScore, metric: str) -> float:
    """The standard error of `score` (see the module docstring).

    >>> runs = tuple(RunRecord(f"r{i}", "sam", "search", "completed", "k", i, {"epochs": 2},
    ...                        {"epoch": 2, "val_acc": v}) for i, v in enumerate([0.5, 0.6]))
    >>> round(score_se(ConfigScore("sam", "k", 0.55, runs), "val_acc"), 4)
    0.05
    """
    values = [r.final[metric] for r in score.runs]
    if len(values) > 1:
        return statistics.stdev(values) / math.sqrt(len(values))
    if metric.endswith("_acc"):
        return binomial_se(values[0], validation_examples(score))
    return math.nan


@dataclass(frozen=True)
class NoisyBest:
    """A method's best config, its SE, and every config within one SE of it (best first)."""

    best: ConfigScore
    se: float
    indistinguishable: tuple[ConfigScore, ...]
    n_configs: int  # configs of the method that have a score


def noisy_best(records: Sequence[RunRecord], metric: str, mode: str) -> dict[str, NoisyBest]:
    """Per method: its best config, the best's SE and the configs within one SE of it."""
    by_method: dict[str, list[ConfigScore]] = {}
    for s in rank_configs(records, metric, mode):
        by_method.setdefault(s.method, []).append(s)
    out = {}
    for method, ranked in by_method.items():
        best = ranked[0]
        se = score_se(best, metric)
        close = tuple(s for s in ranked if s is best or abs(s.score - best.score) <= se)
        out[method] = NoisyBest(best, se, close, len(ranked))
    return out
