"""`python -m benchmarks`: run every benchmark section in order and print its figures.

Each section is `(title, main)` where `main(argv)` prints its own progress and tables and returns
the report blocks (markdown) it printed; add a section by appending to `SECTIONS`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import (
    cli_startup,
    diagnostics_cost,
    efficient_cost,
    eval_layout,
    pass_cost,
    search_efficiency,
    shift_cost,
    slot_speed,
    step_overhead,
    storage_overhead,
    sweep_share,
    tracking_load,
    train_layout,
    trial_heap,
    verdict_calibration,
)

SECTIONS: list[tuple[str, Callable[[list[str]], list[str]]]] = [
    ("P1/P2: SAM-family step overhead and m-sharpness (benchmarks/step_overhead.py)",
     step_overhead.main),
    ("Efficient SAM variants: step cost and logged grad evals per step vs SGD "
     "(benchmarks/efficient_cost.py)", efficient_cost.main),
    ("P3: share of a small sweep's wall time spent training; trial start-up "
     "(benchmarks/sweep_share.py)", sweep_share.main),
    ("P3 noise floor: speeds of identical trial processes side by side "
     "(benchmarks/slot_speed.py)", slot_speed.main),
    ("Trial processes: epoch time with glibc's malloc defaults vs the held heap "
     "(benchmarks/trial_heap.py)", trial_heap.main),
    ("Diagnostics: forgetting/perturbed overhead per step, sharpness cost per epoch "
     "(benchmarks/diagnostics_cost.py)", diagnostics_cost.main),
    ("Scoring a split in channels-last vs the default layout (benchmarks/eval_layout.py)",
     eval_layout.main),
    ("Training in channels-last vs the default layout, the demo's setting "
     "(benchmarks/train_layout.py)", train_layout.main),
    ("Search efficiency: samplers x Ray schedulers replayed on two tabular grids "
     "(benchmarks/search_efficiency.py)", search_efficiency.main),
    ("Tracking load: N trials logging every epoch to sqlite and to MLflow on PostgreSQL "
     "(benchmarks/tracking_load.py)", tracking_load.main),
    ("Object storage: the same sweep on a local folder and on S3 "
     "(benchmarks/storage_overhead.py)", storage_overhead.main),
    ("Verdict calibration: false 'beats' and detection vs stated power on simulated studies "
     "(benchmarks/verdict_calibration.py)", verdict_calibration.main),
    ("Shifted test sets: corruption generation, end-of-run scoring over a training epoch "
     "(benchmarks/shift_cost.py)", shift_cost.main),
    ("Cost unit: a forward-only pass against a forward + backward pass "
     "(benchmarks/pass_cost.py)", pass_cost.main),
    ("CLI start-up: wall time of `sweep --help` (benchmarks/cli_startup.py)", cli_startup.main),
]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for title, run in SECTIONS:
        print(f"## {title}\n", flush=True)
        run(argv)
        print(flush=True)


if __name__ == "__main__":
    main()
