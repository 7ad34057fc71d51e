"""`benchmarks.pass_cost`: one table row per model asked for, the ratio and RandSAM's column from the same
two medians (no timing is asserted)."""

from benchmarks import pass_cost


def test_each_model_gets_a_row_whose_ratios_come_from_its_two_times():
    (block,) = pass_cost.main(["--steps", "1", "--warmup", "0", "--models", "small_cnn",
                               "--unknown-to-this-section"])
    rows = [line for line in block.splitlines() if line.startswith("| ")][1:]  # no header
    assert [r.split("|")[1].strip() for r in rows] == ["small_cnn"]
    for row in rows:
        fwd, both, ratio, randsam = (float(c) for c in row.strip("|").split("|")[1:])
        assert ratio == round(fwd / both, 2) or abs(ratio - fwd / both) < 0.01
        assert abs(randsam - (1 + fwd / both)) < 0.011
