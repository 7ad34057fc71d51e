"""benchmarks/tracking_load.py on sqlite (no servers): trials report through the callback and
outbox, and the count read back from the database is exact."""

import re

from benchmarks import tracking_load


def test_the_load_is_counted_exactly_on_sqlite():
    lines = tracking_load.main(["--quick", "--backends", "sqlite", "--drivers", "2", "--metrics", "4",
                                "--epoch-s", "0.2", "--kill", "0"])
    (row,) = [line for line in lines if line.startswith("| sqlite")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "16 (2 x 8)" and cells[2] == "4 x 4"
    assert cells[8] == "16 / 16 / 256 of 256" and cells[9:] == ["0", "0"], row
    p50, p95, worst = map(float, re.findall(r"[\d.]+", cells[7]))
    assert 0 <= p50 <= p95 <= worst
    assert lines[-1].startswith("1 of 1 runs exact")
