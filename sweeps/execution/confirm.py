"""`sweep confirm`: re-run the winning config of each method on fresh seeds and fresh data.

The winners are `sweeps.results.selection`'s (search phase, validation metric). A seed here sets
both `seed` and `data_seed` of the run, so what varies in practice varies: `data_seed` draws the
train/validation split (and `train_subset`) and the label-noise draw of both splits
(`samtrain.data.build`), `seed` the model's initialisation, the data order, dropout and RandSAM's
random perturbations (`samtrain.engine.loop`, `samtrain.engine.loaders`); the test split stays the dataset's
official one. The same seed gives every method the same data, so comparisons pair by seed.

`--top 1` runs each method's search winner on the confirm seeds (search seed + 1, + 2, ...).
`--top K > 1` first runs each method's K best configs (when it has more than one) on select
seeds (search seed + 1001, + 1002, ..., as many as the confirm seeds; `Phase.SELECT`), picks the
config with the best mean validation metric over them (`sweeps.results.selection.pick_among`),
and runs only that pick on the confirm seeds: seeds that chose a config never score it (no
winner's curse). A cell is `(config, seed)`; a cell holding a completed full-length or a
diverged run is not run again (a diverged seed would diverge again: it stays recorded, and the
report counts it as a failure), so re-running `confirm` fills only what is missing in both
stages; an interrupted `confirm` experiment is resumed first.

Example:
    $ sweep confirm tiny --top 2 --seeds 5
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SweepError
from sweeps.results.selection import ConfigScore, pick_among, scoring_runs, winners
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus, train_config_of
from sweeps.store.sweep_dir import SweepDir
from sweeps.study.spec import StudySpec

__all__ = ["SELECT_OFFSET", "confirm_seeds", "select_seeds", "seeded",
           "select_cells", "confirm_cells", "missing_cells", "confirm_sweep"]

SELECT_OFFSET = 1000  # select seeds start here above the search seed: never a confirm seed

Cell = tuple[str, TrainConfig, str]  # (method, config with its seeds, phase)


def confirm_seeds(search_seed: int, seeds: int) -> list[int]:
    """The confirm seeds of a config searched with `search_seed`: never the search seed.

    >>> confirm_seeds(0, 3)
    [1, 2, 3]
    """
    return [search_seed + i for i in range(1, seeds + 1)]


def select_seeds(search_seed: int, seeds: int) -> list[int]:
    """The select seeds of `--top K > 1`: disjoint from the search and the confirm seeds.

    >>> select_seeds(0, 3)
    [1001, 1002, 1003]
    """
    if seeds >= SELECT_OFFSET:
        raise SweepError(f"--seeds: value {seeds} is invalid: must be < {SELECT_OFFSET} (select "
                         "seeds must stay apart from the confirm seeds)")
    return [search_seed + SELECT_OFFSET + i for i in range(1, seeds + 1)]


def seeded(cfg: TrainConfig, seed: int) -> TrainConfig:
    """`cfg` with `seed` and `data_seed` both set to `seed` (its group key stays).

    >>> c = seeded(TrainConfig(), 4)
    >>> (c.seed, c.data_seed, c.group_key() == TrainConfig().group_key())
    (4, 4, True)
    """
    return cfg.model_copy(update={"seed": seed, "data_seed": seed})


def _done(records: Sequence[RunRecord], metric: str, phase: str) -> set[tuple[str, str, int | None]]:
    """(method, group_key, seed) of the cells of `phase` that completed or diverged."""
    kept = scoring_runs(records, metric, phase)
    kept += [r for r in records if r.phase == phase and r.status == RunStatus.DIVERGED]
    return {(r.method, r.group_key, r.seed) for r in kept}


def _cells(score: ConfigScore, seeds: list[int], phase: str,
           done: set[tuple[str, str, int | None]]) -> list[Cell]:
    cfg = train_config_of(score.params)
    return [(score.method, seeded(cfg, s), str(phase)) for s in seeds
            if (score.method, score.group_key, s) not in done]


def select_cells(study: StudySpec, records: Sequence[RunRecord], top: int, seeds: int
                 ) -> list[Cell]:
    """Missing select cells: each method's `top` configs x select seeds (none for a method with
    one config to choose from)."""
    done = _done(records, study.metric, Phase.SELECT)
    return [cell for scores in winners(records, study.metric, study.mode, top).values()
            if len(scores) > 1
            for s in scores
            for cell in _cells(s, select_seeds(train_config_of(s.params).seed, seeds),
                               Phase.SELECT, done)]


def confirm_cells(study: StudySpec, records: Sequence[RunRecord], top: int, seeds: int
                  ) -> list[Cell]:
    """Missing confirm cells of each method whose config is chosen: its search winner when it
    has one config to choose from, else the pick among its `top` once all their select cells
    are filled."""
    done = _done(records, study.metric, Phase.CONFIRM)
    waiting = {m for m, _, _ in select_cells(study, records, top, seeds)}
    out = []
    for method, scores in winners(records, study.metric, study.mode, top).items():
        if method in waiting:
            continue
        pick = scores[0] if len(scores) == 1 else pick_among(records, scores, study.metric,
                                                              study.mode)
        if pick is not None:
            out += _cells(pick, confirm_seeds(train_config_of(pick.params).seed, seeds),
                          Phase.CONFIRM, done)
    return out


def missing_cells(study: StudySpec, records: Sequence[RunRecord], top: int, seeds: int
                  ) -> list[Cell]:
    """What `confirm` would run now: the missing select cells, then the missing confirm cells of
    the methods whose choice is made."""
    return select_cells(study, records, top, seeds) + confirm_cells(study, records, top, seeds)


def confirm_sweep(name: str, storage: str, tracking_uri: str | None, top: int,
                  seeds: int | None, address: str | None = None) -> list:
    """Run the missing cells of sweep `name` (select, then confirm); returns Tune's results of
    the runs started. `seeds` None: the study's `confirm_seeds` (default 5)."""
    from sweeps.execution.runner import run_configs, stored_trials
    from sweeps.store.sweep_access import read_sweep

    sweep = read_sweep(name, storage, tracking_uri, history=False)
    study, meta, d, uri = sweep.study, sweep.meta, sweep.dir, sweep.tracking_uri
    seeds = seeds or study.confirm_seeds
    if top > 1:
        select_seeds(0, seeds)  # the seed count is checked before anything runs
    run = functools.partial(run_configs, name, storage=storage, tracking_uri=uri,
                            resources=study.resources, sweep_id=meta.sweep_id, address=address,
                            max_failures=study.max_failures,
                            checkpoint_interval_s=study.checkpoint_interval_s)
    results = []
    interrupted = _interrupted_confirm(d)
    if interrupted is not None:  # an earlier `confirm` that did not finish: resume it first
        print(f"sweep {name!r}: resuming the unfinished {interrupted}")
        results += list(run(experiment=interrupted, trials=stored_trials(d.at(interrupted))))
    records = sweep.records if interrupted is None else _reread(name, storage, uri)
    stages = ((select_cells, "select", "select seeds"), (confirm_cells, "confirm", "fresh seeds"))
    for cells_of, what, seeds_are in stages:
        trials = cells_of(study, records, top, seeds)
        if not trials:
            continue
        k = len(d.experiments("confirm-"))
        print(f"sweep {name!r}: running {len(trials)} {what} runs ({seeds_are} "
              f"{', '.join(str(s) for s in sorted({c.seed for _, c, _ in trials}))})")
        results += list(run(experiment=f"confirm-{k}", trials=trials))
        records = _reread(name, storage, uri)
    if not results:
        print(f"sweep {name!r}: every confirm cell is filled ({top} config(s) x {seeds} seeds)")
    return results


def _reread(name: str, storage: str, uri: str) -> list[RunRecord]:
    """The sweep's records after runs of this command (their pending writes delivered first)."""
    from sweeps.store.sweep_access import read_sweep

    return read_sweep(name, storage, uri, history=False).records


def _interrupted_confirm(d: SweepDir) -> str | None:
    """The latest `confirm-K` experiment if some of its trials never finished."""
    from ray import tune

    made = sorted(d.experiments("confirm-"), key=lambda n: int(n.split("-")[1]))
    if not made or not tune.Tuner.can_restore(d.at(made[-1])):
        return None
    trials = tune.ExperimentAnalysis(d.at(made[-1])).trials
    return made[-1] if any(t.status != "TERMINATED" for t in trials) else None
