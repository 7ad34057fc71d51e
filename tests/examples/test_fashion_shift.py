"""search_spaces/fashion_shift.yaml end to end, smaller: a sweep whose runs score generated
corruptions and a class-mapped image folder, confirmed and reported (`sweep run`, `confirm`,
`report`, in process on the session's Ray). Fashion-MNIST's files are written in their IDX format
from the digits images (upscaled to 28 x 28: a learnable stand-in; no registry ships the data)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from PIL import Image

from sweeps.cli import main
from tests.support import ROOT
from tests.support.fashion_files import write_fashion_from_digits

pytestmark = pytest.mark.ray
STUDY = ROOT / "search_spaces" / "fashion_shift.yaml"


def write_sketches(root) -> None:
    """An ImageFolder of two classes ("zero", "one") and one unmapped ("other")."""
    from sklearn.datasets import load_digits

    d = load_digits()
    for name, digit in (("zero", 0), ("one", 1), ("other", 2)):
        (root / name).mkdir(parents=True)
        for i in np.flatnonzero(d.target == digit)[:6]:
            img = (d.images[i] / 16 * 255).astype(np.uint8)
            Image.fromarray(np.stack([img] * 3, axis=2)).resize((28, 28)).save(root / name / f"{i}.png")


def small_study(tmp_path) -> None:
    study = yaml.safe_load(STUDY.read_text())
    assert study["base"]["eval_sets"] == [{"corruption": "all", "severity": "all", "examples": 1000}]
    study["base"].update(data_dir=str(tmp_path / "fashion"), train_subset=1000, val_size=200,
                         epochs=3, batch_size=32, eval_sets=[
                             {"corruption": ["contrast", "gaussian_blur"], "severity": [1, 5],
                              "examples": 200},
                             {"folder": str(tmp_path / "sketch"), "class_map": {"zero": 0, "one": 1}}])
    study.update(budget=1, confirm_seeds=2)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))


def test_fashion_shift_sweep_scores_and_reports_its_shifted_sets(ray_local, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_fashion_from_digits(tmp_path / "fashion")
    write_sketches(tmp_path / "sketch")
    small_study(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", "study.yaml", "--storage", "runs", "--tracking-uri", uri]) == 0
    assert main(["confirm", "fashion_shift", "--storage", "runs"]) == 0
    assert main(["report", "fashion_shift", "--storage", "runs"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("fashion_shift")
    runs = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'")
    confirm = [r for r in runs if r.data.tags["phase"] == "confirm"]
    assert len(confirm) == 4 and len(runs) == 6
    sets = {"contrast_1", "contrast_5", "gaussian_blur_1", "gaussian_blur_5", "sketch"}
    for r in runs:
        m = r.data.metrics
        assert {f"shift_acc/{s}" for s in sets} | {"shift_acc/corruption_mean"} <= set(m)
        assert m["test_acc"] > 0.5 and m["shift_acc/contrast_5"] < m["shift_acc/contrast_1"]
        assert m["shift_acc/sketch"] * 12 == pytest.approx(round(m["shift_acc/sketch"] * 12))
        history = client.get_metric_history(r.info.run_id, "shift_acc/contrast_1")
        assert [h.step for h in history] == [3]  # with the test split: the last epoch
    md = (tmp_path / "runs" / "fashion_shift" / "report" / "report.md").read_text()
    assert "## Shifted test sets" in md
    for key in ("mCA", "mCE", *sets):
        assert f"| {key} | sgd |" in md and f"| {key} | sam |" in md, key
    assert "sam: mean corruption accuracy" in md
