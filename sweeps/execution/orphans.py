"""Reconcile Optuna and MLflow with the Tune snapshot a resumed sweep starts from.

Tune snapshots its experiment periodically; Optuna (sqlite) and MLflow record at once. Trials a
crashed driver started after Tune's last snapshot are unknown to the restored Tuner (its searcher
suggests them again), even those that finished in between. Their Optuna trials are told FAIL
(if still running) and enqueued again with the same method and planned values
(`sweeps.search.plan`), so the restored Tuner's next suggestions take their places and every
method's budget stays exact; the study's user attr `orphans` lists the trials handled, so a
later resume does not enqueue them twice. Their MLflow runs are deleted (so the resumed sweep
has no duplicate runs). Public APIs only: the Tune experiments are read with
`ExperimentAnalysis`, Optuna trials are ended with `Study.tell`.

Example::

    forgotten = forget_orphans(study, meta, sweep_dir("runs", "tiny"))
"""

from __future__ import annotations

import optuna

from sweeps.search.plan import PlannedTrial, enqueue
from sweeps.search.trial_config import read_trial
from sweeps.store.phase import Phase
from sweeps.store.sweep_dir import SweepDir, SweepMeta
from sweeps.study.spec import StudySpec

ORPHANS = "orphans"  # study user attr: numbers of trials a crashed driver started, re-enqueued


def restored_trials(experiment_path: str) -> dict[str, dict]:
    """`{trial_id: config}` of the trials in a Tune experiment's last snapshot."""
    from ray.tune import ExperimentAnalysis

    return {t.trial_id: t.config for t in ExperimentAnalysis(experiment_path).trials}


def forget_orphans(study: StudySpec, meta: SweepMeta, d: SweepDir) -> int:
    """Fail and re-enqueue the orphans in Optuna, delete their MLflow runs; return how many
    were found."""
    from sweeps.store.writer import SweepWriter

    known: dict[str, dict] = {}
    for experiment in d.search_experiments():
        known.update(restored_trials(d.at(experiment)))
    numbers = {read_trial(c).optuna_trial for c in known.values()}
    ot = optuna.load_study(study_name=study.name, storage=d.optuna_url)
    listed = set(ot.user_attrs.get(ORPHANS, []))
    # asked but unknown to the snapshot: still running, or even finished between the snapshot
    # and the crash (waiting trials were never asked: they are the plan still to run)
    orphans = [t for t in ot.get_trials(deepcopy=False)
               if t.state != optuna.trial.TrialState.WAITING and t.number not in numbers
               and t.number not in listed]
    for t in orphans:
        if t.state == optuna.trial.TrialState.RUNNING:
            ot.tell(t.number, state=optuna.trial.TrialState.FAIL)
    enqueue(ot, [PlannedTrial(t.user_attrs["method"], dict(t.user_attrs.get("planned", {})))
                 for t in orphans])
    if orphans:
        ot.set_user_attr(ORPHANS, sorted(listed | {t.number for t in orphans}))
    writer = SweepWriter(meta.tracking_uri, study.name, meta.sweep_id)
    deleted = writer.delete_orphans(Phase.SEARCH, set(known))
    return max(len(orphans), deleted)
