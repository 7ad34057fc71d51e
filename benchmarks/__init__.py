"""Benchmarks: `python -m benchmarks` runs every section (see `benchmarks.__main__.SECTIONS`)."""
