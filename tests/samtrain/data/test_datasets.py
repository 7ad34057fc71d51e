"""Tests for samtrain.data: every dataset loader (on tiny files in the real on-disk formats),
train_subset, label noise and the missing-data error."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
import torch

from samtrain.config.train_config import TrainConfig
from samtrain.data import DataBundle, DatasetNotFound, apply_label_noise, build_datasets
from samtrain.data import fashion_mnist as fm
from samtrain.data.idx import read_idx
from tests.support import ROOT
from tests.support.files import write_cifar, write_fashion_idx, write_image_folder


def cfg(**kw: object) -> TrainConfig:
    return TrainConfig(**kw)


# ---------------------------------------------------------------- label noise


def test_label_noise_flips_exact_fraction_to_other_classes() -> None:
    y = torch.arange(1000) % 10
    y_before = y.clone()
    noisy = apply_label_noise(y, 0.4, num_classes=10, seed=3)
    changed = noisy != y
    assert int(changed.sum()) == 400
    assert torch.equal(y, y_before)  # input untouched
    assert noisy.dtype == torch.int64 and noisy.data_ptr() != y.data_ptr()
    assert noisy.min() >= 0 and noisy.max() < 10
    # every flip goes to another class, and all other classes are reachable
    shifts = (noisy[changed] - y[changed]) % 10
    assert set(shifts.tolist()) == set(range(1, 10))


@pytest.mark.parametrize("n,fraction", [(7, 0.5), (5, 0.5), (3, 0.1), (10, 0.0), (4, 1.0)])
def test_label_noise_count_is_round_fraction_n(n: int, fraction: float) -> None:
    y = torch.zeros(n, dtype=torch.int64)
    noisy = apply_label_noise(y, fraction, num_classes=3, seed=0)
    assert int((noisy != y).sum()) == round(fraction * n)


def test_label_noise_deterministic_per_seed() -> None:
    y = torch.arange(500) % 5
    a = apply_label_noise(y, 0.3, 5, seed=1)
    assert torch.equal(a, apply_label_noise(y, 0.3, 5, seed=1))
    assert not torch.equal(a, apply_label_noise(y, 0.3, 5, seed=2))


def test_label_noise_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        apply_label_noise(torch.tensor([0.0, 1.0]), 0.5, 2, 0)
    with pytest.raises(ValueError):
        apply_label_noise(torch.tensor([0, 5]), 0.5, 2, 0)
    with pytest.raises(ValueError):
        apply_label_noise(torch.tensor([0, 0]), 1.0, 1, 0)


# ---------------------------------------------------------------- digits, subset, noise


def test_digits_shapes_split_and_normalization() -> None:
    b = build_datasets(cfg(dataset="digits"))
    assert isinstance(b, DataBundle)
    # digits' 1437-image pool (a stratified split of sklearn's 1797) less val_size = 10 %
    assert (len(b.train), len(b.val), len(b.test)) == (1293, 144, 360)
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, 8)
    x, y = b.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    pool = torch.cat([b.train.images, b.val.images])
    assert abs(float(pool.mean())) < 1e-4 and abs(float(pool.std()) - 1) < 1e-3
    assert b.test.targets.bincount(minlength=10).min() >= 35  # stratified: 36 or 37 per class
    # every split is fixed by data_seed, independent of cfg.seed
    other = build_datasets(cfg(dataset="digits", seed=7))
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(b, split).images, getattr(other, split).images)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(r.numpy().tobytes()) for r in images.flatten(1)}


def test_validation_is_held_out_of_the_pool_disjoint_from_train_and_fixed_by_data_seed() -> None:
    base = dict(dataset="synthetic", synthetic_shape=(1, 4, 4), synthetic_size=400)
    b = build_datasets(cfg(**base, val_size=50))
    assert (len(b.train), len(b.val), len(b.test)) == (350, 50, 100)
    assert not _rows(b.train.images) & _rows(b.val.images)          # disjoint
    assert not _rows(b.val.images) & _rows(b.test.images)           # test is its own split
    assert _rows(b.train.images) | _rows(b.val.images) == _rows(build_datasets(
        cfg(**base, val_size=0.5)).train.images) | _rows(build_datasets(
            cfg(**base, val_size=0.5)).val.images)                  # both partition the pool
    assert len(build_datasets(cfg(**base, val_size=0.25)).val) == 100   # a fraction of the pool
    sub = build_datasets(cfg(**base, val_size=50, train_subset=120, seed=3))
    assert len(sub.train) == 120 and _rows(sub.train.images) <= _rows(b.train.images)
    assert torch.equal(sub.val.images, b.val.images)                # train_subset leaves val
    moved = build_datasets(cfg(**base, val_size=50, data_seed=1))
    assert not torch.equal(moved.val.images, b.val.images)          # data_seed draws another
    with pytest.raises(ValueError, match="train_subset=351 exceeds the 350 training examples"):
        build_datasets(cfg(**base, val_size=50, train_subset=351))
    with pytest.raises(ValueError, match="val_size=400 leaves no training examples"):
        build_datasets(cfg(**base, val_size=400))


def test_label_noise_hits_train_and_validation_alike_never_test() -> None:
    clean = build_datasets(cfg(dataset="digits", train_subset=200, val_size=100))
    noisy = build_datasets(cfg(dataset="digits", train_subset=200, val_size=100, label_noise=0.25))
    again = build_datasets(cfg(dataset="digits", train_subset=200, val_size=100, label_noise=0.25,
                               seed=9))
    assert torch.equal(noisy.train.images, clean.train.images)
    assert torch.equal(noisy.train.clean_targets, clean.train.targets)
    assert int((noisy.train.targets != clean.train.targets).sum()) == 50       # exact fraction
    assert int((noisy.val.targets != clean.val.targets).sum()) == 25
    assert torch.equal(noisy.test.targets, clean.test.targets)                  # test stays clean
    assert torch.equal(again.train.targets, noisy.train.targets)                # not the run seed
    assert torch.equal(noisy.train.targets,
                       apply_label_noise(clean.train.targets, 0.25, 10, seed=0))  # data_seed 0
    x, y = noisy.train[3]
    assert int(y) == int(noisy.train.targets[3])


def test_train_subset_larger_than_dataset_raises() -> None:
    with pytest.raises(ValueError, match="train_subset=5000"):
        build_datasets(cfg(dataset="digits", train_subset=5000))


def test_val_size_rules() -> None:
    for bad in (0, -3, 0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="val_size"):
            TrainConfig(val_size=bad)


# ---------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_learnable() -> None:
    c = cfg(dataset="synthetic", synthetic_shape=(3, 12, 12), synthetic_classes=4,
            synthetic_size=400, val_size=40, seed=1)
    b = build_datasets(c)
    assert (len(b.train), len(b.val), len(b.test)) == (360, 40, 100)
    assert (b.num_classes, b.in_channels, b.image_size) == (4, 3, 12)
    assert b.train[0][0].shape == (3, 12, 12)
    assert torch.cat([b.train.targets, b.val.targets]).bincount().tolist() == [100] * 4
    again = build_datasets(c.model_copy(update={"seed": 2}))
    assert torch.equal(b.train.images, again.train.images)
    assert torch.equal(b.test.targets, again.test.targets)
    # nearest class mean (fit on train) separates the test split well above chance
    means = torch.stack([b.train.images[b.train.targets == k].mean(0) for k in range(4)])
    dist = torch.cdist(b.test.images.flatten(1), means.flatten(1))
    assert (dist.argmin(1) == b.test.targets).float().mean() > 0.9


# ---------------------------------------------------------------- Fashion-MNIST (IDX)


def test_idx_header_is_the_real_format(tmp_path: Path) -> None:
    write_fashion_idx(tmp_path, n_train=3)
    import gzip

    raw = gzip.open(tmp_path / "train-images-idx3-ubyte.gz").read()
    assert raw[:4] == bytes([0, 0, 8, 3])  # magic 2051
    assert struct.unpack(">3i", raw[4:16]) == (3, 28, 28) and len(raw) == 16 + 3 * 784
    labels = gzip.open(tmp_path / "train-labels-idx1-ubyte.gz").read()
    assert struct.unpack(">2i", labels[:8]) == (2049, 3)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


@pytest.mark.parametrize("layout", ["flat_gz", "flat_plain", "torchvision_raw"])
def test_fashion_mnist_from_idx_files(tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision_raw" else tmp_path
    arrays = write_fashion_idx(folder, gz=layout != "flat_plain")
    b = build_datasets(cfg(dataset="fashion_mnist", data_dir=str(tmp_path), val_size=2))
    assert (len(b.train), len(b.val), len(b.test)) == (10, 2, 5)
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, 28)
    source = fm.load_fashion_mnist(str(tmp_path))
    x, y = source.pool[4]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert int(y) == int(arrays["train_labels"][4])
    pixels = (x[0] * fm.STD + fm.MEAN) * 255
    assert torch.allclose(pixels, torch.from_numpy(arrays["train_images"][4]).float(), atol=1e-3)
    assert b.test.targets.tolist() == arrays["val_labels"].tolist()


def test_fashion_mnist_subset_and_noise(tmp_path: Path) -> None:
    write_fashion_idx(tmp_path, n_train=40)
    b = build_datasets(cfg(dataset="fashion_mnist", data_dir=str(tmp_path), train_subset=20,
                           val_size=10, label_noise=0.4))
    assert len(b.train) == 20 and int((b.train.targets != b.train.clean_targets).sum()) == 8
    assert len(b.val) == 10 and int((b.val.targets != b.val.clean_targets).sum()) == 4


def test_fashion_mnist_missing_is_one_line_naming_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "nothing_here"
    with pytest.raises(DatasetNotFound) as info:
        build_datasets(cfg(dataset="fashion_mnist", data_dir=str(empty)))
    msg = str(info.value)
    assert "\n" not in msg and str(empty) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "data_dir" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_fashion_mnist_default_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fm, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(fm, "_download", lambda root: None)  # no network in tests
    with pytest.raises(DatasetNotFound) as info:
        fm.locate(None)
    msg = str(info.value)
    assert str(tmp_path / "debian") in msg and str(tmp_path / "cache") in msg and "\n" not in msg
    write_fashion_idx(tmp_path / "cache" / "FashionMNIST" / "raw")
    assert fm.locate(None)["train_images"].parent == tmp_path / "cache" / "FashionMNIST" / "raw"
    write_fashion_idx(tmp_path / "debian")
    assert fm.locate(None)["train_images"].parent == tmp_path / "debian"


@pytest.mark.skipif(fm.find_files(fm.DEBIAN_DIR) is None,
                    reason=f"{fm.DEBIAN_DIR} absent (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_real_debian_files() -> None:
    b = build_datasets(cfg(dataset="fashion_mnist", train_subset=2000, val_size=2000,
                           label_noise=0.4))
    assert (len(b.train), len(b.val), len(b.test)) == (2000, 2000, 10000)
    assert b.test.targets.bincount().tolist() == [1000] * 10
    assert abs(float(b.test.images.mean())) < 0.05 and abs(float(b.test.images.std()) - 1) < 0.05
    assert int((b.train.targets != b.train.clean_targets).sum()) == 800


# ---------------------------------------------------------------- CIFAR (python pickles)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_python_pickles(tmp_path: Path, name: str) -> None:
    from samtrain.data.cifar import STATS

    arrays = write_cifar(tmp_path, name)
    first = next(p for p in sorted(tmp_path.rglob("*")) if p.is_file() and "meta" not in p.name)
    with open(first, "rb") as f:  # readable like the CIFAR website's `unpickle` snippet
        assert b"data" in pickle.load(f, encoding="bytes")
    b = build_datasets(cfg(dataset=name, data_dir=str(tmp_path), val_size=2))
    n_pool = 20 if name == "cifar10" else 4
    assert (len(b.train), len(b.val), len(b.test)) == (n_pool - 2, 2, 4)
    assert (b.num_classes, b.in_channels, b.image_size) == (10 if name == "cifar10" else 100, 3, 32)
    x, y = b.train[1]
    i = int(b.train.indices[1])
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == arrays["train_y"][i]
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in STATS[name])
    xt, yt = b.test[2]
    raw = torch.from_numpy(arrays["val"][2]).permute(2, 0, 1).float() / 255
    assert torch.allclose(xt * std + mean, raw, atol=1e-5) and yt == arrays["val_y"][2]
    # validation images come from the training pool, without augmentation
    xv, yv = b.val[0]
    j = int(b.val.indices[0])
    raw = torch.from_numpy(arrays["train"][j]).permute(2, 0, 1).float() / 255
    assert torch.allclose(xv * std + mean, raw, atol=1e-5) and yv == arrays["train_y"][j]
    # data_dir may also be the batches folder itself
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(build_datasets(cfg(dataset=name, data_dir=str(folder), val_size=2)).test) == 4


def test_cifar_subset_noise_wrap_the_torchvision_dataset(tmp_path: Path) -> None:
    arrays = write_cifar(tmp_path, "cifar10")
    b = build_datasets(cfg(dataset="cifar10", data_dir=str(tmp_path), train_subset=10,
                           val_size=4, label_noise=0.5, seed=4))
    assert len(b.train) == 10
    clean = torch.from_numpy(arrays["train_y"])[b.train.indices]
    assert torch.equal(b.train.clean_targets, clean)
    assert int((b.train.targets != clean).sum()) == 5
    x, y = b.train[0]
    assert x.shape == (3, 32, 32) and y == int(b.train.targets[0])


def test_cifar_missing_is_one_line(tmp_path: Path) -> None:
    for name, folder in [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]:
        with pytest.raises(DatasetNotFound) as info:
            build_datasets(cfg(dataset=name, data_dir=str(tmp_path)))
        msg = str(info.value)
        assert "\n" not in msg and str(tmp_path / folder) in msg and "data_dir" in msg


# ---------------------------------------------------------------- ImageNet (ImageFolder)


def test_imagenet_from_image_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path, ["n01440764", "n01443537", "n01484850"])
    b = build_datasets(cfg(dataset="imagenet", data_dir=str(tmp_path), val_size=2))
    assert (len(b.train), len(b.val), len(b.test)) == (4, 2, 6)
    assert (b.num_classes, b.in_channels, b.image_size) == (3, 3, 224)
    x, y = b.test[3]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and y == 1
    for ds in (b.train, b.val):
        x, y = ds[1]
        assert x.shape == (3, 224, 224) and y == int(ds.targets[1])
    sub = build_datasets(cfg(dataset="imagenet", data_dir=str(tmp_path), train_subset=3, val_size=2))
    assert len(sub.train) == 3 and sub.train[0][0].shape == (3, 224, 224)


def test_imagenet_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound) as info:
        build_datasets(cfg(dataset="imagenet", data_dir=str(tmp_path)))
    assert "\n" not in str(info.value) and str(tmp_path / "train") in str(info.value)
    with pytest.raises(DatasetNotFound, match="data_dir"):
        build_datasets(cfg(dataset="imagenet"))
    write_image_folder(tmp_path / "a", ["cat", "dog"])
    (tmp_path / "a" / "val" / "dog").rename(tmp_path / "a" / "val" / "wolf")
    with pytest.raises(ValueError, match="different class folders"):
        build_datasets(cfg(dataset="imagenet", data_dir=str(tmp_path / "a")))


# ---------------------------------------------------------------- example configs


@pytest.mark.parametrize("path", ["configs/digits.yaml", "configs/fashion_mnist.yaml"])
def test_example_configs_load(path: str) -> None:
    c = TrainConfig.from_yaml(ROOT / path)
    assert c.model == "small_cnn"
    if c.dataset == "digits":
        assert (c.epochs, c.batch_size, c.lr, c.perturbation, c.rho) == (5, 64, 0.05, "ascent", 0.05)
        assert len(build_datasets(c).train) == 1293
    else:
        assert (c.train_subset, c.label_noise, c.epochs, c.batch_size, c.rho) == (2000, 0.4, 60, 128, 0.1)


def test_check_dataset_rejects_splits_that_cannot_work_before_anything_starts(tmp_path) -> None:
    from samtrain.data import check_dataset
    from samtrain.errors import ConfigError

    check_dataset(cfg(dataset="digits", val_size=0.5, batch_size=128))
    with pytest.raises(ConfigError, match="val_size=1437 leaves no training examples"):
        check_dataset(cfg(dataset="digits", val_size=1437))
    with pytest.raises(ConfigError, match="batch_size=128: the training split of digits has 37"):
        check_dataset(cfg(dataset="digits", val_size=1400, batch_size=128))
    with pytest.raises(ConfigError, match="train_subset=300 exceeds the 290"):
        check_dataset(cfg(dataset="synthetic", synthetic_size=300, val_size=10, train_subset=300))
    write_fashion_idx(tmp_path, n_train=40)   # the pool size comes from the IDX header
    with pytest.raises(ConfigError, match="batch_size=64: the training split of fashion_mnist has 36"):
        check_dataset(cfg(dataset="fashion_mnist", data_dir=str(tmp_path), val_size=4, batch_size=64))


def test_sharpness_batches_must_divide_the_examples() -> None:
    with pytest.raises(ValueError, match="sharpness_examples=300 must be a multiple of sharpness_m=128"):
        TrainConfig(sharpness_every=1, sharpness_examples=300)
    assert TrainConfig(sharpness_examples=300).sharpness_m == 128  # off: not checked
