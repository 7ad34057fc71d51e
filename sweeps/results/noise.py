"""How much of "the winner" is validation noise: the standard error of a config's validation
score, and the configs that cannot be told apart from the best.

A config's score (`sweeps.results.selection`) is the mean final validation metric of its
completed full-length search runs. Its standard error is

- across runs, when the config has several (seeds): sample std / sqrt(n);
- binomial, for an accuracy from one run: sqrt(p (1 - p) / n_val), with `n_val` the validation
  examples the run scored (its `val_examples` metric; else its `val_size` param when a count);
- undefined (NaN) otherwise (a loss from one run).

The configs of a method indistinguishable from its best are those whose score lies within one
standard error of the best score (the one-standard-error rule of Breiman et al. 1984 and Hastie
et al., ESL 7.10). Every config is scored on the same validation images, so the SE that matters
is that of the PAIRED difference between a config and the best. When both configs' runs
recorded `val_correct` (which validation examples the final model got right,
`samtrain.engine.epoch.correct_bitmask`) on the same n images, it is McNemar's (McNemar 1947; Dietterich
1998): with b the images only the best gets right and c those only the other gets right (first
runs of each config),

    Var(d) = (b + c - (b - c)^2 / n) / n^2,

plus, where the configs have several runs (seeds), the seed variance of each config's mean
(s_a^2 / n_a + s_b^2 / n_b). Otherwise (old runs without the bitmask, a loss metric) the set
falls back to the best's own SE above, and `NoisyBest.se_kind` says which was used. With an
undefined SE only the best itself is in the set.

Example:
    >>> round(binomial_se(0.5, 2000), 4)
    0.0112
    >>> round(paired_difference_se(correct_mask("n4:f0"), correct_mask("n4:c0")), 4)  # b=2, c=0
    0.25
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sweeps.results.selection import ConfigScore, rank_configs
from sweeps.store.schema import RunRecord

__all__ = ["binomial_se", "validation_examples", "score_se", "NoisyBest", "noisy_best",
           "correct_mask", "paired_difference_se", "difference_se", "VAL_CORRECT"]

VAL_CORRECT = "val_correct"  # the run param of the final model's per-example validation hits


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


def correct_mask(text: object) -> np.ndarray | None:
    """A `val_correct` param (`n<count>:<hex>`) as a bool array; None when absent or malformed.

    >>> correct_mask("n9:b080").astype(int).tolist()
    [1, 0, 1, 1, 0, 0, 0, 0, 1]
    """
    if not isinstance(text, str) or not text.startswith("n") or ":" not in text:
        return None
    count, _, hexed = text[1:].partition(":")
    try:
        n, raw = int(count), bytes.fromhex(hexed)
    except ValueError:
        return None
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    return bits[:n].astype(bool) if bits.size >= n else None


def paired_difference_se(a: np.ndarray, b: np.ndarray) -> float:
    """The SE of acc(a) - acc(b) on the same n images, from the discordant counts (see the
    module docstring); NaN when the masks differ in length."""
    if a.size != b.size or a.size == 0:
        return math.nan
    n, only_a, only_b = a.size, int((a & ~b).sum()), int((~a & b).sum())
    var = (only_a + only_b - (only_a - only_b) ** 2 / n) / n ** 2
    return math.sqrt(max(var, 0.0))


def _seed_var(score: ConfigScore, metric: str) -> float:
    values = [r.final[metric] for r in score.runs]
    return statistics.variance(values) / len(values) if len(values) > 1 else 0.0


def difference_se(a: ConfigScore, b: ConfigScore, metric: str) -> float:
    """The SE of score(a) - score(b) when both configs' first runs carry `val_correct` on the
    same images (plus seed variance), else NaN."""
    ma, mb = (correct_mask(s.runs[0].params.get(VAL_CORRECT)) for s in (a, b))
    if ma is None or mb is None or not metric.endswith("_acc"):
        return math.nan
    se = paired_difference_se(ma, mb)
    return math.sqrt(se ** 2 + _seed_var(a, metric) + _seed_var(b, metric))


@dataclass(frozen=True)
class NoisyBest:
    """A method's best config, its SE, every config within one SE of it (best first), and the
    paired SE of each config's difference to the best (by group key) where it is known."""

    best: ConfigScore
    se: float
    indistinguishable: tuple[ConfigScore, ...]
    n_configs: int  # configs of the method that have a score
    diff_se: dict[str, float] = field(default_factory=dict)
    se_kind: str = "own"   # "paired" (val_correct bitmasks) or "own" (the best's SE)


def _close(ranked: list[ConfigScore], se: float, metric: str) -> tuple[tuple[ConfigScore, ...],
                                                                        dict[str, float], str]:
    best = ranked[0]
    diff = {s.group_key: difference_se(s, best, metric) for s in ranked[1:]}
    paired = bool(diff) and all(math.isfinite(v) for v in diff.values())
    bound = diff if paired else {k: se for k in diff}
    close = (best, *(s for s in ranked[1:] if abs(s.score - best.score) <= bound[s.group_key]))
    return close, diff if paired else {}, "paired" if paired else "own"


def noisy_best(records: Sequence[RunRecord], metric: str, mode: str) -> dict[str, NoisyBest]:
    """Per method: its best config, the best's SE and the configs within one SE of it."""
    by_method: dict[str, list[ConfigScore]] = {}
    for s in rank_configs(records, metric, mode):
        by_method.setdefault(s.method, []).append(s)
    out = {}
    for method, ranked in by_method.items():
        se = score_se(ranked[0], metric)
        close, diff, kind = _close(ranked, se, metric)
        out[method] = NoisyBest(ranked[0], se, close, len(ranked), diff, kind)
    return out
