"""How long `sweep --help` takes, the whole process (interpreter start included): the parser
imports nothing heavy, so help should answer at once. Measured here, not asserted in the tests
(a loaded machine would make such a test flaky); tests/system/test_layers.py checks the cause,
that no heavy module is imported.

    python -m benchmarks.cli_startup [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ("", "run", "status", "report", "analyze")


def help_seconds(command: str, repeats: int) -> list[float]:
    """Wall seconds of `sweep [command] --help` through the console script, `repeats` times."""
    script = Path(sys.executable).parent / "sweep"
    argv = [str(script), *([command] if command else []), "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = ["| command | median s | max s | runs |", "|---|---|---|---|"]
    for command in COMMANDS:
        times = help_seconds(command, args.repeats)
        name = f"sweep {command} --help".replace("  ", " ")
        rows.append(f"| `{name}` | {statistics.median(times):.3f} | {max(times):.3f} | {len(times)} |")
    block = "\n".join(rows)
    print(block)
    return [block]


if __name__ == "__main__":
    main(sys.argv[1:])
