"""Each built-in dataset's record (beside its loader) agrees with what its loader returns: shapes,
pool size, and the files it locates; every built-in name of the registry has one."""

from __future__ import annotations

import pytest

from samtrain.config.registry import BUILTINS
from samtrain.config.train_config import TrainConfig
from samtrain.data.build import builtin_kwargs, builtin_shapes, check_dataset, load_source, pool_size
from samtrain.data.record import DatasetRecord, builtin_record
from samtrain.errors import DatasetNotFound
from tests.support.files import write_cifar, write_fashion_idx, write_image_folder


def test_every_builtin_dataset_has_a_record_in_its_loaders_module():
    for name, spec in BUILTINS["dataset"].items():
        record = builtin_record(name)
        assert isinstance(record, DatasetRecord)
        assert __import__(spec.partition(":")[0], fromlist=["RECORDS"]).RECORDS[name] is record
    with pytest.raises(KeyError, match="'my_pkg.data:build' is not a built-in dataset"):
        builtin_record("my_pkg.data:build")


def _config(name, tmp_path):
    if name == "fashion_mnist":
        write_fashion_idx(tmp_path, n_train=12, n_val=5)
    elif name in ("cifar10", "cifar100"):
        write_cifar(tmp_path, name)
    elif name == "imagenet":
        write_image_folder(tmp_path, ["a", "b", "c"])
    data_dir = None if name in ("digits", "synthetic") else str(tmp_path)
    return TrainConfig(dataset=name, data_dir=data_dir, synthetic_shape=[2, 6, 6],
                       synthetic_classes=3, synthetic_size=40, val_size=2, batch_size=2)


@pytest.mark.parametrize("name", sorted(BUILTINS["dataset"]))
def test_a_records_shapes_and_pool_size_are_what_its_loader_returns(name, tmp_path):
    cfg = _config(name, tmp_path)
    src = load_source(cfg)
    classes, channels, size = builtin_shapes(cfg)
    assert (channels, size) == (src.in_channels, src.image_size)
    # ImageNet's record says 1000 classes whatever a folder holds; the others are exact
    assert classes == (1000 if name == "imagenet" else src.num_classes)
    assert pool_size(cfg) in (None, len(src.pool))
    assert (pool_size(cfg) is None) == (name in ("cifar10", "cifar100", "imagenet"))
    if name not in ("digits", "synthetic"):
        assert builtin_kwargs(cfg) == {"data_dir": str(tmp_path)}
    check_dataset(cfg)  # the files the loader read are found


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10", "cifar100", "imagenet"])
def test_a_record_locates_missing_files_as_dataset_not_found(name, tmp_path):
    with pytest.raises(DatasetNotFound, match=name):
        check_dataset(TrainConfig(dataset=name, data_dir=str(tmp_path / "empty")))


def test_synthetic_takes_its_shape_size_and_classes_from_the_config():
    cfg = TrainConfig(dataset="synthetic", synthetic_shape=[2, 6, 6], synthetic_classes=3,
                      synthetic_size=40)
    assert builtin_kwargs(cfg) == {"shape": (2, 6, 6), "num_classes": 3, "size": 40}
    assert builtin_shapes(cfg) == (3, 2, 6) and pool_size(cfg) == 40


def test_each_loader_module_declares_the_names_it_has_records_for():
    """`DATASETS` (read from source by the registry) and `RECORDS` name the same datasets, and
    each declared loader is a function of that module."""
    modules = {spec.partition(":")[0] for spec in BUILTINS["dataset"].values()}
    for module_name in modules:
        module = __import__(module_name, fromlist=["DATASETS", "RECORDS"])
        assert set(module.DATASETS) == set(module.RECORDS), module_name
        for name, loader in module.DATASETS.items():
            assert BUILTINS["dataset"][name] == f"{module_name}:{loader}"
            assert callable(getattr(module, loader))


def test_a_new_module_with_datasets_is_found_without_being_imported(tmp_path):
    from samtrain.config.registry import builtin_datasets

    (tmp_path / "stl.py").write_text(
        'raise ImportError("never imported")\nDATASETS = {"stl10": "load_stl10"}\n')
    (tmp_path / "helpers.py").write_text("X = 1\n")
    (tmp_path / "notes.py").write_text("# DATASETS are declared elsewhere\n")
    assert builtin_datasets(tmp_path, "pkg") == {"stl10": "pkg.stl:load_stl10"}
    (tmp_path / "stl_again.py").write_text('DATASETS: dict = {"stl10": "load"}\n')
    with pytest.raises(RuntimeError, match="dataset 'stl10' is declared twice: pkg.stl:load_stl10 "
                       "and pkg.stl_again:load"):
        builtin_datasets(tmp_path, "pkg")
