"""benchmarks/efficient_cost.py: the grad evals a method logs, and the verdicts its report prints."""

from __future__ import annotations

import pytest
import torch

from benchmarks.efficient_cost import METHODS, Trainer, report


@pytest.mark.parametrize("label, evals", [("SGD", 10.0), ("LookSAM k=5", 12.0), ("MSAM", 10.0),
                                          ("SAM every 5", 12.0), ("SAM", 20.0)])
def test_trainer_logs_what_the_method_makes(label: str, evals: float) -> None:
    torch.set_num_threads(1)
    kw = dict(METHODS)[label]
    trainer = Trainer(kw, "small_cnn")
    trainer.batches = [(x[:8], y[:8]) for x, y in trainer.batches]  # 8 images: fast
    seconds, logged = trainer.block(10)
    assert logged == evals and seconds > 0


def test_report_verdicts() -> None:
    rows = [{"method": "SGD", "step_ms": 10.0, "cost": 1.0, "evals": 1.0},
            {"method": "LookSAM k=5", "step_ms": 13.5, "cost": 1.35, "evals": 1.2},
            {"method": "MSAM", "step_ms": 10.4, "cost": 1.04, "evals": 1.0}]
    text = report(rows, "t")
    assert "LookSAM k=5: logs 1.200 grad evals a step (target 1.2 +- 0.05: met); costs 1.350 " \
           "SGD steps (step within 10% of the logged evals: MISSED)" in text  # 1.35 / 1.2 = 1.125
    assert "MSAM: logs 1.000 grad evals a step (target 1.0 +- 0.0: met); costs 1.040 SGD steps " \
           "(step <= 1.05 SGD steps: met)" in text
