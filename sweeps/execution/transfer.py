"""`sweep transfer`: fine-tune every method's confirmed checkpoints on the study's target with
one recipe, as Tune experiments of the sweep (`run_configs`: the trainable, MLflow callback and
resume of every other phase).

The sources are `sweeps.results.transfer.source_runs`: each method's pick's completed confirm
runs, one per confirm seed. Each confirm trial's final weights are its last Tune checkpoint
(the last epoch is always checkpointed, `samtrain.engine.loop`), in the trial's folder
`STORAGE/NAME/confirm-K/<method>-<trial id>/checkpoint_*/state.pt` (a multi-worker trial's
somewhere under `train/confirm-K-train-<trial id>/`, as Ray Train lays it out). A transfer run
is the study's `transfer:` recipe on the target (`sweeps.study.transfer_spec`) with the
source's model, seed and `init_from` its checkpoint; MLflow logs it as a child run of phase
`transfer`, its params the recipe, the target and `init_from` (which names the source trial).

With `transfer.lr_grid`, the lr is searched ONCE first: every candidate fine-tunes the
baseline's lowest confirm seed (`lr_reference`; phase `transfer-lr`), the best validation
metric picks it (`chosen_lr`), and every source then runs with it. Re-running `transfer` fills
only what is missing (a cell is method x confirm seed x config); a run that diverged stays
recorded and is not run again.

Example::

    plan = transfer_plan(sweep_records, d)   # checks everything, starts nothing
    run_transfer(name, storage, plan, address=None)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SweepError
from sweeps.results.transfer import chosen_lr, lr_reference, source_runs
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus
from sweeps.store.sweep_dir import SweepDir
from sweeps.study.spec import StudySpec, resource_values

__all__ = ["Source", "TransferPlan", "final_checkpoint", "transfer_plan", "transfer_cells",
           "run_transfer"]

Cell = tuple[str, TrainConfig, str]  # (method, config, phase), as `run_configs` takes them


@dataclass(frozen=True)
class Source:
    """One confirmed run to fine-tune: its method, confirm seed, MLflow run, checkpoint file."""

    method: str
    seed: int
    run: RunRecord
    checkpoint: Path


@dataclass(frozen=True)
class TransferPlan:
    """What `sweep transfer` runs: every source, and the lr search's reference source."""

    study: StudySpec
    sources: tuple[Source, ...]
    reference: Source | None


def final_checkpoint(d: SweepDir, run: RunRecord) -> Path | None:
    """The confirm run's final weights: the latest `checkpoint_*/state.pt` of its trial's
    folder (in-process trials), or of its Ray Train run (multi-worker trials); None if absent."""
    for pattern in (f"confirm-*/{run.method}-{run.trial_id}/checkpoint_*/state.pt",
                    f"train/confirm-*-train-{run.trial_id}/**/checkpoint_*/state.pt"):
        found = sorted(d.root.glob(pattern), key=lambda p: p.parent.name)
        if run.trial_id and found:
            return found[-1]
    return None


def transfer_plan(study: StudySpec, records: Sequence[RunRecord], d: SweepDir,
                  check_only: bool = False) -> TransferPlan:
    """Every method's sources with their checkpoints; a `SweepError` (one line) when the study
    has no `transfer:` block, a method has no completed confirm run or a checkpoint is gone
    (`check_only`: the block and the storage only, no sources)."""
    name = study.name
    if study.transfer is None:
        raise SweepError(f"transfer: the study of sweep {name!r} has no `transfer:` block; add "
                         "one (target and recipe, docs/transfer.md) to its study file")
    if d.mirror is not None:
        raise SweepError(f"--storage: sweep {name!r} is on object storage ({d.location}); "
                         "`sweep transfer` reads the confirm checkpoints from a local folder")
    if check_only:
        return TransferPlan(study, (), None)
    found = source_runs(records, study)
    missing = [m for m, by_seed in found.items() if not by_seed]
    if missing:
        raise SweepError(f"sweep {name!r}: method {missing[0]!r} has no completed confirm run "
                         f"to fine-tune; run `sweep confirm {name}` first")
    sources = []
    for m, by_seed in found.items():
        for seed, run in sorted(by_seed.items()):
            path = final_checkpoint(d, run)
            if path is None:
                raise SweepError(f"sweep {name!r}: the final checkpoint of confirm run "
                                 f"{run.run_id} ({m}, seed {seed}, trial {run.trial_id!r}) is "
                                 f"not under {d.root}; run `sweep confirm {name}` again")
            sources.append(Source(m, seed, run, path))
    ref = lr_reference(study, found)
    reference = next((s for s in sources if ref and (s.method, s.seed) == ref), None)
    return TransferPlan(study, tuple(sources), reference if study.transfer.lr_grid else None)


