"""`sweep analyze` output: the generated sentence, notes, tables and files, the report's
analysis section, and the command end to end through MLflow."""

from __future__ import annotations

import csv
import dataclasses
import io
import math

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from samtrain.config.train_config import TrainConfig
from sweeps.cli import main
from sweeps.report.analysis import (
    analysis_notes,
    analysis_table_csv,
    analysis_table_md,
    best_sentence,
    decide_budget,
    granulated_table_md,
    within_table_md,
    write_analysis,
)
from sweeps.report.document import build_report
from sweeps.results.correlation import analyze_records
from sweeps.results.power_plan import configs_for_tau
from sweeps.store.schema import RunRecord
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from sweeps.store.writer import SweepWriter
from sweeps.study.study_file import parse_study
from tests.support.analysis_case import INDEPENDENT, TEST, N, rec, row, runs


def child(w: SweepWriter, trial_id: str, cfg: TrainConfig) -> str:
    return w.child(trial_id, "sam", "search", cfg.model_dump(mode="json"), cfg.group_key())


def test_notes_and_table_say_what_was_skipped_and_the_fallback():
    nan = math.nan
    a = analyze_records(runs(test_acc=TEST, perturbed_kl=[0.2] * N, ever_forgotten=TEST,
                             hessian_trace=[1.0, 2.0, 3.0] + [nan] * 7, clean_fit=INDEPENDENT))
    notes = analysis_notes(a)
    assert ("Skipped: perturbed_kl (constant), hessian_trace (3 configs with finite values < 4)."
            in notes)
    assert "clean_fit's τ vs the gap is partly by construction (the gap contains it)." in notes
    assert "τ vs gap (clean_fit − test_acc) [95% CI]" in analysis_table_md(a)
    fallback = analyze_records(runs(val_acc=TEST, clean_fit=INDEPENDENT, ever_forgotten=TEST[::-1]))
    assert any("No run has test_acc: val_acc" in line for line in analysis_notes(fallback))
    table = analysis_table_md(fallback)
    assert "τ vs val_acc pooled [95% CI]" in table and "clean_fit − val_acc" in table
    sentence = best_sentence(fallback)
    assert "tracks validation accuracy most closely" in sentence
    assert "val_acc standing in" in sentence


def solo(records: list[RunRecord]) -> list[RunRecord]:
    """The runs, each of its own method: no within-method τ."""
    return [dataclasses.replace(r, method=f"m{i}") for i, r in enumerate(records)]


POOLED_WHY = (" It rests on pooled tau: within-method tau is defined for 0 of 3 diagnostics and "
              "granulated tau is defined for 0 of 3 (no study given: the searched keys are "
              "unknown), too few to rank on; pooled tau mixes differences between methods with "
              "differences within them.")


def solo_records(**columns: list[float]) -> list[RunRecord]:
    """One config (and method) per index i, final metric `k` = `columns[k][i]`."""
    n = len(next(iter(columns.values())))
    return [rec(i, {k: v[i] for k, v in columns.items()}, method=f"m{i}") for i in range(n)]


def test_sentence_names_a_best_ranker_only_when_its_interval_lies_above_the_others():
    rng = np.random.default_rng(0)
    test = list(np.linspace(0.5, 0.9, 40))
    strong = [t + rng.normal(0, 0.02) for t in test]          # tau near 0.9
    weak = list(rng.permutation(test))                         # tau near 0
    a = analyze_records(solo_records(test_acc=test, ever_forgotten=strong, hessian_top_eig=weak),
                        n_resamples=2000)
    e, h = row(a, "ever_forgotten").vs_target, row(a, "hessian_top_eig").vs_target
    assert e.abs_interval()[0] > h.abs_interval()[1]         # the intervals are apart
    assert best_sentence(a) == (
        f"ever_forgotten ranks runs by test accuracy best on pooled tau (tau = {e.fmt()}, n = 40): "
        f"its |tau| interval lies above every other diagnostic's: hessian_top_eig (|tau| "
        f"{abs(h.tau):.2f} [{h.abs_interval()[0]:.2f}, {h.abs_interval()[1]:.2f}])."
        + POOLED_WHY.replace("of 3", "of 2"))


