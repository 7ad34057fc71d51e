"""The first search-efficiency benchmark's searchers on a table of learning curves (no training),
kept as a reference: `benchmarks.replay` (the sweep's samplers and Ray schedulers themselves)
replaced it in `benchmarks.search_efficiency` and is checked against it where both should agree
(random search and TPE without stopping, one trial at a time). Its `Curve` and `Table` are the
table types of both.

A `Table` maps each grid config `(rho, m)` to its `Curve`. A searcher runs `budget` trials one
after another; each trial looks its curve up (exact: the searchers sample only the grid's values)
and costs the epochs it ran: `grad_evals` at that epoch and the sum of its `epoch_seconds`.

- `grid`: the grid in a fixed order shuffled by the search seed (the first `budget` configs);
- `random`: Optuna's `RandomSampler` over the grid's values as categoricals;
- `tpe`: Optuna's `TPESampler` over the same space, `n_startup_trials` sized to the budget as the
  launcher does (`tpe_startup`);
- `tpe_asha`: `tpe` with Optuna's `SuccessiveHalvingPruner` (grace period 5, reduction factor 3,
  as the demo's ASHA) fed `val_acc` epoch by epoch; a pruned trial costs only its epochs.

A configuration sampled twice is trained (and paid for) twice, as the launcher would. The pick is
the best completed trial by final `val_acc` (ties: the earlier trial), as `sweeps.results.selection`;
`test_acc` is read only to score the pick.

Example:
    >>> c = Curve(val_acc=(0.5, 0.6), epoch_seconds=(1.0, 2.0), grad_evals=(30, 60), test_acc=0.7)
    >>> c.cost(1), c.cost(2)
    ((30, 1.0), (60, 3.0))
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEARCHERS = ("grid", "random", "tpe", "tpe_asha")
GRACE_PERIOD, REDUCTION_FACTOR = 5, 3  # the demo's ASHA (search_spaces/fashion_label_noise.yaml)
Config = tuple[float, int]  # (rho, perturb_batch_size)


@dataclass(frozen=True)
class Curve:
    """One config's run: per-epoch `val_acc`, `epoch_seconds`, cumulative `grad_evals`."""

    val_acc: tuple[float, ...]
    epoch_seconds: tuple[float, ...]
    grad_evals: tuple[int, ...]
    test_acc: float

    @property
    def epochs(self) -> int:
        return len(self.val_acc)

    def cost(self, epochs: int) -> tuple[int, float]:
        """(grad evals, training seconds) of the first `epochs` epochs."""
        return self.grad_evals[epochs - 1], sum(self.epoch_seconds[:epochs])


Table = dict[Config, Curve]


@dataclass(frozen=True)
class Trial:
    """One trial of a search: the config, how many epochs it ran and what they cost."""

    config: Config
    epochs: int
    completed: bool
    val_acc: float  # at its last epoch run
    grad_evals: int
    seconds: float


def tpe_startup(budget: int) -> int:
    """TPE's random start-up trials for a budget (as `sweeps.execution.runner._searcher`)."""
    return max(1, min(10, budget // 3))


def grid_best(table: Table) -> tuple[Config, Curve]:
    """The grid's best config by final `val_acc` (ties: the smaller config)."""
    return max(sorted(table.items()), key=lambda kv: kv[1].val_acc[-1])


def full_trial(config: Config, curve: Curve) -> Trial:
    """A trial that ran every epoch of `curve`."""
    ge, s = curve.cost(curve.epochs)
    return Trial(config, curve.epochs, True, curve.val_acc[-1], ge, s)


def grid_search(table: Table, budget: int, seed: int) -> list[Trial]:
    """The first `budget` configs of the grid in an order shuffled by `seed`."""
    order = sorted(table)
    random.Random(seed).shuffle(order)
    return [full_trial(c, table[c]) for c in order[:budget]]


def optuna_search(table: Table, budget: int, seed: int, kind: str) -> list[Trial]:
    """`budget` trials of Optuna's `kind` ('random', 'tpe' or 'tpe_asha') on the table."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rhos, ms = sorted({c[0] for c in table}), sorted({c[1] for c in table})
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.RandomSampler(seed=seed) if kind == "random"
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=tpe_startup(budget)))
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.SuccessiveHalvingPruner(min_resource=GRACE_PERIOD,
                                               reduction_factor=REDUCTION_FACTOR)
        if kind == "tpe_asha" else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    trials: list[Trial] = []

    def objective(t: optuna.Trial) -> float:
        config = (t.suggest_categorical("rho", rhos), t.suggest_categorical("m", ms))
        curve = table[config]
        for epoch, acc in enumerate(curve.val_acc, start=1):
            t.report(acc, epoch)
            if epoch < curve.epochs and t.should_prune():
                ge, s = curve.cost(epoch)
                trials.append(Trial(config, epoch, False, acc, ge, s))
                raise optuna.TrialPruned()
        trials.append(full_trial(config, curve))
        return curve.val_acc[-1]

    study.optimize(objective, n_trials=budget)
    return trials


def run_search(table: Table, searcher: str, budget: int, seed: int) -> list[Trial]:
    """The trials of one search, in the order they ran."""
    if searcher == "grid":
        return grid_search(table, budget, seed)
    if searcher in SEARCHERS:
        return optuna_search(table, budget, seed, searcher)
    raise ValueError(f"unknown searcher {searcher!r}; one of {SEARCHERS}")


def pick(trials: Sequence[Trial]) -> Trial | None:
    """The best completed trial by final `val_acc` (ties: the earlier one); None if none."""
    done = [t for t in trials if t.completed]
    return max(done, key=lambda t: t.val_acc) if done else None  # max keeps the first of ties


def trace(trials: Sequence[Trial]) -> list[tuple[int, float, float | None]]:
    """After each trial: (cumulative grad evals, cumulative seconds, best completed val_acc)."""
    out: list[tuple[int, float, float | None]] = []
    ge, s, best = 0, 0.0, None
    for t in trials:
        ge, s = ge + t.grad_evals, s + t.seconds
        if t.completed and (best is None or t.val_acc > best):
            best = t.val_acc
        out.append((ge, s, best))
    return out


def compute_to_reach(trials: Sequence[Trial], target: float) -> tuple[int, float] | None:
    """(grad evals, seconds) spent when a completed trial first reaches `target`; None if never."""
    for ge, s, best in trace(trials):
        if best is not None and best >= target:
            return ge, s
    return None


def summarize(table: Table, trials: Sequence[Trial], tolerance: float = 0.005) -> dict[str, Any]:
    """One search's figures: compute spent and to reach the grid's best - `tolerance`, the pick's
    validation and test accuracy."""
    target = grid_best(table)[1].val_acc[-1] - tolerance
    chosen = pick(trials)
    reach = compute_to_reach(trials, target)
    last = trace(trials)[-1] if trials else (0, 0.0, None)
    return {"grad_evals": last[0], "seconds": last[1],
            "reach_grad_evals": reach[0] if reach else None,
            "reach_seconds": reach[1] if reach else None,
            "pick": chosen.config if chosen else None,
            "pick_val": chosen.val_acc if chosen else None,
            "pick_test": table[chosen.config].test_acc if chosen else None,
            "pruned": sum(not t.completed for t in trials)}