def _config(plan: TransferPlan, source: Source, lr: float | None) -> TrainConfig:
    spec, params = plan.study.transfer, source.run.params
    assert spec is not None
    return spec.config(params["model"], dict(params.get("model_kwargs") or {}), source.seed,
                       str(source.checkpoint), resource_values(plan.study.resources), lr)


def _done(records: Sequence[RunRecord], phase: str) -> set[tuple[str, str]]:
    """(method, group_key) of the runs of `phase` that completed or diverged."""
    return {(r.method, r.group_key) for r in records if r.phase == phase
            and (r.full_length or r.status == RunStatus.DIVERGED)}


def lr_cells(plan: TransferPlan, records: Sequence[RunRecord]) -> list[Cell]:
    """The missing lr-search runs: every lr candidate from the reference source."""
    if plan.reference is None or plan.study.transfer is None:
        return []
    done = _done(records, Phase.TRANSFER_LR)
    cells = [(plan.reference.method, _config(plan, plan.reference, lr), str(Phase.TRANSFER_LR))
             for lr in plan.study.transfer.lr_grid]
    return [c for c in cells if (c[0], c[1].group_key()) not in done]


def transfer_cells(plan: TransferPlan, records: Sequence[RunRecord]) -> list[Cell]:
    """The missing transfer runs: every source with the recipe (and the chosen lr); none while
    the lr search is unfinished."""
    lr = None
    if plan.reference is not None:
        lr, _ = chosen_lr(records, plan.study)
        if lr is None:
            return []
    done = _done(records, Phase.TRANSFER)
    cells = [(s.method, _config(plan, s, lr), str(Phase.TRANSFER)) for s in plan.sources]
    return [c for c in cells if (c[0], c[1].group_key()) not in done]


def check_cells(plan: TransferPlan) -> list[TrainConfig]:
    """Every config `sweep transfer` may run, built before anything starts (the lr search's and
    the transfer runs', with each candidate lr): what the launcher's checks try."""
    spec = plan.study.transfer
    assert spec is not None
    lrs = spec.lr_grid or (None,)
    return [_config(plan, s, lr) for s in plan.sources for lr in lrs[:1]] + [
        _config(plan, plan.reference, lr) for lr in spec.lr_grid[1:] if plan.reference]


def run_transfer(name: str, storage: str, tracking_uri: str, plan: TransferPlan, sweep_id: str,
                 address: str | None = None) -> list:
    """Run the missing lr-search runs, then the missing transfer runs; Tune's results of the
    runs started."""
    from sweeps.execution.runner import run_configs
    from sweeps.store.sweep_access import read_sweep
    from sweeps.store.sweep_dir import sweep_dir

    study, d = plan.study, sweep_dir(storage, name)
    run = functools.partial(run_configs, name, storage=storage, tracking_uri=tracking_uri,
                            resources=study.resources, sweep_id=sweep_id, address=address,
                            max_failures=study.max_failures,
                            checkpoint_interval_s=study.checkpoint_interval_s)
    results: list = []
    records = read_sweep(name, storage, tracking_uri, history=False).records
    for cells_of, prefix, what in ((lr_cells, "transferlr-", "lr-search"),
                                   (transfer_cells, "transfer-", "transfer")):
        cells = cells_of(plan, records)
        if not cells:
            continue
        print(f"sweep {name!r}: running {len(cells)} {what} runs on the target "
              f"({study.transfer.target['dataset'] if study.transfer else ''})")
        results += list(run(experiment=f"{prefix}{len(d.experiments(prefix))}", trials=cells))
        records = read_sweep(name, storage, tracking_uri, history=False).records
    if plan.reference is not None and chosen_lr(records, study)[0] is None:
        raise SweepError(f"sweep {name!r}: the lr search on the target found no lr (every "
                         "candidate diverged or failed); change transfer.lr_grid")
    if not results:
        print(f"sweep {name!r}: every transfer run is there ({len(plan.sources)} sources)")
    return results
