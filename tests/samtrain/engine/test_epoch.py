"""`samtrain.engine.epoch`: scoring in channels-last layout leaves the model and its training untouched."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from samtrain.config.train_config import TrainConfig
from samtrain.engine.epoch import eval_layout, evaluate


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=32)


def _train(model: nn.Module, score_between: bool) -> list[torch.Tensor]:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cfg = TrainConfig()
    for _ in range(3):
        model.train()
        for x, y in _loader():
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        if score_between:
            evaluate(model, _loader(), nn.functional.cross_entropy, cfg, torch.device("cpu"))
    return [p.detach().clone() for p in model.parameters()]


def test_scoring_in_channels_last_leaves_training_bit_identical():
    plain, scored = _train(_cnn(), False), _train(_cnn(), True)
    assert all(torch.equal(a, b) for a, b in zip(plain, scored, strict=True))


def test_the_layout_is_restored_and_the_parameters_are_the_same_objects():
    model = _cnn()
    params = list(model.parameters())
    with eval_layout(model) as used:
        assert used and model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model[0].weight.is_contiguous() and list(model.parameters()) == params
    with eval_layout(nn.Linear(3, 2)) as used:  # nothing to gain without a convolution
        assert not used


def test_channels_last_scores_match_the_default_layout():
    model, cfg = _cnn(), TrainConfig()
    model.eval()
    x, y = next(iter(_loader()))
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(x), y).item()
    got = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=32),
                   nn.functional.cross_entropy, cfg, torch.device("cpu"))
    assert abs(got["loss"] - expected) < 1e-5 and got["count"] == 32
