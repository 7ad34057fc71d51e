"""`sweep plan`'s arithmetic on an earlier sweep's records (no calibration): the cost to the
formula, and the predicted CI half-width of Δ vs the baseline against the half-width observed
on simulated studies of known spread."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.execution.planner import PlanInputs, make_plan, plan_text
from sweeps.results.power_plan import (
    configs_for_tau,
    delta_halfwidth,
    seeds_for_effect,
    tau_halfwidth,
)
from sweeps.store.schema import RunRecord
from sweeps.study.study_file import parse_study

STUDY = parse_study("name: p\nmetric: val_acc\nbaseline: sgd\nbudget: 6\nbase: {epochs: 4}\n"
                    "methods:\n  sgd: {fixed: {perturbation: none}}\n"
                    "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")
SD, TRUE_DELTA, PILOT, PLANNED = 0.01, 0.02, 40, 5


def pilot(seed: int = 0) -> list[RunRecord]:
    """A pilot's confirm runs: sgd and sam on the same seeds, sam - sgd ~ N(0.02, SD)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(PILOT):
        base = 0.70 + rng.normal(0, 0.03)                 # seed effect shared by both methods
        for m, v, secs, ge in (("sgd", base, 8.0, 400.0),
                               ("sam", base + TRUE_DELTA + rng.normal(0, SD), 16.0, 800.0)):
            out.append(RunRecord(f"{m}{s}", m, "confirm", "completed", m, s, {"epochs": 4},
                                 {"epoch": 4.0, "test_acc": v}, device_seconds=secs,
                                 grad_evals=ge, start_time=s))
    return out


def test_predicted_halfwidth_is_within_25_percent_of_the_observed_one():
    plan = make_plan(STUDY, PlanInputs(cpus=4, gpus=0, seeds=PLANNED), pilot(), "pilot")
    sd, pairs, _ = plan.spreads["sam"]
    assert pairs == PILOT
    predicted = delta_halfwidth(sd, PLANNED)
    # simulate many studies of PLANNED paired seeds with the known spread
    rng = np.random.default_rng(1)
    d = TRUE_DELTA + rng.normal(0, SD, (4000, PLANNED))
    observed = stats.t.ppf(0.975, PLANNED - 1) * d.std(axis=1, ddof=1) / math.sqrt(PLANNED)
    assert abs(predicted / observed.mean() - 1) < 0.25
    # and the interval covers the true Δ about 95 % of the time at that width
    cover = np.mean(np.abs(d.mean(axis=1) - TRUE_DELTA) <= observed)
    assert 0.93 < cover < 0.97
    text = plan_text(plan)
    assert f"| sam | {sd:.4f} ({PILOT} paired confirm seeds of 'pilot') | {predicted:.4f} | " \
           f"{seeds_for_effect(sd, 0.01)} |" in text


def test_cost_is_trials_and_seeds_times_epochs_times_the_cost_per_epoch():
    plan = make_plan(STUDY, PlanInputs(cpus=4, gpus=0, seeds=PLANNED), pilot(), "pilot")
    # per epoch: sam 800 / 4 grad evals, 16 / 4 device-seconds; 6 trials + 5 seeds, 4 epochs
    sam = plan.costs["sam"]
    assert sam.runs == 6 + PLANNED and sam.grad_evals == pytest.approx(11 * 4 * 200.0)
    assert sam.device_seconds == pytest.approx(11 * 4 * 4.0)
    assert plan.costs["sgd"].runs == 1 + PLANNED                  # nothing searched: 1 trial
    assert plan.slots == 4                                        # 4 CPUs, 1 per trial
    text = plan_text(plan)
    total = sam.device_seconds + plan.costs["sgd"].device_seconds
    assert f"| total | 7 | {2 * PLANNED} | | " in text and f"{total:,.0f} |" in text
    wall = (sam.run_seconds + plan.costs["sgd"].run_seconds) / 4
    assert f"Wall time ≈ {wall:,.0f} s" in text
    assert (f"| sam | 6 | {tau_halfwidth(6):.2f} | {configs_for_tau(0.2)} | "
            f"{configs_for_tau(0.2, 0.5)} |") in text


def test_without_a_spread_the_power_table_says_what_to_give():
    plan = make_plan(STUDY, PlanInputs(cpus=1, gpus=0, seeds=3),
                     [r for r in pilot() if r.method == "sam"], "half")
    assert "give --from NAME" in plan_text(plan) and "sgd" not in plan.costs
    assert "No cost measured for: sgd" in plan_text(plan)
    assumed = make_plan(STUDY, PlanInputs(cpus=1, gpus=0, seeds=3, sd=0.02), pilot()[:2], "x")
    assert assumed.spreads["sam"] == (0.02, 0, "--sd")


