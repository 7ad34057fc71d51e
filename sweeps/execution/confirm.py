"""`sweep confirm`: re-run the winning configs of each method with fresh seeds.

The winners are `sweeps.results.selection`'s (search phase, validation metric). Each is run with seeds
never used by the search (its search seed + 1, + 2, ...), so the run that selected a config is
never part of the mean reported for it (no winner's curse), and every method gets the same seeds
(so comparisons can be paired by seed). A cell is `(config, seed)`; a cell holding a completed
full-length or a diverged confirm run is not run again, so re-running `confirm` fills only what
is missing; an interrupted `confirm` experiment is resumed first.

Example:
    $ sweep confirm tiny --top 1 --seeds 3
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from samtrain.config import TrainConfig
from sweeps.results.selection import scoring_runs, winners
from sweeps.store.schema import Phase, RunRecord, RunStatus, train_config_of
from sweeps.store.sweep_dir import SweepDir
from sweeps.study.spec import StudySpec


def confirm_seeds(search_seed: int, seeds: int) -> list[int]:
    """The confirm seeds of a config searched with `search_seed`: never the search seed.

    >>> confirm_seeds(0, 3)
    [1, 2, 3]
    """
    return [search_seed + i for i in range(1, seeds + 1)]


def missing_cells(study: StudySpec, records: Sequence[RunRecord], top: int, seeds: int
                  ) -> list[tuple[str, TrainConfig, str]]:
    """`(method, cfg, "confirm")` for every (winning config, confirm seed) without a run that
    completed or diverged (a diverged seed would diverge again: it is reported, not re-run)."""
    done = {(r.group_key, r.seed) for r in scoring_runs(records, study.metric, Phase.CONFIRM)}
    done |= {(r.group_key, r.seed) for r in records
             if r.phase == Phase.CONFIRM and r.status == RunStatus.DIVERGED}
    trials = []
    for method, scores in winners(records, study.metric, study.mode, top).items():
        for s in scores:
            cfg = train_config_of(s.params)
            for seed in confirm_seeds(cfg.seed, seeds):
                if (s.group_key, seed) not in done:
                    trials.append((method, cfg.model_copy(update={"seed": seed}), str(Phase.CONFIRM)))
    return trials


def confirm_sweep(name: str, storage: str, tracking_uri: str | None, top: int,
                  seeds: int | None, address: str | None = None) -> list:
    """Run the missing cells of sweep `name`; returns Tune's results of the runs started.

    `seeds` None: the study's `confirm_seeds`, else 3.
    """
    from sweeps.execution.runner import run_configs, stored_trials
    from sweeps.store.reader import load_records
    from sweeps.store.records import read_sweep

    sweep = read_sweep(name, storage, tracking_uri, history=False)
    study, meta, d, uri = sweep.study, sweep.meta, sweep.dir, sweep.tracking_uri
    seeds = seeds or study.confirm_seeds or 3
    run = functools.partial(run_configs, name, storage=storage, tracking_uri=uri,
                            resources=study.resources, sweep_id=meta.sweep_id, address=address,
                            max_failures=study.max_failures,
                            checkpoint_interval_s=study.checkpoint_interval_s)
    results = []
    interrupted = _interrupted_confirm(d)
    if interrupted is not None:  # an earlier `confirm` that did not finish: resume it first
        print(f"sweep {name!r}: resuming the unfinished {interrupted}")
        results += list(run(experiment=interrupted, trials=stored_trials(d.at(interrupted))))
    records = sweep.records
    if interrupted is not None:  # what the resumed runs added
        _, records = load_records(uri, name, meta.sweep_id, history=False)
    trials = missing_cells(study, records, top, seeds)
    if not trials:
        print(f"sweep {name!r}: every confirm cell is filled ({top} config(s) x {seeds} seeds)")
        return results
    k = len(d.experiments("confirm-"))
    print(f"sweep {name!r}: running {len(trials)} confirm runs (fresh seeds "
          f"{', '.join(str(s) for s in sorted({c.seed for _, c, _ in trials}))})")
    return results + list(run(experiment=f"confirm-{k}", trials=trials))


def _interrupted_confirm(d: SweepDir) -> str | None:
    """The latest `confirm-K` experiment if some of its trials never finished."""
    from ray import tune

    made = sorted(d.experiments("confirm-"), key=lambda n: int(n.split("-")[1]))
    if not made or not tune.Tuner.can_restore(d.at(made[-1])):
        return None
    trials = tune.ExperimentAnalysis(d.at(made[-1])).trials
    return made[-1] if any(t.status != "TERMINATED" for t in trials) else None
