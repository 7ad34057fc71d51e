"""Tests for samtrain.models: every registered model builds, runs forward/backward on tiny inputs
with 1 and 3 channels, initialises deterministically, and has the expected size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError
from samtrain.models import MODEL_NAMES, build_model
from samtrain.models.torchvision_models import vit_patch_size

# name -> image size for a cheap forward pass (ImageNet-stem ResNet-50 needs >= 32)
TINY_SIZE = {
    "small_cnn": 8, "resnet20": 16, "resnet56": 8, "resnet18": 16, "wrn16_8": 8, "wrn28_10": 8,
    "resnet50": 32, "vit_s": 16,
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_names_are_known_without_importing_torch() -> None:
    import subprocess
    import sys

    assert MODEL_NAMES == set(TINY_SIZE)
    code = ("import sys; from samtrain.models import MODEL_NAMES; "
            "print(len(MODEL_NAMES), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(TINY_SIZE)), "False"]


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", sorted(TINY_SIZE))
def test_forward_backward_shapes(name: str, in_channels: int) -> None:
    torch.manual_seed(0)
    size = TINY_SIZE[name]
    model = build_model(name, num_classes=7, in_channels=in_channels, image_size=size)
    x = torch.randn(2, in_channels, size, size)
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 7)


@pytest.mark.parametrize("name", ["small_cnn", "resnet20", "vit_s", "resnet50"])
def test_init_is_deterministic_given_manual_seed(name: str) -> None:
    def build(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model(name, 10, 1, TINY_SIZE[name]).state_dict()

    a, b, c = build(0), build(0), build(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_parameter_counts() -> None:
    assert n_params(build_model("resnet20", 10, 3, 32)) == 269_722  # He et al.: 0.27M
    assert 0.84e6 < n_params(build_model("resnet56", 10, 3, 32)) < 0.86e6  # 0.85M
    small = build_model("small_cnn", 10, 1, 28)
    assert 85_000 < n_params(small) < 100_000
    # size does not depend on the image size (global pooling), so digits and Fashion-MNIST match
    assert n_params(build_model("small_cnn", 10, 1, 8)) == n_params(small)
    assert 11.1e6 < n_params(build_model("resnet18", 10, 3, 32)) < 11.2e6


def test_small_cnn_fits_a_batch() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, 1, 28)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_input_channel_adaptation() -> None:
    r50 = build_model("resnet50", 1000, 1, 224)
    assert r50.conv1.in_channels == 1 and r50.conv1.kernel_size == (7, 7)
    assert r50.fc.out_features == 1000
    r18 = build_model("resnet18", 10, 3, 32)
    assert r18.conv1.kernel_size == (3, 3) and r18.conv1.stride == (1, 1)
    assert isinstance(r18.maxpool, nn.Identity)


def test_vit_s_shape_and_patch_size() -> None:
    assert [vit_patch_size(s) for s in (224, 32, 28, 16, 8)] == [16, 4, 4, 2, 1]
    assert all(s % vit_patch_size(s) == 0 for s in range(1, 300))
    vit = build_model("vit_s", 10, 3, 32)
    assert (vit.hidden_dim, vit.patch_size, len(vit.encoder.layers), vit.mlp_dim) == (384, 4, 12, 1536)
    assert vit.encoder.layers[0].self_attention.num_heads == 6
    assert vit.conv_proj.in_channels == 3
    assert build_model("vit_s", 10, 1, 28).conv_proj.in_channels == 1


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError) as info:
        build_model("resnet9000", 10, 3, 32)
    msg = str(info.value)
    assert "resnet9000" in msg and all(name in msg for name in MODEL_NAMES)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("small_cnn", 0, 3, 32)


def test_config_validator_uses_the_registry() -> None:
    for name in MODEL_NAMES:
        assert TrainConfig(model=name).model == name
    with pytest.raises(ConfigError, match="resnet20"):
        TrainConfig.build({"model": "nope"})