def test_a_grid_study_lists_the_groups_its_granulated_tau_compares():
    grid = parse_study("name: g\nmetric: val_acc\nsampler: grid\nbase: {epochs: 4}\nmethods:\n"
                       "  sgd: {fixed: {perturbation: none}}\n"
                       "  sam: {space: {rho: {loguniform: [0.01, 0.5], values: [0.02, 0.05, 0.1]},"
                       " perturb_batch_size: {choice: [16, 32]}}}\n")
    plan = make_plan(grid, PlanInputs(cpus=2, gpus=0, seeds=3), pilot(), "pilot")
    assert plan.costs["sam"].runs == 6 + 3                 # the 3 x 2 grid, then 3 seeds
    text = plan_text(plan)
    # rho: one group per m (2), 3 values each: 2 x C(3, 2) pairs; m: 3 groups of 2 values
    assert "sam.perturb_batch_size: 3 group(s) of 2 values, 3 pairs" in text
    assert "sam.rho: 2 group(s) of 3 values, 6 pairs" in text
    assert "needs `sampler: grid`" in plan_text(make_plan(STUDY, PlanInputs(1, 0, 3), pilot(), "p"))


def test_plan_from_an_earlier_sweep_through_the_cli(tmp_path, monkeypatch, capsys):
    from samtrain.config.train_config import TrainConfig
    from sweeps.cli import main
    from sweeps.store.sweep_dir import SweepMeta, sweep_dir
    from sweeps.store.writer import SweepWriter

    monkeypatch.chdir(tmp_path)
    uri, storage = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "runs"
    meta = SweepMeta.new(STUDY, uri)
    sweep_dir(storage, "p").write(STUDY, meta)
    w = SweepWriter(uri, "p", meta.sweep_id)
    w.open_parent()
    diffs = [0.02, 0.035, 0.01, 0.025]
    for seed, d in enumerate(diffs):      # paired confirm seeds: sam - sgd = d
        for m, pert, acc, secs in (("sgd", "none", 0.7, 2.0), ("sam", "ascent", 0.7 + d, 4.0)):
            cfg = TrainConfig(dataset="digits", epochs=4, seed=seed, perturbation=pert)
            run = w.child(f"{m}{seed}", m, "confirm", cfg.model_dump(mode="json"), cfg.group_key())
            w.log_epoch(run, {"epoch": 4, "val_acc": acc, "test_acc": acc,
                              "device_seconds": secs * 4, "grad_evals": 100 * 4})
            w.finish(run, "completed")
    (tmp_path / "p.yaml").write_text(STUDY.source_text)
    capsys.readouterr()
    assert main(["plan", "p.yaml", "--storage", "runs", "--from", "p", "--seeds", "4",
                 "--cpus", "2"]) == 0
    out = capsys.readouterr().out
    sd = float(np.std(diffs, ddof=1))
    assert "Cost per epoch from sweep 'p'" in out
    assert (f"| sam | {sd:.4f} (4 paired confirm seeds of 'p') | {delta_halfwidth(sd, 4):.4f} | "
            f"{seeds_for_effect(sd, 0.01)} |") in out
    # sam: (6 trials + 4 seeds) x 4 epochs x 4 device-seconds an epoch
    assert "| sam | 6 | 4 | 4 | 4.0 | 4,000 | 160 |" in out  # no scheduler: every epoch


def test_a_multi_worker_study_is_calibrated_as_one_process_doing_every_workers_work():
    from sweeps.execution.planner import calibrate

    text = ("name: w\nmetric: val_acc\nbudget: 1\nbase: {dataset: digits, epochs: 1, "
            "batch_size: 64}\nmethods:\n  sam: {fixed: {rho: 0.05}}\n")
    one = calibrate(parse_study(text), epochs=1)["sam"]
    two = calibrate(parse_study(text + "resources: {workers: 2}\n"), epochs=1)["sam"]
    # the same global batch: the same gradient evaluations an epoch (SAM: 2 a step)
    assert two.grad_evals == one.grad_evals and one.grad_evals % 2 == 0
    # device-seconds are the one process's seconds; the epoch's wall time is half of them
    assert two.run_seconds == pytest.approx(two.device_seconds / 2)
    assert one.run_seconds == one.device_seconds


