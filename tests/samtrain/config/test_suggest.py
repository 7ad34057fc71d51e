"""'Did you mean': the closest allowed name for a misspelled key or value, or nothing."""

import pytest

from samtrain.config.suggest import closest, did_you_mean
from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError


@pytest.mark.parametrize("value, allowed, key, want", [
    ("rh0", ["rho", "lr", "rho_policy"], None, "rho"),
    ("epoch", ["epochs", "seed"], None, "epochs"),
    ("sam", ["none", "ascent", "obf", "random"], "perturbation", "ascent"),   # an alias
    ("SGD", ["none", "ascent", "obf", "random"], "perturbation", "none"),     # alias, any case
    ("Ascent", ["none", "ascent"], "perturbation", "ascent"),                # case only
    ("sam", ["none", "ascent"], "optimizer", None),                          # aliases are per key
    ("zzzz", ["rho", "lr"], None, None),
])
def test_closest(value, allowed, key, want):
    assert closest(value, allowed, key) == want
    assert did_you_mean(value, allowed, key) == (f"did you mean {want!r}?" if want else "")


@pytest.mark.parametrize("values, line", [
    ({"rh0": 0.1}, "unknown key 'rh0' (value 0.1); did you mean 'rho'?"),
    ({"zzzz": 1}, "unknown key 'zzzz' (value 1); allowed keys: adaptive, "),
    ({"perturbation": "sam"}, "key 'perturbation': value 'sam' is invalid: must be 'none', "
                              "'ascent', 'obf', 'random' or 'momentum'; did you mean 'ascent'?"),
    ({"schedule": "cosin"}, "key 'schedule': value 'cosin' is invalid: must be 'cosine', 'linear' "
                            "or 'constant'; did you mean 'cosine'?"),
    ({"schedule": "step"}, "key 'schedule': value 'step' is invalid: must be 'cosine', 'linear' "
                           "or 'constant'"),
])
def test_a_train_config_error_suggests_the_key_or_value_meant(values, line):
    with pytest.raises(ConfigError) as e:
        TrainConfig.build(values)
    assert str(e.value).startswith(line) and "\n" not in str(e.value)
    if "did you mean" in line or "allowed keys" not in line:
        assert str(e.value) == line
