"""A researcher's dataset builder: what it may return, how that becomes a `DataSource`, and that
samtrain's splits, label noise and subsets apply to it as to a built-in."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from samtrain.config.train_config import TrainConfig
from samtrain.data import build_datasets
from samtrain.data.build import load_source
from samtrain.data.builder_output import as_source
from samtrain.data.bundle import DataSource
from samtrain.data.views import RelabeledSubset, TensorImageDataset, targets_of
from samtrain.errors import ConfigError
from tests.support.problem import CALLS, SHAPE, Blobs

V = "my_pkg.data:build"


class Items(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def pair(n=6, k=3, dims=(1, 4)):
    y = torch.arange(n) % k
    return TensorDataset(torch.randn(n, *dims), y), TensorDataset(torch.randn(n, *dims), y)


@pytest.mark.parametrize("targets", [False, True], ids=["items-read", "targets-attribute"])
def test_a_plain_dataset_gets_its_targets_and_shapes(targets):
    src = load_source(TrainConfig(dataset="tests.support.problem:blobs",
                                  dataset_kwargs={"n_pool": 30, "n_test": 9, "targets": targets}))
    assert (src.num_classes, src.in_channels, src.image_size) == (3, *SHAPE)
    assert isinstance(src.pool, RelabeledSubset) and src.pool_eval is src.pool
    assert targets_of(src.pool).tolist() == [i % 3 for i in range(30)]
    assert len(src.test) == 9 and src.test[4][1] == 1
    assert torch.equal(src.pool[2][0], Blobs(30, 1, False)[2][0])


def test_a_tensor_dataset_stays_in_memory_with_int64_targets():
    x, y = torch.randn(5, 2, 3, 3), torch.tensor([0, 1, 2, 1, 0], dtype=torch.int32)
    src = as_source(V, (TensorDataset(x, y), TensorDataset(x, y)))
    assert isinstance(src.pool, TensorImageDataset) and src.pool.targets.dtype == torch.int64
    assert torch.equal(src.pool.images, x) and (src.in_channels, src.image_size) == (2, 3)


def test_a_data_source_passes_as_it_is():
    src = DataSource(pool=pair()[0], pool_eval=pair()[0], test=pair()[1], num_classes=3,
                     in_channels=1, image_size=4)
    assert as_source(V, src) is src


@pytest.mark.parametrize("out, says", [
    ({}, "its builder returned a dict; must return (train_pool, test)"),
    (pair()[0], "returned a TensorDataset"),
    ((pair()[0],), "returned a tuple of TensorDataset"),
    (([1], [2]), "returned a tuple of list, list"),
    ((*pair(), pair()[0]), "returned a tuple of TensorDataset, TensorDataset, TensorDataset"),
    ((Items([]), pair()[1]), "its train pool is empty"),
    ((pair()[0], Items([torch.zeros(2)])), "items of its test set must be (x, y), x a tensor and y an "
                                            "integer class index; item 0 is a Tensor"),
    ((Items([(torch.zeros(2), 0.5)]), pair()[1]), "item 0 is a tuple of Tensor, float"),
    ((Items([([0.1], 1)]), pair()[1]), "item 0 is a tuple of list, int"),
    ((TensorDataset(torch.zeros(2, 3), torch.tensor([0.0, 1.0])), pair()[1]),  # float labels
     "targets of its train pool are torch.float32; must be integer class indices (e.g. y.long())"),
    ((TensorDataset(torch.zeros(2, 3), torch.tensor([0, -1])), pair()[1]),
     "targets of its train pool hold -1"),
    ((Items([(torch.zeros(2), 0), (torch.zeros(2), True)]), pair()[1]), "must have integer class indices"),
    ((TensorDataset(torch.zeros(2, 3), torch.tensor([0, 0])),
      TensorDataset(torch.zeros(2, 3), torch.tensor([0, 0]))), "a single class (0)"),
])
def test_what_a_builder_must_not_return_is_one_line_naming_dataset_and_value(out, says):
    with pytest.raises(ConfigError) as e:
        as_source(V, out)
    assert str(e.value).startswith(f"key 'dataset': value {V!r} is invalid: ") and "\n" not in str(e.value)
    assert says in str(e.value), str(e.value)


def test_a_targets_attribute_of_the_wrong_length_is_named():
    ds = Items([(torch.zeros(2), 0), (torch.zeros(2), 1)])
    ds.targets = [0]
    with pytest.raises(ConfigError, match=r"train pool's `targets` has shape \(1,\); must be one class "
                                          r"index per item \(2\)"):
        as_source(V, (ds, pair()[1]))


def test_splits_noise_and_subset_apply_to_a_researchers_dataset_as_to_a_builtin():
    CALLS.clear()
    cfg = TrainConfig(dataset="tests.support.problem:blobs", val_size=60, train_subset=200,
                      label_noise=0.25, data_seed=3)
    b = build_datasets(cfg)
    assert CALLS["blobs"] == 1
    assert (len(b.train), len(b.val), len(b.test)) == (200, 60, 90) and b.num_classes == 3
    train_idx, val_idx = b.train.indices, b.val.indices
    assert not set(train_idx.tolist()) & set(val_idx.tolist())  # disjoint, drawn from the pool
    assert int((b.train.targets != b.train.clean_targets).sum()) == 50   # round(0.25 * 200)
    assert int((b.val.targets != (val_idx % 3)).sum()) == 15
    assert b.train_eval is b.train and targets_of(b.test).tolist() == [i % 3 for i in range(90)]
    again = build_datasets(cfg.model_copy(update={"seed": 9}))  # the run seed never moves the splits
    assert torch.equal(again.train.indices, train_idx) and torch.equal(again.train.targets, b.train.targets)
