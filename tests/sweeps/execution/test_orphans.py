"""Trials started after Tune's last snapshot before a crash: failed and enqueued again in Optuna
(with their method and planned values), deleted in MLflow; every method's budget stays exact."""

import optuna

from samtrain.config.train_config import TrainConfig
from sweeps.execution import orphans
from sweeps.search.plan import enqueue, plan_trials
from sweeps.search.sampling import define_by_run, method_schedule
from sweeps.search.trial_config import read_trial
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from sweeps.store.writer import SweepWriter
from sweeps.study.study_file import parse_study
from tests.support.studies import SGD_VS_SAM

STUDY = SGD_VS_SAM + "    start_from: [{rho: 0.05}]\n"


def test_orphans_are_failed_and_enqueued_again_deleted_in_mlflow_and_budgets_stay_exact(
        tmp_path, monkeypatch):
    study = parse_study(STUDY)
    d = sweep_dir(tmp_path, "s")
    (d.root / "search").mkdir(parents=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    space = define_by_run(study)
    ot = optuna.create_study(study_name="s", storage=d.optuna_url, direction="maximize")
    enqueue(ot, plan_trials(study))                     # sgd, sam (rho 0.05), sam, sam
    trials = [ot.ask() for _ in range(4)]               # Tune trials a, and the orphans b, c, d
    configs = [space(t) for t in trials]
    assert [read_trial(c).method for c in configs] == method_schedule(study) == [
        "sgd", "sam", "sam", "sam"]
    assert [read_trial(c).optuna_trial for c in configs] == [0, 1, 2, 3]
    assert read_trial(configs[1]).train_config["rho"] == 0.05       # the start point
    ot.tell(trials[0], 0.9)
    ot.tell(trials[3], 0.8)                    # d even finished between the snapshot and the crash
    # the snapshot written before the crash knows a only
    monkeypatch.setattr(orphans, "restored_trials", lambda path: {"a": configs[0]})
    w = SweepWriter(uri, "s", "sid")
    w.open_parent()
    cfg = TrainConfig()
    values, key = cfg.model_dump(mode="json"), cfg.group_key()
    for tid in ("a", "b", "c", "d"):
        w.child(tid, "sam", "search", values, key)
    for tid in ("a", "d"):
        w.finish(w.child(tid, "sam", "search", values, key), "completed")

    meta = SweepMeta("s", "sid", 3, uri, "")
    assert orphans.forget_orphans(study, meta, d) == 3
    ot = optuna.load_study(study_name="s", storage=d.optuna_url)
    states = [t.state for t in ot.trials]
    assert states[:4] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
                          optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert states[4:] == [optuna.trial.TrialState.WAITING] * 3 and ot.user_attrs["orphans"] == [1, 2, 3]
    assert {r.data.tags["trial_id"] for r in w.find(**{"sweep.role": "child"})} == {"a"}
    # the restored Tuner's next suggestions take the orphans' places: same methods, same plan
    again = [space(ot.ask()) for _ in range(3)]
    assert [read_trial(c).method for c in again] == ["sam", "sam", "sam"]
    assert read_trial(again[0]).train_config["rho"] == 0.05
    known = {"a": configs[0], "e": again[0], "f": again[1], "g": again[2]}
    monkeypatch.setattr(orphans, "restored_trials", lambda path: known)
    assert orphans.forget_orphans(study, meta, d) == 0       # a later resume finds none new
    assert not [t for t in ot.get_trials() if t.state == optuna.trial.TrialState.WAITING]