def test_no_ranks_best_sentence_when_intervals_overlap_but_the_budget_that_decides():
    # two close rankers (tau 43/45 and 41/45) whose intervals overlap
    near, nearer = TEST[:], TEST[:]
    nearer[0], nearer[1] = nearer[1], nearer[0]                    # tau 43/45
    near[4], near[5], near[7], near[8] = near[5], near[4], near[8], near[7]   # tau 41/45
    b = analyze_records(solo(runs(test_acc=TEST, unforgettable=nearer, perturbed_flip=INDEPENDENT,
                                  forget_events=[-t for t in near])))
    u, f = row(b, "unforgettable").vs_target, row(b, "forget_events").vs_target
    assert u.tau == pytest.approx(43 / 45) and u.abs_interval()[0] < f.abs_interval()[1]
    sentence = best_sentence(b)
    assert "ranks runs by test accuracy best" not in sentence
    assert sentence.startswith(
        "Which diagnostic tracks test accuracy most closely is undecided on pooled tau: the |tau| "
        f"interval of unforgettable (tau = {u.fmt()}, n = {N}) overlaps forget_events's (|tau| "
        f"{abs(f.tau):.2f} [{f.abs_interval()[0]:.2f}, {f.abs_interval()[1]:.2f}])")
    assert decide_budget(u, f, "pooled") in sentence
    assert f"about {configs_for_tau((43 - 41) / 45 / 2, 41 / 45)} independent configs" in sentence
    # a perfect ordering has no valid interval at n = 10: no claim either
    c = analyze_records(solo(runs(test_acc=TEST, ever_forgotten=[1 - t for t in TEST],
                                  forget_events=INDEPENDENT)))
    assert best_sentence(c).startswith(
        "Which diagnostic tracks test accuracy most closely is undecided on pooled tau: "
        f"ever_forgotten has the largest |tau| (tau = -1.00 [no valid interval at n = {N}], "
        f"n = {N}) but no valid interval at n = {N}; intervals of ±")
    assert "nothing to rank" in best_sentence(analyze_records(runs(test_acc=TEST)))
    one = analyze_records(solo(runs(test_acc=TEST, clean_fit=TEST)))
    assert best_sentence(one).startswith(
        "clean_fit is the only diagnostic with enough values to rank on pooled tau")


def test_sentence_rests_on_within_method_tau_when_methods_confound_the_pooled_one():
    # two methods 0.3 apart in test accuracy; hessian_top_eig only tells the methods apart (it
    # is shuffled within each), ever_forgotten ranks the runs within each method perfectly
    # but is offset the other way between methods, so the pooled τ favours hessian_top_eig
    test = [0.50 + 0.01 * i + (0.3 if i % 2 else 0.0) for i in range(N)]
    hess = [(5.0 if i % 2 else 1.0) + 0.1 * INDEPENDENT[i] for i in range(N)]
    forgot = [-test[i] + (0.6 if i % 2 else 0.0) for i in range(N)]
    a = analyze_records(runs(test_acc=test, hessian_top_eig=hess, ever_forgotten=forgot))
    e, h = row(a, "ever_forgotten"), row(a, "hessian_top_eig")
    assert abs(h.vs_target.tau) > abs(e.vs_target.tau)               # pooled: hessian
    odd, even = [i for i in range(N) if i % 2], [i for i in range(N) if not i % 2]
    for m, idx in (("sam", odd), ("sgd", even)):
        assert e.within[m].tau == pytest.approx(-1) and e.within[m].n == 5
        assert h.within[m].tau == pytest.approx(
            stats.kendalltau([hess[i] for i in idx], [test[i] for i in idx]).statistic)
    assert e.within_mean.tau == pytest.approx(-1) and e.within_mean.groups == 2
    assert h.within_mean.tau == pytest.approx((h.within["sam"].tau + h.within["sgd"].tau) / 2)
    sentence = best_sentence(a)
    assert sentence.startswith(
        "Which diagnostic tracks test accuracy most closely is undecided on within-method tau: "
        "ever_forgotten has the largest |tau| (mean tau over 2 methods = -1.00 [no valid "
        f"interval at n = {N}], n = {N}; pooled tau = {e.vs_target.fmt()}, n = {N})")
    assert "independent configs per method" in sentence
    assert sentence.endswith(
        "It rests on within-method tau: defined for 2 of 2 diagnostics, it compares runs of one "
        "method only, so differences between methods cannot create the correlation; granulated "
        "tau is defined for 0 of 2 (no study given: the searched keys are unknown).")
    table = within_table_md(a)
    assert table.splitlines()[0] == "| Diagnostic | sam | sgd |"
    assert (f"| ever_forgotten | {e.within['sam'].fmt()} (n=5, p=0.017) | "
            f"{e.within['sgd'].fmt()} (n=5, p=0.017) |") in table      # exact: 2 / 5!


