"""Shifted evaluation sets in a run: accuracy falls with corruption severity on a trained model,
a class-mapped image folder is scored on its mapped classes only, and bad sets are one-line
errors before anything starts."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from samtrain.config.train_config import TrainConfig
from samtrain.data import check_dataset
from samtrain.data.build import load_source
from samtrain.data.eval_sets import build_eval_sets, pixel_range
from samtrain.engine.epoch import evaluate
from samtrain.engine.loaders import make_eval_loader
from samtrain.engine.loop import run_training
from samtrain.engine.shift_eval import Restricted
from samtrain.engine.worker_context import LocalContext
from samtrain.errors import ConfigError
from samtrain.models.losses import build_loss

NOISE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "jpeg_compression")


def test_accuracy_falls_with_severity_on_a_trained_model():
    cfg = TrainConfig(dataset="digits", epochs=4, batch_size=64, lr=0.05, perturbation="none",
                      eval_sets=[{"corruption": "all", "severity": [1, 3, 5]}])
    final = run_training(cfg, LocalContext())
    acc = {k.removeprefix("shift_acc/"): v for k, v in final.items() if k.startswith("shift_acc/")}
    by_severity = {s: statistics.fmean(v for k, v in acc.items() if k.endswith(f"_{s}"))
                   for s in (1, 3, 5)}
    assert final["test_acc"] > 0.9
    assert final["test_acc"] >= by_severity[1] > by_severity[3] + 0.05 > by_severity[5] + 0.1
    assert acc["corruption_mean"] == pytest.approx(statistics.fmean(by_severity.values()))
    one_image = 1 / 360  # the digits test split; the noises barely touch 8 x 8 digits
    for name in {k.rpartition("_")[0] for k in acc} - {"corruption"}:
        slack = 2 * one_image if name in NOISE else 0.0
        assert acc[f"{name}_5"] <= acc[f"{name}_1"] + slack, name
        if name not in NOISE:
            assert acc[f"{name}_5"] < acc[f"{name}_1"], name
    assert {f"shift_loss/{k}" for k in acc if k != "corruption_mean"} <= set(final)


def test_corrupted_sets_are_the_same_for_every_run_seed_and_keep_the_value_range():
    specs = [{"corruption": "elastic_transform", "severity": 4, "examples": 30}]
    a, b = (build_eval_sets(TrainConfig(dataset="digits", seed=s, eval_sets=specs),
                            load_source(TrainConfig(dataset="digits")))[0].make() for s in (0, 9))
    assert torch.equal(a.images, b.images) and len(a) == 30
    test = load_source(TrainConfig(dataset="digits")).test
    low, high = pixel_range(test)
    assert a.images.min() >= low.min() - 1e-5 and a.images.max() <= high.max() + 1e-5
    assert torch.equal(a.targets, test.targets[:30])
    other = build_eval_sets(TrainConfig(dataset="digits", data_seed=1, eval_sets=specs),
                            load_source(TrainConfig(dataset="digits")))[0].make()
    assert not torch.equal(a.images, other.images)


def write_folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


class Fixed(nn.Module):
    """Logits that prefer class 5, then 7, then 3, whatever the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 10)
        logits[:, 5], logits[:, 7], logits[:, 3] = 3.0, 2.0, 1.0
        return logits


def test_a_class_mapped_folder_is_scored_only_on_its_classes(tmp_path):
    folder = write_folder(tmp_path / "sketch", {"cat": 3, "dog": 5, "frog": 4})
    cfg = TrainConfig(dataset="digits", eval_sets=[{"folder": str(folder),
                                                    "class_map": {"cat": 3, "dog": 7}}])
    check_dataset(cfg)
    [s] = build_eval_sets(cfg, load_source(cfg))
    ds = s.make()
    assert s.name == "sketch" and s.classes == (3, 7)
    assert len(ds) == 8 and sorted(ds.targets.tolist()) == [0] * 3 + [1] * 5  # frog left out
    x, _ = ds[0]
    assert tuple(x.shape) == (1, 8, 8)  # grey, the training images' size
    loader = make_eval_loader(ds, 4, 1, 0)
    dev = torch.device("cpu")
    scored = evaluate(Restricted(Fixed(), s.classes), loader, build_loss(cfg), cfg, dev)
    assert scored["count"] == 8 and scored["acc"] == pytest.approx(5 / 8)  # 7 beats 3: "dog"
    logp = torch.log_softmax(torch.tensor([1.0, 2.0]), 0)
    assert scored["loss"] == pytest.approx(-(3 * logp[0] + 5 * logp[1]).item() / 8, rel=1e-5)
    unmapped = RelabeledAll(ds)
    assert evaluate(Fixed(), make_eval_loader(unmapped, 4, 1, 0), build_loss(cfg), cfg,
                    dev)["acc"] == 0.0  # class 5, which the folder lacks, would win every image


