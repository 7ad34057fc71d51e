"""Per-method ASHA: a method's trials are compared only with trials of the same method."""

import json
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from ray.tune.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

from sweeps.search.scheduler import PerMethodScheduler
from sweeps.study.strategy import ASHA, Hyperband, Median
from tests.support.spies import rung_cutoffs


class FakeTrial(SimpleNamespace):
    """What a scheduler sees of a trial (hashable, as Tune's are)."""

    __hash__ = object.__hash__


def trial(tid: str, method: str):
    return FakeTrial(trial_id=tid, config={"trial": {"method": method}})


def feed(scheduler, results):
    actions = {}
    for t, epoch, acc in results:
        actions[(t.trial_id, epoch)] = scheduler.on_trial_result(None, t, {"epoch": epoch,
                                                                           "val_acc": acc})
    return actions


def test_a_slow_method_keeps_its_budget_under_per_method_asha_not_under_a_shared_one():
    a1, a2, a3, b1, b2 = (trial("a1", "a"), trial("a2", "a"), trial("a3", "a"), trial("b1", "b"),
                          trial("b2", "b"))
    results = [(a1, 1, 0.9), (a2, 1, 0.9), (a3, 1, 0.9), (b1, 1, 0.2), (b2, 1, 0.1)]
    shared = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=4,
                           grace_period=1, reduction_factor=3)
    per_method = PerMethodScheduler(ASHA(grace_period=1, reduction_factor=3), max_t={"a": 4, "b": 4})
    per_method.set_search_properties("val_acc", "max")
    for s in (shared, per_method):
        for t in (a1, a2, a3, b1, b2):
            s.on_trial_add(None, t)
    stop, go = TrialScheduler.STOP, TrialScheduler.CONTINUE
    assert feed(shared, results)[("b1", 1)] == stop       # b loses to a's results
    got = feed(per_method, results)
    assert got[("b1", 1)] == go                            # b's first trial: its own rung
    assert got[("b2", 1)] == stop                          # ... b2 is worse than b1
    assert set(per_method.schedulers) == {"a", "b"}


def test_max_t_is_per_method():
    s = PerMethodScheduler(ASHA(grace_period=1, reduction_factor=3), max_t={"short": 2, "long": 6},
                      metric="val_acc", mode="max")
    short, long_ = trial("s", "short"), trial("l", "long")
    s.on_trial_add(None, short)
    s.on_trial_add(None, long_)
    assert s.on_trial_result(None, short, {"epoch": 2, "val_acc": 0.5}) == TrialScheduler.STOP
    assert s.on_trial_result(None, long_, {"epoch": 2, "val_acc": 0.5}) == TrialScheduler.CONTINUE
    assert pickle.loads(pickle.dumps(s)).max_t == {"short": 2, "long": 6}  # Tune pickles it


def restored(tid: str, method: str, folder, results: list[dict], tail: str = ""):
    """A trial as Tune restores it: its directory holds the `result.json` of its past results."""
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results) + tail)
    return SimpleNamespace(trial_id=tid, config={"trial": {"method": method}}, path=str(folder),
                           run_metadata=SimpleNamespace(last_result=results[-1]))


def test_a_resumed_sweep_judges_new_trials_against_results_from_before_the_crash(tmp_path):
    before = restored("old", "a", tmp_path / "old", [{"epoch": 1, "val_acc": 0.9},
                                                    {"epoch": 2, "val_acc": 0.92}],
                      tail='{"epoch": 3, "val_a')          # the line the crash cut off
    other = restored("b_old", "b", tmp_path / "b_old", [{"epoch": 1, "val_acc": 0.2}])
    fresh = PerMethodScheduler(ASHA(grace_period=1, reduction_factor=3), max_t={"a": 9, "b": 9},
                          metric="val_acc", mode="max")   # the resumed driver's: rungs empty
    gone = restored("gone", "a", tmp_path / "gone", [{"epoch": 1, "val_acc": 0.99}])
    (tmp_path / "gone" / "result.json").unlink()              # its results lost: not replayed
    for t in (before, other, gone):
        fresh.on_trial_add(None, t)
    new_a, new_b = trial("new_a", "a"), trial("new_b", "b")
    fresh.on_trial_add(None, new_a)                         # no `path`: nothing to replay
    fresh.on_trial_add(None, new_b)
    assert fresh.on_trial_result(None, new_a, {"epoch": 1, "val_acc": 0.5}) == TrialScheduler.STOP
    assert fresh.on_trial_result(None, new_b, {"epoch": 1, "val_acc": 0.5}) == TrialScheduler.CONTINUE
    # rung 1 holds old's 0.9 and new_a's 0.5, not gone's 0.99: its cutoff is their 2/3 percentile
    assert rung_cutoffs(fresh.schedulers["a"])[1.0] == pytest.approx(np.percentile([0.9, 0.5], 200 / 3))


class CapturedASHA(PerMethodScheduler):
    """Remembers the instance Tune unpickles when it restores an experiment."""

    restored: list["CapturedASHA"] = []

    def __setstate__(self, state):
        self.__dict__.update(state)
        CapturedASHA.restored.append(self)


