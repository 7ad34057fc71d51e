"""What one trial asks of the cluster: requests that fit, and an immediate error when they cannot."""

import pytest

from sweeps.errors import ResourceError
from sweeps.execution.resources import TRIAL_CPU, concurrency, plan_resources, trial_plan
from sweeps.study.spec import Resources


def test_two_workers_in_a_tune_trial_fit_two_cores():
    plan = plan_resources(2, 1.0, 0.0, {"CPU": 2.0})
    assert plan.trial_cpus == TRIAL_CPU
    assert plan.trial_cpus + 2 * plan.worker_cpus == pytest.approx(2.0)
    assert plan.threads == 1 and plan.max_concurrent == 1


def test_in_process_trial_asks_for_the_worker_itself():
    plan = plan_resources(1, 1.0, 0.0, {"CPU": 2.0}, in_process=True)
    assert (plan.trial_cpus, plan.worker_cpus, plan.max_concurrent) == (0.0, 1.0, 2)
    plan = plan_resources(1, 2.0, 0.0, {"CPU": 2.0}, in_process=True)
    assert plan.threads == 2 and plan.max_concurrent == 1


def test_gpus_limit_concurrency():
    plan = plan_resources(2, 4.0, 1.0, {"CPU": 64.0, "GPU": 8.0})
    assert plan.max_concurrent == 4


@pytest.mark.parametrize("workers, cpus, gpus", [(3, 1.0, 0.0), (1, 4.0, 0.0), (1, 1.0, 1.0)])
def test_requests_that_cannot_fit_fail_at_once(workers, cpus, gpus):
    with pytest.raises(ResourceError, match="but the cluster has 2 CPUs and 0 GPUs"):
        plan_resources(workers, cpus, gpus, {"CPU": 2.0})


def test_one_worker_trains_in_the_trial_process_by_default_and_the_study_can_cap_concurrency():
    plan, in_process = trial_plan(Resources(workers=1), {"CPU": 8.0})
    assert in_process and (plan.trial_cpus, plan.max_concurrent) == (0.0, 8)
    assert concurrency(Resources(workers=1, max_concurrent_trials=3), plan) == 3
    plan, in_process = trial_plan(Resources(workers=2), {"CPU": 8.0})
    assert not in_process and plan.trial_cpus == TRIAL_CPU and plan.max_concurrent == 4
    with pytest.raises(ResourceError, match="resources.workers: value 2 is invalid"):
        trial_plan(Resources(workers=2), {"CPU": 8.0}, in_process=True)
