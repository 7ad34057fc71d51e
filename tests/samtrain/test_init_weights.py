"""`init_from`: the backbone loaded, the head kept or re-created, every bad file one line naming the
key before anything starts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samtrain.config.registry import BUILTINS
from samtrain.config.train_config import TrainConfig
from samtrain.engine.checkpoint import save_checkpoint
from samtrain.engine.init_weights import HEADS, check_init_from, head_name, init_model, load_weights
from samtrain.engine.preflight import check_components
from samtrain.engine.run_setup import build_run
from samtrain.engine.worker_context import LocalContext
from samtrain.errors import ConfigError
from samtrain.models import build_model


def _cnn(classes: int, channels: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", num_classes=classes, in_channels=channels, image_size=8)


def _saved(tmp_path, model: nn.Module, name: str = "w.pt") -> str:
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return str(path)


def test_backbone_loaded_and_head_recreated_for_other_classes(tmp_path):
    src = _cnn(6, seed=1)
    dst = _cnn(4, seed=2)
    fresh_head = dst.classifier.weight.detach().clone()
    text = init_model(dst, TrainConfig(init_from=_saved(tmp_path, src)), 4)
    assert text == "backbone loaded (18 tensors), head classifier new (4 classes)"
    for k, v in src.state_dict().items():
        if not k.startswith("classifier."):
            assert torch.equal(dst.state_dict()[k], v), k
    assert dst.classifier.weight.shape == (4, 128) and torch.equal(dst.classifier.weight, fresh_head)


def test_head_kept_when_it_fits_unless_a_new_one_is_asked_for(tmp_path):
    src, path = _cnn(4, seed=1), None
    path = _saved(tmp_path, src)
    kept = _cnn(4, seed=2)
    assert "head classifier loaded" in init_model(kept, TrainConfig(init_from=path))
    assert torch.equal(kept.classifier.weight, src.classifier.weight)
    new = _cnn(4, seed=2)
    init_model(new, TrainConfig(init_from=path, init_new_head=True))
    assert not torch.equal(new.classifier.weight, src.classifier.weight)
    assert torch.equal(new.features[0].weight, src.features[0].weight)


def test_a_checkpoint_file_folder_and_a_runs_folder_give_its_latest_weights(tmp_path):
    models = {1: _cnn(4, seed=1), 2: _cnn(4, seed=2)}
    for epoch, m in models.items():
        d = tmp_path / "run" / f"checkpoint_{epoch:06d}"
        d.mkdir(parents=True)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        save_checkpoint(d, m, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0), epoch)
    for value in (tmp_path / "run", tmp_path / "run" / "checkpoint_000002",
                  tmp_path / "run" / "checkpoint_000002" / "state.pt"):
        weights = load_weights(str(value))
        assert torch.equal(weights["features.0.weight"], models[2].features[0].weight), value


def test_the_run_starts_from_the_weights(tmp_path):
    src = _cnn(10, seed=3)
    cfg = TrainConfig(dataset="digits", epochs=1, batch_size=64, init_from=_saved(tmp_path, src))
    run = build_run(cfg, LocalContext())
    assert torch.equal(run.model.features[0].weight, src.features[0].weight)
    assert torch.equal(run.model.classifier.weight, src.classifier.weight)  # 10 classes: it fits


@pytest.mark.parametrize("name", sorted(BUILTINS["model"]))
def test_every_built_in_model_names_its_head(name):
    assert set(HEADS) == set(BUILTINS["model"])
    size = {"resnet50": 64, "vit_s": 32}.get(name, 32)
    model = build_model(name, num_classes=7, in_channels=3, image_size=size)
    head = dict(model.named_modules())[head_name(model, name, 7)]
    assert isinstance(head, nn.Linear) and head.out_features == 7


class _Headless(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


class _Named(_Headless):
    head_name = "out"

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(3, 3)


def test_a_users_model_without_a_head_is_refused_and_a_named_head_is_used():
    with pytest.raises(ConfigError, match=r"^key 'init_from': model 'my.pkg:net' has no classifier "
                                          r"head .*give the module a `head_name` attribute"):
        head_name(_Headless(), "my.pkg:net", 3)
    assert head_name(_Named(), "my.pkg:net", 3) == "out"


def _error(value: str, model: str = "small_cnn") -> str:
    with pytest.raises(ConfigError) as e:
        check_init_from(TrainConfig(dataset="digits", model=model, init_from=value), (10, 1, 8))
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"key 'init_from': value {value!r} is invalid: ")
    return text


def test_bad_weights_are_one_line_naming_the_key_the_value_and_the_fault(tmp_path):
    assert "no such file or folder" in _error(str(tmp_path / "none.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    assert "is not a torch.save'd state dict" in _error(str(tmp_path / "junk.pt"))
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    assert "is not a state dict" in _error(str(tmp_path / "list.pt"))
    torch.save({"features.0.weight": 3}, tmp_path / "ints.pt")
    assert "is not a state dict" in _error(str(tmp_path / "ints.pt"))
    rgb = _saved(tmp_path, _cnn(10, channels=3), "rgb.pt")
    assert _error(rgb).endswith("weight 'features.0.weight' has shape (32, 3, 3, 3), the "
                                "backbone of model 'small_cnn' needs (32, 1, 3, 3)")
    torch.manual_seed(0)
    resnet = _saved(tmp_path, build_model("resnet20", 10, 1, 8), "resnet.pt")
    assert "its weights do not fit the backbone" in _error(resnet)


def test_check_components_refuses_wrong_weights_before_anything_starts(tmp_path):
    rgb = _saved(tmp_path, _cnn(10, channels=3), "rgb.pt")
    with pytest.raises(ConfigError, match=r"^key 'init_from': value .*rgb.pt' is invalid: weight"):
        check_components([TrainConfig(dataset="digits", init_from=rgb)])
    check_components([TrainConfig(dataset="digits", init_from=_saved(tmp_path, _cnn(3)))])
