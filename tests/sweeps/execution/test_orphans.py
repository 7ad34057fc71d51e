"""Trials started after Tune's last snapshot before a crash: forgotten in Optuna and MLflow."""

import optuna

from samtrain.config import TrainConfig
from sweeps.execution import orphans
from sweeps.search.sampling import ORPHANS, define_by_run, method_schedule
from sweeps.search.trial_config import read_trial
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from sweeps.store.writer import SweepWriter
from sweeps.study.spec import parse_study

STUDY = """name: s
budget: 3
methods:
  sgd: {fixed: {perturbation: none}}
  sam:
    fixed: {perturbation: ascent}
    space: {rho: {loguniform: [0.01, 0.2]}}
"""


def test_orphans_are_failed_in_optuna_deleted_in_mlflow_and_budgets_stay_exact(tmp_path,
                                                                              monkeypatch):
    study = parse_study(STUDY)
    d = sweep_dir(tmp_path, "s")
    d.root.mkdir(parents=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    space = define_by_run(study)
    ot = optuna.create_study(study_name="s", storage=d.optuna_url, direction="maximize")
    trials = [ot.ask() for _ in range(4)]      # Tune trials a, b and the orphans c, d
    configs = [space(t) for t in trials]
    assert [read_trial(c).method for c in configs] == method_schedule(study)[:4]
    assert [read_trial(c).optuna_trial for c in configs] == [0, 1, 2, 3]
    ot.tell(trials[0], 0.9)
    ot.tell(trials[3], 0.8)                    # d even finished between the snapshot and the crash
    # the snapshot written before the crash knows a and b only
    monkeypatch.setattr(orphans, "restored_trials", lambda path: {"a": configs[0], "b": configs[1]})
    w = SweepWriter(uri, "s", "sid")
    w.open_parent()
    cfg = TrainConfig()
    values, key = cfg.model_dump(mode="json"), cfg.group_key()
    for tid in ("a", "b", "c", "d"):
        w.child(tid, "sam", "search", values, key)
    for tid in ("a", "d"):
        w.finish(w.child(tid, "sam", "search", values, key), "completed")

    meta = SweepMeta("s", "sid", 3, uri, "")
    assert orphans.forget_orphans(study, meta, d) == 2
    ot = optuna.load_study(study_name="s", storage=d.optuna_url)
    assert ot.trials[2].state == optuna.trial.TrialState.FAIL and ot.user_attrs[ORPHANS] == [2, 3]
    assert ot.trials[1].state == optuna.trial.TrialState.RUNNING  # b resumes under Tune
    assert {r.data.tags["trial_id"] for r in w.find(**{"sweep.role": "child"})} == {"a", "b"}
    # the re-suggested trials take the orphans' places in the method schedule
    again = [space(ot.ask()) for _ in range(2)]
    assert [read_trial(c).method for c in again] == [read_trial(c).method for c in configs[2:]]
    assert method_schedule(study) == ["sgd", "sam", "sam", "sam"]
    known = {"a": configs[0], "b": configs[1], "e": again[0], "f": again[1]}
    monkeypatch.setattr(orphans, "restored_trials", lambda path: known)
    assert orphans.forget_orphans(study, meta, d) == 0       # a later resume finds none new