def test_sentence_rests_on_granulated_tau_when_runs_vary_one_key(make_record):
    study = parse_study("name: g\nmetric: val_acc\nsampler: grid\nmethods:\n"
                        "  sam: {space: {rho: {loguniform: [0.01, 0.5], values: [0.02, 0.05, 0.2]},"
                        " perturb_batch_size: {choice: [16, 32]}}}\n")
    recs = []
    for i, (m, rho) in enumerate([(16, 0.02), (16, 0.05), (16, 0.2), (32, 0.02), (32, 0.05),
                                  (32, 0.2)]):
        t = 0.7 + 0.01 * i
        recs.append(make_record("sam", "search", "completed", i,
                                {"rho": rho, "perturb_batch_size": m},
                                {"val_acc": 0.5, "test_acc": t, "ever_forgotten": 1 - t,
                                 "clean_fit": 0.9 + 0.01 * INDEPENDENT[i]}, i))
    a = analyze_records(recs, n_resamples=500, study=study)
    e = row(a, "ever_forgotten")
    assert e.granulated.psi.tau == pytest.approx(-1) and e.granulated.psi.groups == 2
    sentence = best_sentence(a)
    assert sentence.startswith(
        "Which diagnostic tracks test accuracy most closely is undecided on granulated tau: "
        "ever_forgotten has the largest |tau| (Psi over 2 searched keys (5 groups of runs) = "
        "-1.00 [no valid interval at n = 6], n = 6; pooled tau = -1.00 [no valid interval at "
        "n = 6], n = 6)")
    assert sentence.endswith(
        "It rests on granulated tau: defined for 2 of 2 diagnostics, it compares only configs "
        "that differ in one searched key, the method and the method's other keys held fixed, so "
        "neither can create the correlation.")
    assert "ranks runs by test accuracy best" not in sentence
    assert granulated_table_md(a).splitlines()[0] == (
        "| Diagnostic | ψ perturb_batch_size [95% CI] (groups, n) | ψ rho [95% CI] (groups, n) "
        "| pairs of configs |")
    # pairs: 3 of m (one per rho) + 2 x 3 of rho (within m = 16 and m = 32)
    assert ("| ever_forgotten | -1.00 [no valid interval at n = 6] (3, 6) | -1.00 [no valid "
            "interval at n = 6] (2, 6) | 9 |") in granulated_table_md(a)
    got = {r["diagnostic"]: r for r in csv.DictReader(io.StringIO(analysis_table_csv(a)))}
    assert float(got["ever_forgotten"]["psi"]) == pytest.approx(-1)
    assert float(got["ever_forgotten"]["psi_rho"]) == pytest.approx(-1)
    assert got["ever_forgotten"]["psi_keys"] == "2" and got["ever_forgotten"]["psi_pairs"] == "9"
    assert got["ever_forgotten"]["tau_sam"] != ""
    # with fewer than 6 pairs of configs (the two smallest rho only: 2 + 2 + 1 + 1),
    # granulated τ is shown but the sentence ranks on within-method τ
    few = analyze_records([r for r in recs if r.params["rho"] < 0.1], n_resamples=200,
                          study=study)
    assert row(few, "ever_forgotten").granulated.pairs == 4
    assert row(few, "ever_forgotten").granulated.psi.defined
    assert best_sentence(few).startswith("Which diagnostic tracks test accuracy most closely is "
                                         "undecided on within-method tau")
    assert ("granulated tau is defined for 2 of 2 but compares 6+ pairs of configs for 0."
            in best_sentence(few))


def test_write_analysis_files(tmp_path):
    a = analyze_records(runs(test_acc=TEST, clean_fit=INDEPENDENT, ever_forgotten=TEST[::-1],
                             hessian_trace=INDEPENDENT[::-1]))
    files = write_analysis(a, tmp_path / "out")
    assert [p.name for p in files] == ["analysis.md", "analysis.csv", "analysis_scatter.png"]
    with Image.open(files[2]) as im:
        im.verify()
    md = files[0].read_text()
    assert "## Generalization vs forgetting and sharpness" in md and analysis_table_md(a) in md
    assert best_sentence(a) in md and "![analysis_scatter](analysis_scatter.png)" in md
    got = {r["diagnostic"]: r for r in csv.DictReader(io.StringIO(files[1].read_text()))}
    assert set(got) == {"clean_fit", "ever_forgotten", "hessian_trace"}
    e = row(a, "ever_forgotten")
    assert float(got["ever_forgotten"]["tau"]) == pytest.approx(e.vs_target.tau)
    assert float(got["ever_forgotten"]["tau_gap"]) == pytest.approx(e.vs_gap.tau)
    assert int(got["ever_forgotten"]["n"]) == N and got["ever_forgotten"]["target"] == "test_acc"
    empty = write_analysis(analyze_records([]), tmp_path / "empty")   # no rows: no figure
    assert [p.name for p in empty] == ["analysis.md", "analysis.csv"]


