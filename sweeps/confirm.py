"""`sweep confirm`: re-run the winning configs of each method with fresh seeds.

The winners are `sweeps.selection`'s (search phase, validation metric). Each is run with seeds
never used by the search (its search seed + 1, + 2, ...), so the run that selected a config is
never part of the mean reported for it (no winner's curse), and every method gets the same seeds
(so comparisons can be paired by seed). A cell is `(config, seed)`; a cell holding a completed
full-length confirm run is not run again, so re-running `confirm` fills only what is missing.

Example:
    $ sweep confirm tiny --top 1 --seeds 3
"""

from __future__ import annotations

from collections.abc import Sequence

from samtrain.config import TrainConfig
from sweeps.selection import scoring_runs, winners
from sweeps.store.reader import RunRecord, train_config_of
from sweeps.store.schema import Phase
from sweeps.study import StudySpec


def confirm_seeds(search_seed: int, seeds: int) -> list[int]:
    """The confirm seeds of a config searched with `search_seed`: never the search seed.

    >>> confirm_seeds(0, 3)
    [1, 2, 3]
    """
    return [search_seed + i for i in range(1, seeds + 1)]


def missing_cells(study: StudySpec, records: Sequence[RunRecord], top: int, seeds: int
                  ) -> list[tuple[str, TrainConfig, str]]:
    """`(method, cfg, "confirm")` for every (winning config, confirm seed) without a run."""
    done = {(r.group_key, r.seed) for r in scoring_runs(records, study.metric, Phase.CONFIRM)}
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
    from sweeps.runner import deliver, run_configs
    from sweeps.store.reader import load_records
    from sweeps.sweep_dir import open_sweep

    study, meta, d = open_sweep(name, storage)
    seeds = seeds or study.confirm_seeds or 3
    uri = tracking_uri or meta.tracking_uri
    deliver(meta, d)
    _, records = load_records(uri, name, meta.sweep_id)
    trials = missing_cells(study, records, top, seeds)
    if not trials:
        print(f"sweep {name!r}: every confirm cell is filled ({top} config(s) x {seeds} seeds)")
        return []
    k = len(list(d.root.glob("confirm-*")))
    print(f"sweep {name!r}: running {len(trials)} confirm runs (fresh seeds "
          f"{', '.join(str(s) for s in sorted({c.seed for _, c, _ in trials}))})")
    grid = run_configs(name, f"confirm-{k}", storage, uri, trials, study.resources,
                       sweep_id=meta.sweep_id, address=address, max_failures=study.max_failures,
                       checkpoint_interval_s=study.checkpoint_interval_s)
    return list(grid)
