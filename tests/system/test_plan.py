"""`sweep plan search_spaces/tiny.yaml`: a real (tiny) calibration run per method through the
CLI, then the cost and power tables, exit 0, and nothing written where it ran."""

from __future__ import annotations

from sweeps.cli import main
from sweeps.results.power_plan import seeds_for_effect
from tests.support import ROOT

TINY = ROOT / "search_spaces" / "tiny.yaml"


def test_plan_on_the_tiny_study_prints_cost_and_power_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["plan", str(TINY), "--calibration-epochs", "1", "--cpus", "2", "--seeds", "4",
                 "--sd", "0.01", "--effect", "0.02"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("# Plan: tiny\n") and "calibration: 4 configs per method" in out
    assert ("| method | search trials | confirm seeds | epochs | search epochs a trial | "
            "grad evals | device-seconds |") in out
    cost = out.split("## Power")[0]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in cost.splitlines()
             if line.startswith(("| sgd |", "| sam |", "| total |"))]
    rows = {c[0]: c for c in cells}
    # tiny: sgd searches nothing (1 trial), sam 2 trials; 4 confirm seeds; 2 epochs
    assert rows["sgd"][1:4] == ["1", "4", "2"] and rows["sam"][1:4] == ["2", "4", "2"]
    assert rows["sam"][4] == "2.0"  # `scheduler: none`: every search trial trains all its epochs
    # digits: 1,437 training examples (after the validation split) at batch 64 is 23 steps an
    # epoch; SAM's two passes a step double sgd's gradient evaluations
    sgd_ge, sam_ge = (float(rows[m][5].replace(",", "")) for m in ("sgd", "sam"))
    assert sam_ge / 6 == 2 * sgd_ge / 5
    assert float(rows["total"][6].replace(",", "")) > 0 and rows["total"][1:3] == ["3", "8"]
    assert "on 2 concurrent trial slot(s)" in out
    # t(0.975, 3) * 0.01 / sqrt(4); the seeds for Δ = 0.02
    assert f"| sam | 0.0100 (--sd) | 0.0159 | {seeds_for_effect(0.01, 0.02)} |" in out
    assert "| sam | 2 | n/a (≤ 4 configs) | 46 | 28 |" in out
    assert list(tmp_path.iterdir()) == []