def test_a_method_costs_the_mean_of_its_configs_plus_its_end_of_run_work_over_its_epochs(
        monkeypatch):
    """calibrate: per method, the mean of the configs' typical epochs and gradient evaluations,
    plus the end-of-run excess (measured by the run that ended) spread over the planned epochs;
    the configs are the Latin hypercube's, the first of each method the one that ends its run."""
    import sweeps.execution.planner as planner

    text = ("name: c\nmetric: val_acc\nbudget: 4\nbase: {dataset: digits, epochs: 10}\nmethods:\n"
            "  sgd: {fixed: {perturbation: none}}\n"
            "  sam: {space: {perturb_batch_size: {choice: [16, 32, 64, 128]}}}\n")
    study = parse_study(text)
    calls = []
    typical = {16: 4.0, 32: 3.0, 64: 2.0, 128: 1.0}

    def fake(study, method, params, epochs, full):  # noqa: ANN001
        calls.append((method, params, epochs, full))
        secs = typical[params["perturb_batch_size"]] if method == "sam" else 1.5
        return (100.0 if method == "sgd" else 200.0 + len(calls), secs, 5.0 if full else None)

    monkeypatch.setattr(planner, "_calibrate_config", fake)
    out = planner.calibrate(study, epochs=3, slots=1, configs=4)
    sam_calls = [c for c in calls if c[0] == "sam"]
    assert [c[3] for c in sam_calls] == [True, False, False, False] and {c[2] for c in calls} == {3}
    assert sorted(c[1]["perturb_batch_size"] for c in sam_calls) == [16, 32, 64, 128]
    assert [c[1] for c in sam_calls] == planner.calibration_configs(study, "sam", 4)
    # (4 + 3 + 2 + 1) / 4 = 2.5 s a typical epoch, + 5 s once per 10-epoch run
    assert out["sam"].device_seconds == pytest.approx(2.5 + 5.0 / 10)
    assert out["sgd"].device_seconds == pytest.approx(1.5 + 0.5) and out["sgd"].grad_evals == 100
    # the cheapest and the dearest config, each with the end-of-run share
    assert out["sam"].device_seconds_range == pytest.approx((1.0 + 0.5, 4.0 + 0.5))
    assert out["sgd"].device_seconds_range == pytest.approx((2.0, 2.0))
    sam_ge = [200.0 + i + 1 for i, c in enumerate(calls) if c[0] == "sam"]
    assert out["sam"].grad_evals == pytest.approx(sum(sam_ge) / 4)


def test_a_calibration_config_stops_before_the_end_unless_it_ends_the_run(monkeypatch):
    """The configs after the first stop after `epochs` epochs of a run planned longer (no test
    split, no end-of-run work in their timing); the first trains one epoch more and ends."""
    import samtrain.engine.loop as loop
    from sweeps.execution.planner import _calibrate_config

    seen = []
    real = loop.run_training

    def spy(cfg, ctx, threads=None, stop_after_epoch=None, **kw):  # noqa: ANN001, ANN202
        out = real(cfg, ctx, threads=threads, stop_after_epoch=stop_after_epoch, **kw)
        seen.append((cfg.epochs, stop_after_epoch, [sorted(h) for h in ctx.history]))
        return out

    monkeypatch.setattr(loop, "run_training", spy)
    study = parse_study("name: e\nmetric: val_acc\nbase: {dataset: digits, epochs: 5, "
                        "batch_size: 64}\nmethods:\n  sam: {fixed: {rho: 0.05}}\n")
    ge, secs, end = _calibrate_config(study, "sam", {}, 2, full=False)
    ge_full, _, end_full = _calibrate_config(study, "sam", {}, 2, full=True)
    (cut_epochs, cut_stop, cut_rows), (full_epochs, full_stop, full_rows) = seen
    assert (cut_epochs, cut_stop, len(cut_rows)) == (5, 2, 2)       # stopped inside a 5-epoch run
    assert not any("test_acc" in row for row in cut_rows) and end is None
    assert (full_epochs, full_stop, len(full_rows)) == (3, None, 3)  # 2 + 1 epochs, then its end
    assert "test_acc" in full_rows[-1] and end_full is not None
    assert ge_full == ge and ge % 2 == 0 and secs > 0    # SAM: 2 gradient evaluations a step
    seen.clear()
    _calibrate_config(study, "sam", {}, 6, full=False)   # more epochs than planned: never ends
    assert seen[0][:2] == (7, 6) and not any("test_acc" in row for row in seen[0][2])