STUDY = parse_study("name: s\nmetric: val_acc\nbaseline: sgd\nmethods:\n"
                    "  sgd: {fixed: {perturbation: none}}\n"
                    "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")


def test_report_has_the_section_only_when_runs_have_diagnostics(make_record, tmp_path):
    def records(diag: bool) -> list[RunRecord]:
        out = []
        for i in range(6):
            method, cfg = (("sgd", {"perturbation": "none", "lr": 0.1 + 0.01 * i}) if i % 2
                           else ("sam", {"rho": 0.05 + 0.01 * i}))     # 6 distinct configs
            final = {"val_acc": 0.6 + 0.02 * i, "test_acc": 0.55 + 0.02 * i,
                     **({"ever_forgotten": 0.4 - 0.05 * i, "clean_fit": 0.9} if diag else {})}
            out.append(make_record(method, "search" if i < 2 else "confirm", "completed", i,
                                   cfg, final, i))
        return out

    res = build_report(records(True), STUDY, tmp_path / "with", "md")
    md = (tmp_path / "with" / "report.md").read_text()
    assert "## Generalization vs forgetting and sharpness" in md
    assert "ever_forgotten is the only diagnostic with enough values to rank on pooled tau" in md
    assert "clean_fit (constant)" in md
    assert {"analysis.md", "analysis.csv", "analysis_scatter.png"} <= {p.name for p in res.files}
    res = build_report(records(False), STUDY, tmp_path / "without", "md")
    assert "Generalization vs" not in (tmp_path / "without" / "report.md").read_text()
    assert not any(p.name.startswith("analysis") for p in res.files)


def test_analyze_missing_sweep_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "nope", "--storage", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "sweep analyze: error: sweep 'nope' not found" in err and err.count("\n") == 0
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_analyze_end_to_end_through_mlflow(tmp_path, capsys):
    uri, storage = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "runs"
    meta = SweepMeta.new(STUDY, uri)
    sweep_dir(storage, "s").write(STUDY, meta)
    w = SweepWriter(uri, "s", meta.sweep_id)
    parent = w.open_parent()
    for i in range(5):
        run = child(w, f"t{i}", TrainConfig(dataset="digits", epochs=2, seed=i, lr=0.1 + 0.01 * i))
        w.log_epoch(run, {"epoch": 1, "val_acc": 0.5, "forget_events": 9, "clean_fit": 0.5})
        w.log_epoch(run, {"epoch": 2, "val_acc": 0.6 + 0.01 * i, "test_acc": 0.6 + 0.02 * i,
                          "forget_events": 10 - i, "clean_fit": 0.9, "hessian_top_eig": 3.0})
        w.finish(run, "completed")
    pruned = child(w, "t9", TrainConfig(dataset="digits", epochs=2, seed=9))
    w.log_epoch(pruned, {"epoch": 1, "val_acc": 0.1, "forget_events": 0})
    w.finish(pruned, "pruned")
    assert main(["analyze", "s", "--storage", str(storage), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    nv = "[no valid interval at n = 5]"
    assert (f"| forget_events | 5 | -1.00 {nv} | 0.017 | -1.00 {nv} (1) | n/a | 5 | 1.00 {nv} |"
            in out)
    assert ("forget_events is the only diagnostic with enough values to rank on within-method "
            f"tau (mean tau over 1 method = -1.00 {nv}, n = 5; pooled tau = -1.00") in out
    assert "ranks runs by test accuracy best" not in out
    assert "hessian_top_eig (constant)" in out and "clean_fit (constant)" in out
    report = storage / "s" / "report"
    assert {p.name for p in report.iterdir()} == {"analysis.md", "analysis.csv",
                                                  "analysis_scatter.png"}
    logged = {f.path for f in MlflowClient(uri).list_artifacts(parent, "analysis")}
    assert logged == {"analysis/analysis.md", "analysis/analysis.csv",
                      "analysis/analysis_scatter.png"}


def test_four_perfectly_ordered_configs_report_p_0083_and_no_interval():
    a = analyze_records(solo(runs(test_acc=TEST, ever_forgotten=TEST))[:4])
    table = analysis_table_md(a)
    assert ("| ever_forgotten | 4 | 1.00 [no valid interval at n = 4] | 0.083 |" in table)
    assert "[1.00, 1.00]" not in table and "ranks runs by" not in best_sentence(a)
