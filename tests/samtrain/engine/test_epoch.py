"""`samtrain.engine.epoch`: scoring in channels-last layout leaves the model and its training untouched;
`channels_last: true` trains in that layout to the same weights up to rounding."""

import pytest
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



def _trained_run(channels_last: bool, perturbation: str) -> tuple[dict, bool]:
    from samtrain.engine.epoch import train_one_epoch
    from samtrain.engine.loop import seed_everything
    from samtrain.engine.run_setup import build_run
    from samtrain.engine.worker_context import LocalContext

    seed_everything(0)
    cfg = TrainConfig(dataset="digits", model="small_cnn", batch_size=64, epochs=3, rho=0.05,
                      perturbation=perturbation, perturb_batch_size=32, channels_last=channels_last)
    run = build_run(cfg, LocalContext())
    out = [train_one_epoch(run, epoch) for epoch in (1, 2, 3)][-1]
    val = evaluate(run.model, run.val_loader, run.loss_fn, cfg, run.device)
    conv = [m for m in run.model.modules() if isinstance(m, nn.Conv2d)][-1]  # C_in > 1
    layout = conv.weight.is_contiguous(memory_format=torch.channels_last) and not (
        conv.weight.is_contiguous())
    return {**out, "val_acc": val["acc"]}, layout


def test_channels_last_training_keeps_the_layout_and_learns_as_the_default_does():
    """`channels_last: true` trains (SGD, and SAM with m < B) in channels-last throughout, scoring
    included. Runs are not bit-identical (batch norm sums in another order and ReLU/max-pool
    kinks amplify it, see `_smooth_cnn`), so compare the outcome."""
    for perturbation in ("none", "ascent"):
        plain, plain_layout = _trained_run(False, perturbation)
        fast, fast_layout = _trained_run(True, perturbation)
        assert fast_layout and not plain_layout
        assert fast["val_acc"] > 0.8 and abs(fast["val_acc"] - plain["val_acc"]) < 0.05


def _smooth_cnn() -> nn.Module:
    """A CNN without kinks (tanh, average pooling): rounding differences stay rounding-sized.
    With ReLU and max-pooling, a ~1e-6 difference in batch-norm output (the channels-last kernel
    sums in another order) can flip a kink and move a gradient by ~1e-4, in either layout."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.AvgPool2d(2),
                         nn.BatchNorm2d(16), nn.Tanh(), nn.Conv2d(16, 32, 3, padding=1, bias=False),
                         nn.BatchNorm2d(32), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 10))


@pytest.mark.parametrize("batched", [False, True])
def test_a_sam_gradient_in_channels_last_matches_the_default_to_rounding(batched):
    """From the same weights, the SAM gradient (m = 16 < B, the loop or the vmap path; entries up to
    ~0.1) is the same in either layout up to float rounding."""
    from samtrain.optim import SAM

    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    grads = []
    for channels_last in (False, True):
        model, xx = _smooth_cnn(), x
        if channels_last:
            model.to(memory_format=torch.channels_last)
            xx = x.contiguous(memory_format=torch.channels_last)
        sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05,
                  perturb_batch_size=16, batched=batched)
        sam.backward(model, xx, y, nn.functional.cross_entropy)
        grads.append([p.grad.clone() for p in model.parameters()])
    worst = max((a - b).abs().max().item() for a, b in zip(*grads, strict=True))
    assert worst < 1e-6, worst
