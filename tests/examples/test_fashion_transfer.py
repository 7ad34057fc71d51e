"""search_spaces/fashion_transfer.yaml end to end, smaller: search, confirm, transfer (lr searched
once, then every source method's confirmed checkpoints fine-tuned with one recipe), report; in
process on the session's Ray. Fashion-MNIST's files are written from the digits images
(`tests.support.fashion_files`), so the class split 0-5 -> 6-9 is one of digits."""

from __future__ import annotations

import statistics

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from sweeps.cli import main
from sweeps.results.transfer import recipe_of
from sweeps.store.schema import parse_params
from tests.support import ROOT
from tests.support.fashion_files import write_fashion_from_digits

pytestmark = pytest.mark.ray
STUDY = ROOT / "search_spaces" / "fashion_transfer.yaml"
NAME = "fashion_transfer"


def small_study(tmp_path) -> None:
    study = yaml.safe_load(STUDY.read_text())
    write_fashion_from_digits(tmp_path / "fashion")
    data = str(tmp_path / "fashion")
    study["base"]["dataset_kwargs"]["data_dir"] = data
    study["base"].update(train_subset=300, val_size=150, epochs=2, batch_size=32)
    study.update(budget=1, confirm_seeds=2)
    t = study["transfer"]
    t["target"]["dataset_kwargs"]["data_dir"] = data
    t["target"].update(train_subset=200, val_size=100)
    t["recipe"].update(epochs=1, batch_size=32)
    t["lr_grid"] = [0.01, 0.05]
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))


def _sweep(*args: str) -> int:
    return main([*args, "--storage", "runs"])


def test_fashion_transfer_fine_tunes_every_confirmed_checkpoint_with_one_recipe(
        ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small_study(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", "study.yaml", "--storage", "runs", "--tracking-uri", uri]) == 0
    capsys.readouterr()
    # before confirm: nothing to fine-tune, one line, nothing written
    assert _sweep("transfer", NAME) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run `sweep confirm fashion_transfer` first" in err
    assert not list((tmp_path / "runs" / NAME).glob("transfer*"))
    assert _sweep("confirm", NAME) == 0
    capsys.readouterr()
    # a target with one class, an import string that does not import: one line, nothing written
    study = yaml.safe_load((tmp_path / "study.yaml").read_text())
    for target, words in (("tests.support.transfer_data:one_class", "a single class (0)"),
                          ("tests.support.nosuch:data", "tests.support.nosuch")):
        study["transfer"]["target"] = {"dataset": target}
        (tmp_path / "other.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
        assert _sweep("transfer", NAME, "--study", "other.yaml") == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and words in err, err
        assert err.startswith(f"sweep transfer: error: transfer.target: key 'dataset': value '{target}'")
    assert not list((tmp_path / "runs" / NAME).glob("transfer*"))
    assert _sweep("transfer", NAME) == 0
    assert _sweep("report", NAME) == 0

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(NAME)
    runs = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'")
    by_phase = {p: [r for r in runs if r.data.tags["phase"] == p]
                for p in ("confirm", "transfer-lr", "transfer")}
    confirm, lr_runs, transfer = by_phase["confirm"], by_phase["transfer-lr"], by_phase["transfer"]
    assert len(confirm) == 4 and len(lr_runs) == 2 and len(transfer) == 4

    # every confirmed checkpoint (method x confirm seed) fine-tuned exactly once, from its own trial
    sources = {(r.data.tags["method"], r.data.params["seed"]): r.data.tags["trial_id"] for r in confirm}
    done = {(r.data.tags["method"], r.data.params["seed"]): r.data.params["init_from"] for r in transfer}
    assert set(done) == set(sources) == {(m, s) for m in ("sgd", "sam") for s in ("1", "2")}
    for key, path in done.items():
        assert "/confirm-" in path and f"/{key[0]}-{sources[key]}/checkpoint_" in path, path
    # the same recipe for every source, read back from the MLflow params; the lr chosen once
    recipes = [recipe_of(parse_params(r.data.params)) for r in transfer]
    assert all(rec == recipes[0] for rec in recipes)
    assert recipes[0]["epochs"] == 1 and recipes[0]["perturbation"] == "none"
    lr_val = {float(r.data.params["lr"]): r.data.metrics["val_acc"] for r in lr_runs}
    assert set(lr_val) == {0.01, 0.05}
    assert {r.data.tags["method"] for r in lr_runs} == {"sgd"}  # the baseline's first checkpoint
    assert float(transfer[0].data.params["lr"]) == max(lr_val, key=lambda lr: (lr_val[lr], -lr))
    assert all(r.data.params["dataset_kwargs"] == transfer[0].data.params["dataset_kwargs"]
               for r in transfer)

    # the head re-created for the target's 4 classes, the backbone carried over from 6 classes
    trial = transfer[0].data.tags["trial_id"]
    method = transfer[0].data.tags["method"]
    after = sorted((tmp_path / "runs" / NAME).glob(f"transfer-*/{method}-{trial}/checkpoint_*"))[-1]
    state = torch.load(after / "state.pt", weights_only=True)["model"]
    before = torch.load(transfer[0].data.params["init_from"], weights_only=True)["model"]
    assert state["classifier.weight"].shape == (4, 128) and before["classifier.weight"].shape == (6, 128)

    # the report: per source method the target test accuracy over its seeds, Δ vs sgd's
    md = (tmp_path / "runs" / NAME / "report" / "report.md").read_text()
    assert "## Transfer" in md and "Every transfer run used the same recipe." in md
    section = md.split("## Transfer")[1]
    for m in ("sgd", "sam"):
        accs = [r.data.metrics["test_acc"] for r in transfer if r.data.tags["method"] == m]
        row = next(line for line in section.splitlines() if line.startswith(f"| {m} |"))
        assert f"{statistics.fmean(accs):.4f} ± {statistics.stdev(accs):.4f}" in row, row
        assert "| 2 |" in row
    sam_row = next(line for line in section.splitlines() if line.startswith("| sam |"))
    sam = {r.data.params["seed"]: r.data.metrics["test_acc"] for r in transfer
           if r.data.tags["method"] == "sam"}
    sgd = {r.data.params["seed"]: r.data.metrics["test_acc"] for r in transfer
           if r.data.tags["method"] == "sgd"}
    delta = statistics.fmean(sam[s] - sgd[s] for s in sam)
    assert f"{delta:+.4f}" in sam_row and "baseline" in section.split("| sgd |")[1].splitlines()[0]
    # the main table still counts the search and confirm runs only
    assert "sam" in md.split("## Transfer")[0]

    capsys.readouterr()
    assert _sweep("status", NAME) == 0
    status = capsys.readouterr().out
    assert "  sam          transfer 2: completed 2" in status and "  sgd          transfer 2" in status

    # a second `transfer` finds every cell filled and runs nothing
    assert _sweep("transfer", NAME) == 0
    assert "every transfer run is there" in capsys.readouterr().out
