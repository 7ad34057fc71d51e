"""A sweep's records with known numbers, for the tests of report rows and report files."""

from __future__ import annotations

import math

from sweeps.study.study_file import parse_study

STUDY = parse_study("""name: s
metric: val_acc
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}, perturb_batch_size: {choice: [16, 32]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
""")
STUDY_T = parse_study("""name: s
metric: val_acc
test: t
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}, perturb_batch_size: {choice: [16, 32]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
""")  # the same study with the paired t-test
SGD, SAM_A, SAM_B = {"perturbation": "none"}, {"rho": 0.05, "perturb_batch_size": 16}, {
    "rho": 0.1, "perturb_batch_size": 32}
OBF = {"perturbation": "obf", "rho": 0.05}
SGD_TEST = {1: 0.60, 2: 0.62, 3: 0.64}
SAM_TEST = {1: 0.70, 2: 0.74, 3: 0.72}   # paired with sgd: differences 0.10, 0.12, 0.08
OBF_TEST = {4: 0.80, 5: 0.86}            # no seed in common with sgd's: Welch
CONFIRM_VAL = {"sgd": 0.6, "sam": 0.7, "obf": 0.75}   # obf: the best on validation


def report_records(make_record) -> list:
    """Search and confirm runs of STUDY: sam's winner confirmed on seeds 1-3 (paired with sgd),
    obf's on seeds 4-5 (Welch), one diverged seed, one superseded run, one pruned trial."""
    r, out, t = make_record, [], iter(range(100))
    out += [r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.60, "test_acc": 0.99}, next(t)),
            r("sam", "search", "completed", 0, SAM_A, {"val_acc": 0.80, "test_acc": 0.99}, next(t)),
            r("sam", "search", "completed", 0, SAM_B, {"val_acc": 0.74, "test_acc": 0.99}, next(t)),
            r("sam", "search", "pruned", 0, {"rho": 0.3}, {"val_acc": 0.5}, next(t), reached=1),
            r("obf", "search", "completed", 0, OBF, {"val_acc": 0.81, "test_acc": 0.99}, next(t))]
    out.append(r("sam", "confirm", "completed", 2, SAM_A, {"val_acc": 0.7, "test_acc": 0.10}, next(t)))
    for method, cfg, tests in (("sgd", SGD, SGD_TEST), ("sam", SAM_A, SAM_TEST), ("obf", OBF, OBF_TEST)):
        val = CONFIRM_VAL[method]
        for seed, v in tests.items():  # the later run of a seed supersedes the one above
            out.append(r(method, "confirm", "completed", seed, cfg, {"val_acc": val, "test_acc": v},
                         next(t)))
    out.append(r("sam", "confirm", "completed", 1, SAM_B, {"val_acc": 0.65, "test_acc": 0.95}, next(t)))
    out.append(r("sam", "confirm", "diverged", 4, SAM_A, {"val_acc": math.nan}, next(t)))
    for i, run in enumerate(out):  # run parameters the loop records (they vary, but are no config)
        run.params["msharp_loop_ms"] = 100.0 + i
    return out


def compute_matched_records(make_record, tests: dict[str, list[float]]) -> tuple:
    """A `compute_matched: true` study (sgd, sam and the added `sgd_x2` at twice the epochs) and
    its records: one search run per method, then confirm seeds 1-3 with `tests[method]`'s scores;
    the paired t-test (`test: t`), whose p-values the tests compute by hand."""
    study = parse_study("compute_matched: true\ntest: t\nbase: {dataset: digits, epochs: 3}\n"
                        "methods:\n"
                        "  sgd: {fixed: {perturbation: none}}\n"
                        "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")
    r, t, records = make_record, iter(range(100)), []
    for m, cfg, epochs in (("sgd", {"perturbation": "none"}, 3), ("sam", {"rho": 0.1}, 3),
                           ("sgd_x2", {"perturbation": "none"}, 6)):
        records.append(r(m, "search", "completed", 0, cfg, {"val_acc": 0.5}, next(t), epochs=epochs))
        for seed, v in zip((1, 2, 3), tests[m], strict=True):
            records.append(r(m, "confirm", "completed", seed, cfg, {"val_acc": 0.5, "test_acc": v},
                             next(t), epochs=epochs))
    return study, records
