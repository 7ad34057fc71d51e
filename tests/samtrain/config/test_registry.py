"""samtrain.config.registry: built-in names and import strings resolve one way; every failure is one
line naming the key and the value; spelling is checked without importing anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from samtrain.config.registry import BUILTINS, KINDS, call, check_call, check_spec, resolve, target
from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError


@pytest.mark.parametrize("kind", KINDS)
def test_every_builtin_is_an_import_string_of_a_callable_and_a_valid_config_value(kind):
    for name, spec in BUILTINS[kind].items():
        assert target(kind, name) == spec and check_spec(kind, spec) == spec
        assert callable(resolve(kind, name)) and resolve(kind, name) is resolve(kind, spec)
        assert getattr(TrainConfig(**{kind: name}), kind) == name


@pytest.mark.parametrize("value", ["my_pkg.nets:build", "a:b", "a.b_2.c:Cls.make", "_x:_y"])
def test_import_strings_are_accepted_by_spelling_alone(value):
    assert check_spec("model", value) == value
    assert TrainConfig(model=value, dataset=value, loss=value).loss == value


@pytest.mark.parametrize("value", ["my pkg:build", "../x:y", "a.b", "a:", ":b", "a:b:c", "a-b:c",
                                   "a..b:c", ".a:b", "/abs/path.py:f", "a:b()", ""])
def test_misspelt_values_are_one_line_errors_naming_key_and_value(value):
    with pytest.raises(ConfigError) as e:
        TrainConfig.build({"dataset": value})
    msg = str(e.value)
    assert "\n" not in msg and "'dataset'" in msg and repr(value) in msg
    assert "import string 'package.module:callable'" in msg and "fashion_mnist" in msg


def test_checking_a_config_imports_neither_torch_nor_the_named_module():
    code = ("import sys; from samtrain.config.train_config import TrainConfig; "
            "TrainConfig(model='tests.support.problem:mlp', dataset='tests.support.problem:blobs'); "
            "print('torch' in sys.modules, 'tests.support.problem' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("kind, value, says", [
    ("model", "nosuchpkg_xyz.nets:build", "module 'nosuchpkg_xyz' not found: install the package"),
    ("dataset", "samtrain.nosuch:build", "module 'samtrain.nosuch' not found"),
    ("loss", "json:nope", "module 'json' has no attribute 'nope'"),
    ("model", "tests.support.problem:Blobs.nope", "'tests.support.problem:Blobs' has no attribute 'nope'"),
    ("model", "tests.support.problem:NOT_CALLABLE", "is not callable (type int)"),
    ("model", "resnet9000", "must be a built-in model (resnet18"),
])
def test_resolution_failures_name_the_key_the_value_and_the_cause(kind, value, says):
    with pytest.raises(ConfigError) as e:
        resolve(kind, value)
    assert str(e.value) == f"key {kind!r}: value {value!r} is invalid: " + str(e.value).split(
        "is invalid: ", 1)[1] and says in str(e.value) and "\n" not in str(e.value)


def test_a_module_whose_own_import_is_missing_is_told_apart(tmp_path, monkeypatch):
    (tmp_path / "needs_missing.py").write_text("import nosuchdep_xyz\ndef build(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="importing 'needs_missing' failed: module 'nosuchdep_xyz'"):
        resolve("model", "needs_missing:build")


def test_a_users_module_that_raises_while_imported_is_one_line_naming_it(tmp_path, monkeypatch):
    """Issue #30: the user's module is at fault, named in one line (exit 2), before Ray starts."""
    (tmp_path / "buggy_mod.py").write_text("x = 1 / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"^key 'model': value 'buggy_mod:x' is invalid: importing "
                                          r"'buggy_mod' raised ZeroDivisionError: division by zero;"):
        resolve("model", "buggy_mod:x")


def test_arguments_are_checked_against_the_signature_before_the_call():
    def build(num_classes, in_channels, image_size, width=8):
        return (num_classes, width)

    given = {"num_classes": 3, "in_channels": 1, "image_size": 8}
    assert call("model_kwargs", "m:build", build, given, {"width": 4}) == (3, 4)
    with pytest.raises(ConfigError, match=r"key 'model_kwargs': value \{'depth': 2\} is invalid: "
                                          r"m:build\(num_classes, in_channels, image_size, width=8\): "
                                          r"got an unexpected keyword argument 'depth'"):
        check_call("model_kwargs", "m:build", build, given, {"depth": 2})
    with pytest.raises(ConfigError, match="key 'model': .* must take the keyword arguments "
                                          "num_classes, in_channels, image_size"):
        check_call("model_kwargs", "m:f", lambda x: x, given, {})
    with pytest.raises(ConfigError, match="key 'dataset_kwargs': .* missing a required argument: 'root'"):
        check_call("dataset_kwargs", "d:f", lambda root: root, {}, {})
    with pytest.raises(ConfigError, match="must not set data_dir: samtrain passes it"):
        check_call("dataset_kwargs", "fashion_mnist", lambda data_dir: 0, {"data_dir": None},
                   {"data_dir": "/x"})
