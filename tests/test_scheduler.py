"""Per-method ASHA: a method's trials are compared only with trials of the same method."""

import pickle
from types import SimpleNamespace

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from sweeps.scheduler import PerMethodASHA


def trial(tid: str, method: str):
    return SimpleNamespace(trial_id=tid, config={"method": method, "params": {}})


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
    per_method = PerMethodASHA(grace_period=1, reduction_factor=3, max_t={"a": 4, "b": 4})
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
    s = PerMethodASHA(grace_period=1, reduction_factor=3, max_t={"short": 2, "long": 6},
                      metric="val_acc", mode="max")
    short, long_ = trial("s", "short"), trial("l", "long")
    s.on_trial_add(None, short)
    s.on_trial_add(None, long_)
    assert s.on_trial_result(None, short, {"epoch": 2, "val_acc": 0.5}) == TrialScheduler.STOP
    assert s.on_trial_result(None, long_, {"epoch": 2, "val_acc": 0.5}) == TrialScheduler.CONTINUE
    assert pickle.loads(pickle.dumps(s)).max_t == {"short": 2, "long": 6}  # Tune pickles it
