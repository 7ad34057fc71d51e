"""Learning-rate schedules: warmup then cosine, linear or constant, to the formula."""

import math

import pytest

from samtrain.engine.schedule import lr_factor_fn


def test_lr_schedule_formulas():
    f = lr_factor_fn("cosine", total_steps=110, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0)
    g = lr_factor_fn("linear", total_steps=100, warmup_steps=0)
    assert g(25) == pytest.approx(0.75)
    assert lr_factor_fn("constant", 100, 0)(99) == 1.0
    with pytest.raises(ValueError, match="schedule='step'"):
        lr_factor_fn("step", 10, 0)


@pytest.mark.parametrize("step", [10, 35, 60, 85, 110])
def test_cosine_after_warmup_is_half_a_cosine(step):
    f = lr_factor_fn("cosine", total_steps=110, warmup_steps=10)
    assert f(step) == pytest.approx(0.5 * (1 + math.cos(math.pi * (step - 10) / 100)))
