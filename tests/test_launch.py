"""Resource planning: requests that fit, and an immediate error when they cannot."""

import pytest

from samtrain.launch import TRIAL_CPU, ResourceError, plan_resources
from samtrain.schedule import lr_factor_fn


def test_two_workers_in_a_tune_trial_fit_two_cores():
    plan = plan_resources(2, 1.0, 0.0, {"CPU": 2.0}, in_tune_trial=True)
    assert plan.trial_cpus == TRIAL_CPU
    assert plan.trial_cpus + 2 * plan.worker_cpus == pytest.approx(2.0)
    assert plan.threads == 1 and plan.max_concurrent == 1


def test_in_process_trial_asks_for_the_worker_itself():
    plan = plan_resources(1, 1.0, 0.0, {"CPU": 2.0}, in_tune_trial=True, in_process=True)
    assert (plan.trial_cpus, plan.worker_cpus, plan.max_concurrent) == (0.0, 1.0, 2)
    plan = plan_resources(1, 2.0, 0.0, {"CPU": 2.0}, in_tune_trial=True, in_process=True)
    assert plan.threads == 2 and plan.max_concurrent == 1


def test_gpus_limit_concurrency():
    plan = plan_resources(2, 4.0, 1.0, {"CPU": 64.0, "GPU": 8.0}, in_tune_trial=True)
    assert plan.max_concurrent == 4


@pytest.mark.parametrize("workers, cpus, gpus", [(3, 1.0, 0.0), (1, 4.0, 0.0), (1, 1.0, 1.0)])
def test_requests_that_cannot_fit_fail_at_once(workers, cpus, gpus):
    with pytest.raises(ResourceError, match="but the cluster has 2 CPUs and 0 GPUs"):
        plan_resources(workers, cpus, gpus, {"CPU": 2.0}, in_tune_trial=True)


def test_lr_schedule_formulas():
    f = lr_factor_fn("cosine", total_steps=110, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0)
    g = lr_factor_fn("linear", total_steps=100, warmup_steps=0)
    assert g(25) == pytest.approx(0.75)
    assert lr_factor_fn("constant", 100, 0)(99) == 1.0
    with pytest.raises(ValueError, match="schedule='step'"):
        lr_factor_fn("step", 10, 0)