class RelabeledAll(torch.utils.data.Dataset):
    """The mapped folder's items with their training class indices (3 or 7) as targets."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        x, y = self.ds[i]
        return x, (3, 7)[y]


def test_an_unmapped_folder_keeps_its_sorted_classes(tmp_path):
    folder = write_folder(tmp_path / "v2", {"0": 2, "1": 1})
    cfg = TrainConfig(dataset="digits", eval_sets=[{"folder": str(folder), "name": "digits_v2"}])
    [s] = build_eval_sets(cfg, load_source(cfg))
    assert s.name == "digits_v2" and s.classes is None
    assert sorted(s.make().targets.tolist()) == [0, 0, 1]


@pytest.mark.parametrize("spec, words", [
    ({"folder": "{t}/nope"}, ("eval_sets.0.folder", "nope", "no such folder")),
    ({"folder": "{t}/empty"}, ("eval_sets.0.folder", "no class folders")),
    ({"folder": "{t}/sketch", "class_map": {"cat": 1, "horse": 2}},
     ("eval_sets.0.class_map", "horse", "not in")),
    ({"folder": "{t}/sketch", "class_map": {"cat": 10}},
     ("eval_sets.0.class_map", "training classes 10", "10 classes (0..9)")),
    ({"import": "nosuchpkg.sets:build"}, ("eval_sets.0.import", "nosuchpkg")),
])
def test_bad_sets_are_one_line_errors_before_anything_starts(tmp_path, spec, words):
    write_folder(tmp_path / "sketch", {"cat": 1, "dog": 1})
    (tmp_path / "empty").mkdir()
    spec = {k: v.replace("{t}", str(tmp_path)) if isinstance(v, str) else v for k, v in spec.items()}
    with pytest.raises(ConfigError) as e:
        check_dataset(TrainConfig(dataset="digits", eval_sets=[spec]))
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_cifar_c_files_give_one_severity_block_normalized_like_cifar(tmp_path):
    from samtrain.data.cifar import STATS
    from samtrain.data.cifar_c import load_cifar_c

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5 * 4, 32, 32, 3), dtype=np.uint8)
    labels = np.tile(np.array([3, 1, 4, 1], dtype=np.uint8), 5)
    np.save(tmp_path / "fog.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    ds = load_cifar_c(str(tmp_path), "fog", 3, examples=3)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in STATS["cifar10"])
    assert len(ds) == 3 and ds.targets.tolist() == [3, 1, 4]
    want = torch.from_numpy(images[8]).permute(2, 0, 1).float() / 255
    assert torch.allclose(ds[0][0], (want - mean) / std)
    cfg = TrainConfig(dataset="digits", eval_sets=[{
        "import": "samtrain.data.cifar_c:load_cifar_c", "name": "fog_3",
        "kwargs": {"root": str(tmp_path), "corruption": "fog", "severity": 3}}])
    check_dataset(cfg)
    [s] = build_eval_sets(cfg, load_source(cfg))
    assert s.name == "fog_3" and len(s.make()) == 4


def test_a_remote_cluster_still_resolves_the_import_strings_of_its_sets():
    """`sweep run --address` cannot read the workers' folders, but imports what it names."""
    from samtrain.engine.preflight import resolve_components

    resolve_components(TrainConfig(eval_sets=[{"import": "samtrain.data.cifar_c:load_cifar_c"}]))
    with pytest.raises(ConfigError, match=r"key 'eval_sets.1.import': value 'samtrain.data:nope'"):
        resolve_components(TrainConfig(eval_sets=[{"corruption": "contrast"},
                                                  {"import": "samtrain.data:nope"}]))
