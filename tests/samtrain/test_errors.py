"""samtrain's one error root: every bad-input error is a `SamtrainError` and keeps the builtin
class callers already catch; the module imports nothing, so any layer (and the CLI) may use it."""

from __future__ import annotations

import ast

import pytest

from samtrain import errors
from samtrain.config.train_config import TrainConfig
from samtrain.data import check_dataset
from tests.support import ROOT


def test_config_and_missing_data_errors_share_the_root_and_keep_their_builtin_classes():
    assert issubclass(errors.ConfigError, errors.SamtrainError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.DatasetNotFound, errors.SamtrainError)
    assert issubclass(errors.DatasetNotFound, FileNotFoundError)
    with pytest.raises(errors.SamtrainError, match="key 'rho': value -1 is invalid"):
        TrainConfig.build({"rho": -1})
    with pytest.raises(errors.SamtrainError, match="cifar10: .* lacks"):
        check_dataset(TrainConfig(dataset="cifar10", data_dir="/nonexistent"))


def test_the_error_module_imports_nothing():
    tree = ast.parse((ROOT / "samtrain" / "errors.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]
