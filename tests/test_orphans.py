"""Trials started after Tune's last snapshot before a crash: forgotten in Optuna and MLflow."""

import pickle

import optuna

from samtrain.config import TrainConfig
from sweeps.runner import forget_orphans, sweep_paths
from sweeps.space import ORPHAN, define_by_run, method_schedule, parse_study
from sweeps.tracking import SweepTracker

STUDY = """name: s
budget: 3
methods:
  sgd: {fixed: {perturbation: none}}
  sam:
    fixed: {perturbation: ascent}
    space: {rho: {loguniform: [0.01, 0.2]}}
"""


def test_orphans_are_failed_in_optuna_deleted_in_mlflow_and_budgets_stay_exact(tmp_path):
    study = parse_study(STUDY)
    paths = sweep_paths(tmp_path, "s")
    (paths.root / "search").mkdir(parents=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    space = define_by_run(study)
    ot = optuna.create_study(study_name="s", storage=paths.optuna_url, direction="maximize")
    trials = [ot.ask() for _ in range(3)]      # Tune trials a, b and the orphan c
    methods = [space(t)["method"] for t in trials]
    assert methods == method_schedule(study)[:3]
    ot.tell(trials[0], 0.9)
    # the snapshot written before the crash knows a and b only
    with (paths.root / "search" / "searcher-state-x.pkl").open("wb") as f:
        pickle.dump({"_ot_trials": {"a": trials[0], "b": trials[1]}}, f)
    tracker = SweepTracker(uri, "s")
    tracker.open()
    cfg = TrainConfig()
    for tid in ("a", "b", "c"):
        tracker.child(tid, "sam", cfg, "search")
    tracker.finish(tracker.child("a", "sam", cfg, "search"), "completed")

    assert forget_orphans(study, {"tracking_uri": uri}, paths) == 1
    t_c = ot.trials[2]
    assert t_c.state == optuna.trial.TrialState.FAIL and t_c.user_attrs[ORPHAN] is True
    assert ot.trials[1].state == optuna.trial.TrialState.RUNNING  # b resumes under Tune
    ids = {r.data.tags["trial_id"] for r in tracker._search("tags.`sweep.role` = 'child'")}
    assert ids == {"a", "b"}
    # the re-suggested trial takes the orphan's place in the method schedule
    again = ot.ask()
    assert space(again)["method"] == methods[2]
    assert method_schedule(study) == ["sgd", "sam", "sam", "sam"]


def test_results_of_a_trial_optuna_already_finished_are_ignored(tmp_path):
    from sweeps.resumable_search import ResumableOptunaSearch

    study = parse_study(STUDY)
    searcher = ResumableOptunaSearch(space=define_by_run(study), metric="val_acc", mode="max",
                                     storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/o.db"),
                                     study_name="s")
    assert searcher.suggest("a")["method"] == "sgd"
    searcher.on_trial_complete("a", {"val_acc": 0.5, "epoch": 2})
    searcher._completed_trials.clear()           # the Tune snapshot predates the completion
    searcher.on_trial_result("a", {"val_acc": 0.5, "training_iteration": 1})  # re-run: no error
    searcher.on_trial_complete("a", {"val_acc": 0.6, "epoch": 2})
    ot = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/o.db")
    assert [t.value for t in ot.trials] == [0.5]  # Optuna keeps its first result
