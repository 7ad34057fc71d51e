"""Bad `init_from` weights and bad `transfer:` blocks on the command line: `sweep train` and
`sweep run` exit 2 with one line naming the key and the value, before Ray starts or anything is
written (a missing file, a file that is not a state dict, weights of the wrong shape for the
backbone, an unknown target dataset, a key in the wrong part of the block). A target with one
class and a missing confirm phase: tests/examples/test_fashion_transfer.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from samtrain.models import build_model
from sweeps.cli import main

pytestmark = pytest.mark.before_local_ray  # stderr must hold exactly the one error line


class Reached(BaseException):
    """Bad input got past validation."""


def _weights(folder: Path) -> None:
    torch.manual_seed(0)
    torch.save(build_model("small_cnn", 10, 3, 8).state_dict(), folder / "rgb.pt")
    torch.save(build_model("resnet20", 10, 1, 8).state_dict(), folder / "resnet.pt")
    torch.save({"weights": [1, 2]}, folder / "dict.pt")
    (folder / "text.pt").write_text("weights\n")


TRAIN_CASES = [
    ("none.pt", "no such file or folder"),
    ("text.pt", "is not a torch.save'd state dict"),
    ("dict.pt", "is not a state dict"),
    ("rgb.pt", "weight 'features.0.weight' has shape (32, 3, 3, 3), the backbone of model "
               "'small_cnn' needs (32, 1, 3, 3)"),
    ("resnet.pt", "its weights do not fit the backbone"),
]

STUDY = ("name: s\nbase: {dataset: digits, epochs: 1, batch_size: 64}\n"
         "methods:\n  sgd: {fixed: {perturbation: none}}\ntransfer: ")
RUN_CASES = [
    ("{target: {dataset: fashion_mnst}}", ("transfer: key 'dataset'", "'fashion_mnst'")),
    ("{target: {dataset: digits}, recipe: {dataset_kwargs: {}}}",
     ("transfer.recipe.dataset_kwargs", "belongs in transfer.target")),
    ("{target: {dataset: digits}, recipe: {seed: 3}}", ("transfer.recipe.seed", "cannot be set")),
    ("{target: {dataset: digits}, recipe: {lr: -1}}", ("transfer: key 'lr'", "-1")),
    ("{target: {dataset: digits}, lr_grid: []}", ("transfer.lr_grid", "[]")),
    ("{target: {epochs: 3}}", ("transfer.target.epochs", "belongs in transfer.recipe")),
    ("{recipe: {epochs: 3}}", ("transfer.target", "required key is missing")),
]


def _no_ray(monkeypatch) -> None:
    import ray

    import sweeps.execution.runner

    def reached(*args, **kwargs):
        raise Reached(args)

    monkeypatch.setattr(ray, "init", reached)
    monkeypatch.setattr(sweeps.execution.runner, "connect_ray", reached)


def _one_line_and_nothing_written(tmp_path: Path, argv: list[str], capsys) -> str:
    before = {p.relative_to(tmp_path) for p in Path(tmp_path).rglob("*")}
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and not out and len(err.splitlines()) == 1, (out, err)
    assert {p.relative_to(tmp_path) for p in Path(tmp_path).rglob("*")} == before
    return err


@pytest.mark.parametrize("file, words", TRAIN_CASES)
def test_bad_init_from_exits_2_before_ray(file, words, tmp_path, monkeypatch, capsys):
    _no_ray(monkeypatch)
    monkeypatch.chdir(tmp_path)
    _weights(tmp_path)
    (tmp_path / "c.yaml").write_text(f"dataset: digits\nepochs: 1\ninit_from: {tmp_path / file}\n")
    err = _one_line_and_nothing_written(tmp_path, ["train", "c.yaml", "--storage", "runs"], capsys)
    assert f"key 'init_from': value '{tmp_path / file}' is invalid: " in err and words in err, err


@pytest.mark.parametrize("block, words", RUN_CASES)
def test_bad_transfer_block_exits_2_before_ray(block, words, tmp_path, monkeypatch, capsys):
    _no_ray(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(STUDY + block + "\n")
    err = _one_line_and_nothing_written(tmp_path, ["run", "s.yaml", "--storage", "runs"], capsys)
    assert all(w in err for w in words), err