def test_grid_configs_take_grid_points_and_a_method_searching_nothing_has_one():
    from sweeps.execution.planner import calibration_configs

    grid = parse_study("name: g\nmetric: val_acc\nsampler: grid\nmethods:\n"
                       "  sgd: {fixed: {perturbation: none}}\n"
                       "  sam: {space: {rho: {loguniform: [0.01, 0.5], values: [0.02, 0.05, 0.1]},"
                       " perturb_batch_size: {int: [16, 128], values: [16, 64, 128]}}}\n")
    configs = calibration_configs(grid, "sam", 3)
    assert sorted(c["rho"] for c in configs) == [0.02, 0.05, 0.1]
    assert sorted(c["perturb_batch_size"] for c in configs) == [16, 64, 128]
    assert calibration_configs(grid, "sgd", 4) == [{}]


def test_the_plan_spans_what_the_draws_and_the_pick_can_make_a_study_cost():
    """Every run at its method's cheapest config measured and the fewest epochs a searched
    `epochs` allows, to every run at the dearest and the most (a grid: its points)."""
    study = parse_study("name: s\nmetric: val_acc\nbaseline: sgd\nbudget: 2\nbase: {epochs: 4}\n"
                        "methods:\n  sgd: {fixed: {perturbation: none}}\n"
                        "  sgd_x2: {fixed: {perturbation: none}, space: {epochs: {int: [4, 8]}}}\n")
    records = []
    for m, key, e, secs in (("sgd", "a", 4, 2.0), ("sgd", "b", 4, 3.0), ("sgd", "b", 2, 4.0),
                            ("sgd_x2", "c", 6, 1.0), ("sgd_x2", "d", 8, 3.0)):
        records.append(RunRecord(f"{m}{key}{e}", m, "search", "completed", key, 0, {"epochs": e},
                                 {"epoch": float(e)}, device_seconds=secs * e,
                                 grad_evals=100.0 * e))
    plan = make_plan(study, PlanInputs(cpus=1, gpus=0, seeds=3), records, "earlier")
    # per config: sgd a 2.0, b mean(3.0, 4.0) = 3.5 an epoch; sgd_x2 c 1.0, d 3.0
    assert plan.per_epoch["sgd"].device_seconds_range == pytest.approx((2.0, 3.5))
    # the cost an epoch is the configs' mean (each config once), not the runs' mean (3.0)
    assert plan.per_epoch["sgd"].device_seconds == pytest.approx((2.0 + 3.5) / 2)
    assert plan.costs["sgd"].device_seconds == pytest.approx(4 * 4 * 2.75)
    # sgd: 1 trial + 3 seeds of 4 epochs; sgd_x2: 2 trials + 3 seeds of 4 to 8 epochs (plan: 6)
    assert plan.spans["sgd"] == pytest.approx((4 * 4 * 2.0, 4 * 4 * 3.5))
    assert plan.spans["sgd_x2"] == pytest.approx((5 * 4 * 1.0, 5 * 8 * 3.0))
    assert plan.costs["sgd_x2"].device_seconds == pytest.approx(5 * 6 * 2.0)  # the mean, middle
    text = plan_text(plan)
    assert "| sgd_x2 | 2 | 3 | 6 (4–8) | 6.0 | 3,000 | 60 | 20–120 |" in text
    assert "| total | 3 | 6 | | | 4,600 | 104 | 52–176 |" in text
    assert "52–176 if every run is its method's cheapest / dearest config measured" in text
    assert "(`epochs` searched: sgd_x2 4–8)" in text and "a searched `epochs` at its middle" in text
    grid = parse_study(study.source_text.replace("budget: 2", "sampler: grid").replace(
        "{int: [4, 8]}", "{int: [4, 8], values: [5, 7]}"))
    # the grid's 2 points are its 2 trials
    assert make_plan(grid, PlanInputs(1, 0, 3), records, "e").spans["sgd_x2"] == \
        pytest.approx((5 * 5 * 1.0, 5 * 7 * 3.0))
    # under ASHA a search trial trains its expected share of the epochs
    asha = parse_study(study.source_text.replace("budget: 2", "budget: 9\nscheduler: asha"))
    p = make_plan(asha, PlanInputs(1, 0, 3), records, "e")
    from sweeps.execution.planner import _search_epochs
    share = _search_epochs(asha, "sgd_x2") / 6
    assert share < 1 and p.spans["sgd_x2"] == pytest.approx((4 * 1.0 * (9 * share + 3),
                                                             8 * 3.0 * (9 * share + 3)))
