"""examples/custom_problem end to end: a package outside the repository (`waveforms`, copied to a
temporary folder), named only by import strings in its study file, is swept, confirmed and
reported through `python -m sweeps run`, `confirm` and `report` (subprocesses, a local Ray each)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.support import ROOT
from tests.support.faults import Sweep, private_ray_tmpdir, sweep_env

pytestmark = pytest.mark.ray
EXAMPLE = ROOT / "examples" / "custom_problem"
OWN = {"dataset": "waveforms.data:build", "model": "waveforms.nets:build",
       "loss": "waveforms.losses:make"}


def small_study(tmp_path) -> str:
    """The example's study, smaller: 1 search trial per method, 2 epochs, 400 + 200 waveforms."""
    study = yaml.safe_load((EXAMPLE / "study.yaml").read_text())
    assert {k: study["base"][k] for k in OWN} == OWN  # the example names its parts by import string
    study["base"]["dataset_kwargs"].update(pool_size=400, test_size=200)
    study["base"].update(epochs=2, val_size=100)
    study.update(budget=1, confirm_seeds=2)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return study["name"]


def test_an_outside_package_is_swept_confirmed_and_reported(tmp_path):
    site = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLE / "waveforms", site / "waveforms",
                    ignore=shutil.ignore_patterns("__pycache__"))
    name = small_study(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    with private_ray_tmpdir() as ray_tmp:
        env = sweep_env(ray_tmp, PYTHONPATH=path)
        where = subprocess.run([sys.executable, "-c", "import waveforms; print(waveforms.__file__)"],
                               env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
        assert where.stdout.strip() == str(site / "waveforms" / "__init__.py")  # not the repo's
        for args in (["run", "study.yaml", "--tracking-uri", uri], ["confirm", name],
                     ["report", name, "--format", "csv"]):
            s = Sweep([*args, "--storage", "runs"], env, tmp_path, tmp_path / "logs")
            rc, _, _ = s.wait(timeout=400)
            assert rc == 0, s.tail()

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'")
    got = sorted((r.data.tags["method"], r.data.tags["phase"], r.data.params["seed"]) for r in runs)
    assert got == [("obf", "confirm", "1"), ("obf", "confirm", "2"), ("obf", "search", "0"),
                   ("sam", "confirm", "1"), ("sam", "confirm", "2"), ("sam", "search", "0")]
    for r in runs:  # trained on the package's own parts, with samtrain's splits and diagnostics
        params, metrics = r.data.params, r.data.metrics
        assert r.data.tags["status"] == "completed"
        assert {k: params[k] for k in OWN} == OWN
        assert json.loads(params["model_kwargs"]) == {"width": 16}
        assert json.loads(params["loss_kwargs"]) == {"q": 0.7}
        assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["epoch"] == 2
        assert {"val_acc", "ever_forgotten", "noisy_fit", "perturbed_flip"} <= set(metrics)

    report = tmp_path / "runs" / name / "report"
    with (report / "report.csv").open() as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"sam", "obf"}
    for row in rows.values():  # each method's winner scored on the test set over 2 fresh seeds
        assert row["n"] == "2" and 0.0 < float(row["mean"]) <= 1.0 and float(row["std"]) >= 0.0
    assert rows["sam"]["delta"] == "" and rows["obf"]["test"] == (
        "sign-flip permutation (exact)")  # baseline: sam; the default test
    assert abs(float(rows["obf"]["delta"]) - (float(rows["obf"]["mean"]) - float(rows["sam"]["mean"]))) < 1e-9
    md = (report / "report.md").read_text()
    rows_md = [line.split(" | ")[0].strip("|* ") for line in md.splitlines() if line.startswith("| ")]
    assert {"sam", "obf"} <= set(rows_md)
    # the verdict names the pair; at 2 epochs on 400 waveforms both methods may tie on every seed
    # (confirm seeds draw the data too), and a tie has no Δ sentence of its own
    assert re.search(r"^- obf (vs|beats|is worse than) sam\b", md, re.M)


def test_the_docs_show_the_example_as_it_is():
    """docs/custom-problem.md ("Your own model, data and loss"): the study file whole, and each
    Python block (headed `# waveforms/FILE.py`) a verbatim excerpt of that file."""
    section = (ROOT / "docs" / "custom-problem.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    yamls = [text for lang, text in blocks if lang == "yaml"]
    assert yamls == [(EXAMPLE / "study.yaml").read_text()]
    files = []
    for lang, text in blocks:
        if lang == "python":
            head, body = text.split("\n", 1)
            files.append(head.removeprefix("# "))
            assert body.strip() in (EXAMPLE / files[-1]).read_text(), files[-1]
    assert files == ["waveforms/nets.py", "waveforms/data.py", "waveforms/losses.py"]
