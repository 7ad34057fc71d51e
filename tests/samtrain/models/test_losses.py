"""build_loss: the built-in cross-entropy with label smoothing, or a researcher's factory."""

import pytest
import torch
from torch.nn import functional as F

from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError
from samtrain.models.losses import build_loss
from tests.support.problem import ScaledCrossEntropy


def test_the_default_is_cross_entropy_with_label_smoothing():
    logits, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0])
    for s in (0.0, 0.2):
        assert torch.allclose(build_loss(TrainConfig(label_smoothing=s))(logits, y),
                              F.cross_entropy(logits, y, label_smoothing=s))


def test_an_import_string_names_a_factory_called_with_loss_kwargs():
    fn = build_loss(TrainConfig(loss="tests.support.problem:scaled_ce", loss_kwargs={"scale": 3.0}))
    assert isinstance(fn, ScaledCrossEntropy) and fn.scale == 3.0
    # a loss class is a factory too
    fn = build_loss(TrainConfig(loss="torch.nn:MultiMarginLoss", loss_kwargs={"margin": 2.0}))
    assert fn.margin == 2.0


def test_label_smoothing_belongs_to_cross_entropy_only():
    with pytest.raises(ConfigError, match="key 'label_smoothing': value 0.1 is invalid: applies to "
                                          "loss 'cross_entropy'"):
        TrainConfig.build({"loss": "torch.nn:MultiMarginLoss", "label_smoothing": 0.1})