@pytest.mark.ray
def test_tuner_restore_refills_the_rungs_from_tunes_own_result_files(ray_local, tmp_path,
                                                                     monkeypatch):
    from ray import tune

    # Tune's own result files (a sweep's run config sets this process-wide; see test_startup)
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")

    def _epochs(config):  # nested: pickled by value, Ray's workers cannot import this module
        for epoch in range(1, 4):
            tune.report({"epoch": epoch, "val_acc": config["acc"] + 0.01 * epoch})

    space = {"acc": tune.grid_search([0.5, 0.7]), "trial": {"method": "sam"}}
    scheduler = CapturedASHA(ASHA(grace_period=1, reduction_factor=3), max_t={"sam": 3})
    tune.Tuner(_epochs, param_space=space,
               tune_config=tune.TuneConfig(metric="val_acc", mode="max", scheduler=scheduler),
               run_config=tune.RunConfig(name="e", storage_path=str(tmp_path), verbose=0)).fit()
    live = rung_cutoffs(scheduler.schedulers["sam"])
    assert live[1.0] == pytest.approx(np.percentile([0.51, 0.71], 200 / 3))  # both trials' epoch 1
    CapturedASHA.restored.clear()
    tune.Tuner.restore(str(tmp_path / "e"), trainable=_epochs, resume_unfinished=True).fit()
    (after,) = CapturedASHA.restored
    assert rung_cutoffs(after.schedulers["sam"]) == live


@pytest.mark.parametrize("spec, kind", [
    (Hyperband(grace_period=1, reduction_factor=2, brackets=2), AsyncHyperBandScheduler),
    (Median(grace_period=2, min_samples_required=2), MedianStoppingRule),
    (ASHA(), ASHAScheduler)])
def test_every_scheduler_type_runs_per_method(spec, kind):
    s = PerMethodScheduler(spec, max_t={"a": 8, "b": 8}, metric="val_acc", mode="max")
    for t in (trial("a1", "a"), trial("b1", "b")):
        s.on_trial_add(None, t)
    assert set(s.schedulers) == {"a", "b"} and all(type(x) is kind for x in s.schedulers.values())
    assert s.schedulers["a"] is not s.schedulers["b"]


def test_the_median_rule_stops_a_method_s_laggard_judged_only_against_its_own_trials():
    """b's trials are far better than a's, but a's third trial is judged against a's two only."""
    s = PerMethodScheduler(Median(grace_period=2, min_samples_required=2), max_t={"a": 4, "b": 4},
                           metric="val_acc", mode="max")
    a1, a2, a3, b1, b2 = (trial(t, t[0]) for t in ("a1", "a2", "a3", "b1", "b2"))
    for t in (a1, a2, a3, b1, b2):
        s.on_trial_add(None, t)
    for t, acc in ((a1, 0.5), (a2, 0.5), (b1, 0.9), (b2, 0.9)):
        for epoch in (1, 2, 3, 4):
            s.on_trial_result(None, t, {"epoch": epoch, "val_acc": acc})
    assert s.on_trial_result(None, a3, {"epoch": 1, "val_acc": 0.45}) == TrialScheduler.CONTINUE
    assert s.on_trial_result(None, a3, {"epoch": 2, "val_acc": 0.49}) == TrialScheduler.STOP
    fair = PerMethodScheduler(Median(grace_period=2, min_samples_required=2),
                              max_t={"a": 4, "b": 4}, metric="val_acc", mode="max")
    a4 = trial("a4", "a")
    fair.on_trial_add(None, a4)  # alone in its method: too few samples, continued (never paused)
    assert fair.on_trial_result(None, a4, {"epoch": 2, "val_acc": 0.1}) == TrialScheduler.CONTINUE


def test_an_extension_is_judged_against_the_trials_of_earlier_experiments(tmp_path):
    """`prior` trials are replayed into their method's rungs: a weak new trial is stopped."""
    prior = [restored(f"p{i}", "a", tmp_path / f"p{i}",
                      [{"epoch": e, "val_acc": 0.8 + 0.01 * i} for e in (1, 2, 3)], tail="")
             for i in range(3)]
    for p in prior:
        p.status = "TERMINATED"
    s = PerMethodScheduler(ASHA(grace_period=1, reduction_factor=3), max_t={"a": 3},
                           metric="val_acc", mode="max", prior=prior)
    new = trial("n", "a")
    s.on_trial_add(None, new)
    assert s.on_trial_result(None, new, {"epoch": 1, "val_acc": 0.1}) == TrialScheduler.STOP


def test_an_equal_compute_arm_trains_up_to_its_cap_under_its_own_asha_brackets():
    """max_t of the arm `sgd_x2` is the most epochs it may sample (80), not the baseline's 40."""
    from sweeps.search.scheduler import methods_max_t
    from sweeps.study.study_file import parse_study

    study = parse_study("compute_matched: true\nbudget: 2\nscheduler: {type: asha, grace_period: 10}\n"
                        "base: {dataset: digits, epochs: 40}\n"
                        "shared_space: {lr: {loguniform: [0.01, 0.2]}}\n"
                        "methods: {sgd: {fixed: {perturbation: none}}, sam: {}}\n")
    assert methods_max_t(study) == {"sgd": 40, "sam": 40, "sgd_x2": 80}
    s = PerMethodScheduler(study.scheduler, methods_max_t(study), metric="val_acc", mode="max")
    base, arm = trial("b", "sgd"), trial("x", "sgd_x2")
    s.on_trial_add(None, base)
    s.on_trial_add(None, arm)
    assert s.on_trial_result(None, base, {"epoch": 40, "val_acc": 0.5}) == TrialScheduler.STOP
    assert s.on_trial_result(None, arm, {"epoch": 40, "val_acc": 0.5}) == TrialScheduler.CONTINUE
    assert s.on_trial_result(None, arm, {"epoch": 80, "val_acc": 0.5}) == TrialScheduler.STOP
