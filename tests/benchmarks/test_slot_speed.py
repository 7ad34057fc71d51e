"""benchmarks/slot_speed.py: both processes train and the spread is reported fastest first."""

import re

from benchmarks import slot_speed


def test_slot_speed_reports_each_process_and_the_spread():
    lines = slot_speed.main(["--seconds", "2", "--window", "0.5"])
    rows = [line for line in lines if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 2
    overall = [float(row.rsplit("|", 2)[1]) for row in rows]
    assert overall[0] >= overall[1] > 0  # fastest first, both trained
    windows = [row.split("|")[2].split() for row in rows]
    assert all(len(w) >= 1 for w in windows)  # 2 s in 0.5 s windows
    ratio = float(re.search(r"\*\*([\d.]+)\*\*", lines[-1]).group(1))
    idle = float(re.search(r"about ([\d.]+) s", lines[-1]).group(1))
    assert ratio >= 1.0
    assert abs(idle - 240.0 * (overall[0] / overall[1] - 1) / 2) < 0.3  # rounding of the shown rates
