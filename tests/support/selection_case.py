"""Search records with known winners in max and min mode, for the tests of "best"."""

import math

from sweeps.study.study_file import parse_study

SGD = {"perturbation": "none"}
SAM_A = {"rho": 0.05}
SAM_B = {"rho": 0.1}
SAM_C = {"rho": 0.2}
OBF_X = {"perturbation": "obf", "rho": 0.05}
OBF_Y = {"perturbation": "obf", "rho": 0.2}
STUDY = """name: s
metric: {metric}
mode: {mode}
methods:
  sgd: {{fixed: {{perturbation: none}}}}
  sam: {{space: {{rho: {{loguniform: [0.01, 0.5]}}}}}}
  obf: {{fixed: {{perturbation: obf}}, space: {{rho: {{loguniform: [0.01, 0.5]}}}}}}
"""


def study(metric: str, mode: str):
    return parse_study(STUDY.format(metric=metric, mode=mode))


def search_records(r):
    """Search runs (validation metrics) with known winners in both modes."""
    return [
        r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.600, "val_loss": 1.0}, 1),
        r("sam", "search", "completed", 0, SAM_A, {"val_acc": 0.800, "val_loss": 0.5}, 2),
        r("sam", "search", "completed", 0, SAM_B, {"val_acc": 0.740, "val_loss": 0.4}, 3),
        # stopped by ASHA while ahead: never scores, whatever it reached
        r("sam", "search", "pruned", 0, SAM_C, {"val_acc": 0.990, "val_loss": 0.1}, 4, reached=1),
        r("sam", "search", "diverged", 0, {"rho": 0.4}, {"val_acc": math.nan, "val_loss": math.nan}, 5),
        # obf: X has two search runs with mean 0.8125, Y one run of 0.8125: X wins (more runs)
        r("obf", "search", "completed", 0, OBF_X, {"val_acc": 0.750, "val_loss": 0.3}, 6),
        r("obf", "search", "completed", 1, OBF_X, {"val_acc": 0.875, "val_loss": 0.3}, 7),
        r("obf", "search", "completed", 0, OBF_Y, {"val_acc": 0.8125, "val_loss": 0.2}, 8),
    ]


EXPECTED = {("val_acc", "max"): {"sgd": SGD, "sam": SAM_A, "obf": OBF_X},
            ("val_loss", "min"): {"sgd": SGD, "sam": SAM_B, "obf": OBF_Y}}
