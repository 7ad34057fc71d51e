"""Calibration of the report's verdict engine on simulated studies.

Each simulated study has a baseline (`sgd`) and four methods, one search trial each and n paired
confirm seeds. A seed's test accuracy is 0.70 + the seed's effect (shared by every method: the
same split, label noise and data order, so the pairing is real, SD 0.02) + the run's own noise
(SD 0.01, so the paired differences have SD sd_d = 0.01 * sqrt(2)) + the method's true effect.
With probability 0.05 a study has one confirm run, of a random method and seed, that diverged.
The records go through the real engine: `RunRecord`s -> `method_rows` -> `verdict_lines` and
`method_pairs` -> `pairwise_lines`, and the printed sentences are read back.

- null: no method differs. The share of studies that print any "beats" must be <= 5 %
  (family-wise: the report adjusts all its comparisons, 4 vs the baseline and 6 pairs, as one
  Holm family; "beats" vs the baseline, among the methods, and either, are counted).
- effect: one method is better by one SD of the paired differences. Its detection rate ("X beats
  sgd") is set beside the power the engine states for it (`sweeps.results.power.power` at the
  true difference and SD, Holm's first-step level alpha / 10, the study's test).

Run: `python -m benchmarks.verdict_calibration [--studies 1000] [--n 5 10] [--tests permutation t]`.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from sweeps.report.pairwise_table import pairwise_lines
from sweeps.report.tables import verdict_lines
from sweeps.results.pairwise import ALPHA
from sweeps.results.power import holm_alpha, power
from sweeps.results.rows import method_pairs, method_rows
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec
from sweeps.study.study_file import parse_study

METHODS = ("sgd", "sam", "asam", "gsam", "obf")
SEED_SD, RUN_SD, MEAN = 0.02, 0.01, 0.70
PAIRED_SD = RUN_SD * math.sqrt(2)
DIVERGE = 0.05
FAMILY = (len(METHODS) - 1) + math.comb(len(METHODS) - 1, 2)  # vs the baseline, and the pairs
EPOCHS = 3


def study(test: str) -> StudySpec:
    """The simulated study: sgd the baseline, four SAM-family methods, the given test."""
    space = "space: {rho: {loguniform: [0.01, 0.5]}}"
    return parse_study(f"name: calib\nmetric: val_acc\ntest: {test}\nbaseline: sgd\nmethods:\n"
                       "  sgd: {fixed: {perturbation: none}}\n"
                       + "".join(f"  {m}: {{{space}}}\n" for m in METHODS[1:]))


def _run(i: int, method: str, phase: str, seed: int, test_acc: float,
         status: str = "completed") -> RunRecord:
    final = {"epoch": float(EPOCHS), "val_acc": MEAN, "test_acc": test_acc}
    if status != "completed":
        final = {"epoch": 1.0, "val_acc": math.nan}
    return RunRecord(f"r{i}", method, phase, status, f"{method}-cfg", seed,
                     {"epochs": EPOCHS, "rho": 0.1}, final, grad_evals=100.0 * EPOCHS,
                     device_seconds=1.0, trial_id=f"t{i}", start_time=i)


def simulate(rng: np.random.Generator, n: int, effects: dict[str, float]) -> list[RunRecord]:
    """One study's records: a search run per method, n confirm seeds, sometimes a divergence."""
    seed_effect = rng.normal(0.0, SEED_SD, n)
    out = [_run(i, m, "search", 0, MEAN) for i, m in enumerate(METHODS)]
    lost = (rng.choice(METHODS), int(rng.integers(n))) if rng.random() < DIVERGE else None
    for m in METHODS:
        noise = rng.normal(0.0, RUN_SD, n)
        for s in range(n):
            value = MEAN + seed_effect[s] + noise[s] + effects.get(m, 0.0)
            status = "diverged" if lost == (m, s) else "completed"
            out.append(_run(len(out), m, "confirm", s + 1, value, status))
    return out


def verdicts(records: list[RunRecord], spec: StudySpec) -> tuple[list[str], list[str]]:
    """The report's sentences: vs the baseline, and among the methods."""
    rows = method_rows(records, spec)
    return (verdict_lines(rows, "sgd", "test_acc", "max"),
            pairwise_lines(method_pairs(rows, spec), rows, "test_acc", "max"))


def calibrate(n: int, test: str, studies: int, seed: int = 0) -> dict[str, float]:
    """Shares over `studies` simulated studies of each kind (see the module docstring)."""
    spec, rng = study(test), np.random.default_rng(seed)
    null = {"baseline": 0, "pairwise": 0, "any": 0}
    for _ in range(studies):
        base, pairs = verdicts(simulate(rng, n, {}), spec)
        hit = [any(" beats " in v for v in lines) for lines in (base, pairs)]
        null["baseline"] += hit[0]
        null["pairwise"] += hit[1]
        null["any"] += any(hit)
    detected = 0
    for _ in range(studies):
        base, _pairs = verdicts(simulate(rng, n, {"sam": PAIRED_SD}), spec)
        detected += any(v.startswith("sam beats sgd") for v in base)
    stated = power(PAIRED_SD, PAIRED_SD, n, holm_alpha(ALPHA, FAMILY), test)
    return {**{f"null_{k}": v / studies for k, v in null.items()},
            "detected": detected / studies, "stated_power": stated}


def table(results: dict[tuple[int, str], dict[str, float]], studies: int) -> str:
    """The figures as a Markdown table."""
    lines = [f"| test | n | null: any 'beats' vs baseline | null: any pairwise 'beats' | null: "
             f"either | effect 1 SD: detected | stated power | ({studies:,} studies each) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for (n, test), r in results.items():
        lines.append(f"| {test} | {n} | {r['null_baseline']:.1%} | {r['null_pairwise']:.1%} | "
                     f"{r['null_any']:.1%} | {r['detected']:.1%} | {r['stated_power']:.1%} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.verdict_calibration")
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--n", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--tests", nargs="+", default=["permutation", "t"],
                        choices=["permutation", "t"])
    args, _ = parser.parse_known_args(argv)
    results = {}
    for test in args.tests:
        for n in args.n:
            t0 = time.perf_counter()
            results[(n, test)] = calibrate(n, test, args.studies)
            print(f"{test}, n = {n}: {time.perf_counter() - t0:.0f} s", flush=True)
    text = table(results, args.studies)
    print(text, flush=True)
    return [text]


if __name__ == "__main__":
    main()
