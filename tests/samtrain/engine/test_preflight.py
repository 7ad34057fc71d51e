"""check_components: a researcher's model, dataset and loss are built and tried on two examples
before anything starts; every way they can be wrong is one line naming the key and the value."""

from __future__ import annotations

import pytest

from samtrain.config.train_config import TrainConfig
from samtrain.engine.preflight import check_components, resolve_components
from samtrain.errors import ConfigError
from tests.support.problem import CALLS

P = "tests.support.problem"
OWN = {"dataset": f"{P}:blobs", "model": f"{P}:mlp", "loss": f"{P}:scaled_ce", "batch_size": 32}


def own(**kw) -> TrainConfig:
    return TrainConfig(**{**OWN, **kw})


def test_a_good_set_is_built_once_per_distinct_dataset():
    CALLS.clear()
    check_components([own(rho=r) for r in (0.01, 0.1)] + [own(model_kwargs={"hidden": 4}),
                                                           own(dataset_kwargs={"n_pool": 200})])
    assert CALLS == {"blobs": 2, "mlp": 3, "scaled_ce": 3}  # rho alone changes nothing built


def test_builtins_without_arguments_are_only_resolved():
    CALLS.clear()
    check_components([TrainConfig(dataset="cifar10", data_dir="/nonexistent", model="resnet50")])
    check_components([TrainConfig(dataset="cifar10", model=f"{P}:pooled")])  # shapes known, not loaded
    assert CALLS == {"pooled": 1}


@pytest.mark.parametrize("values, key, says", [
    ({"model": f"{P}:NOT_CALLABLE"}, "model", "not callable (type int)"),
    ({"model": "torch.nn:Identity"}, "model", "its output on 2 inputs of shape (2, 3) is shape "
                                              "(2, 2, 3); must be (2, 3): one logit per class"),
    ({"model_kwargs": {"depth": 3}}, "model_kwargs", "unexpected keyword argument 'depth'"),
    ({"dataset": f"{P}:not_datasets"}, "dataset", "returned a tuple of list, list"),
    ({"dataset_kwargs": {"n_pool": 30}}, None, "fewer than one batch of 32"),
    ({"dataset_kwargs": {"n_pool": 40}, "train_subset": 50}, None, "train_subset=50 exceeds"),
    ({"dataset": "cifar10"}, "model", "its forward on 2 inputs of shape (3, 32, 32) raised "
                                      "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    ({"loss": "torch.nn:BCELoss"}, "loss", "loss_fn(logits, targets) raised ValueError"),
    ({"loss": f"{P}:per_example_loss"}, "loss", "gave a tensor of shape (2,), torch.float32"),
    ({"loss": "builtins:dict"}, "loss", "its factory returned a dict; must return a callable"),
    ({"loss_kwargs": {"scale": 1, "power": 2}}, "loss_kwargs", "unexpected keyword argument 'power'"),
    ({"dataset": "digits", "dataset_kwargs": {"size": 3}}, "dataset_kwargs", "'size'"),
    # the dataset's faults are the dataset's, named with what was found and what is needed
    ({"dataset": f"{P}:tensor_blobs", "dataset_kwargs": {"x_dtype": "float64"}}, "dataset",
     "x of its train pool is torch.float64; must be torch.float32 (e.g. x.float())"),
    ({"dataset": f"{P}:cast_blobs", "dataset_kwargs": {"x_dtype": "float64"}}, "dataset",
     "x of its train pool is torch.float64; must be torch.float32"),
    ({"dataset": f"{P}:tensor_blobs", "dataset_kwargs": {"y_dtype": "float32"}}, "dataset",
     "targets of its train pool are torch.float32; must be integer class indices (e.g. y.long())"),
    ({"dataset": f"{P}:cast_blobs", "dataset_kwargs": {"y_float": True}}, "dataset",
     "item 0 is (x, y) with y a torch.float32 tensor; y must be an integer class index"),
    ({"dataset": f"{P}:ragged"}, "dataset", "items of its train pool differ in shape: x of item 0 "
                                            "is (2, 3), of item 17 (2, 4)"),
    ({"dataset": f"{P}:unlike_test"}, "dataset", "its test set is unlike its train pool: x of "
                                                 "shape (1, 3), torch.float32 against (2, 3)"),
    ({"model": f"{P}:no_parameters"}, "model", "the model it builds has no trainable parameters"),
    ({"loss": f"{P}:nan_loss"}, "loss", "loss_fn(logits, targets) gave nan on the first 2 "
                                        "examples; must be finite"),
    ({"loss": f"{P}:detached_loss"}, "loss", "gave a tensor detached from the logits (no "
                                             "grad_fn); must be differentiable"),
])
def test_each_wrong_part_is_one_line_naming_it(values, key, says):
    with pytest.raises(ConfigError) as e:
        check_components([own(**values)])
    msg = str(e.value)
    assert "\n" not in msg and says in msg, msg
    if key is not None:
        value = values.get(key, OWN.get(key))
        assert msg.startswith(f"key {key!r}: value {value!r} is invalid: "), msg


def test_resolving_alone_calls_nothing():
    CALLS.clear()
    resolve_components(own())
    assert not CALLS
    with pytest.raises(ConfigError, match="key 'loss': value 'tests.support.problem:nope'"):
        resolve_components(own(loss=f"{P}:nope"))


def test_a_user_module_that_raises_while_imported_is_one_line_naming_it(tmp_path, monkeypatch):
    (tmp_path / "broken_nets.py").write_text("import json\nraise RuntimeError('no GPU here\\nsecond')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as e:
        resolve_components(own(model="broken_nets:build"))
    assert str(e.value) == ("key 'model': value 'broken_nets:build' is invalid: importing "
                            "'broken_nets' raised RuntimeError: no GPU here; fix the module "
                            "(nothing was started)")
