"""`TrainConfig.eval_sets`: the three kinds, their names, one-line errors, MLflow round trip."""

from __future__ import annotations

import pytest

from samtrain.config.eval_set_spec import CORRUPTIONS
from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError
from sweeps.store.schema import parse_params, train_config_of
from sweeps.store.writer import param_values


def names(cfg: TrainConfig) -> list[str]:
    return [n for s in cfg.eval_sets for n in s.set_names()]


def test_kinds_and_names():
    cfg = TrainConfig.build({"eval_sets": [
        {"corruptions": ["contrast", "pixelate"], "severity": [1, 5], "examples": 100},
        {"folder": "/data/imagenet-r/", "class_map": {"n01443537": 1}},
        {"import": "my_pkg.sets:cifar10_1", "kwargs": {"root": "/d"}},
        {"corruption": "all", "severity": 2}]})
    assert names(cfg)[:6] == ["contrast_1", "contrast_5", "pixelate_1", "pixelate_5", "imagenet-r",
                              "cifar10_1"]
    assert names(cfg)[6:] == [f"{c}_2" for c in CORRUPTIONS]
    assert cfg.eval_sets[0].examples == 100


def test_the_default_keeps_group_keys_and_the_sets_round_trip_through_mlflow_params():
    assert TrainConfig(eval_sets=[]).group_key() == TrainConfig().group_key()
    cfg = TrainConfig.build({"eval_sets": [{"corruption": "contrast", "severity": 3},
                                           {"import": "m.n:f", "name": "q"}]})
    assert cfg.group_key() != TrainConfig().group_key()
    params = {p.key: p.value for p in param_values(cfg.model_dump(mode="json"))}
    assert '"import": "m.n:f"' in params["eval_sets"]
    assert train_config_of(parse_params(params)) == cfg


@pytest.mark.parametrize("sets, words", [
    ([{"corruption": "fog"}], ("eval_sets.0.corruption", "'fog'", "elastic_transform")),
    ([{"corruption": "contrast", "severity": 6}], ("eval_sets.0.corruption.severity", "6", "1, 2")),
    ([{"folder": "/a/r"}, {"folder": "/b/r"}], ("eval_sets", "two sets are named 'r'")),
    ([{"color": 1}], ("eval_sets.0", "corruption, folder or import")),
    ([{"import": "not an import"}], ("eval_sets.0.import", "import string")),
    ([{"folder": "/x", "class_map": {}}], ("eval_sets.0.folder.class_map", "at least one")),
    ([{"folder": "/x", "name": "a/b"}], ("eval_sets", "'a/b'", "give the entry a `name`")),
])
def test_bad_specs_are_one_line(sets, words):
    with pytest.raises(ConfigError) as e:
        TrainConfig.build({"eval_sets": sets})
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
