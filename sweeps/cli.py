"""The `sweep` command line (placeholder until the sweep issue lands)."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sweep", description="SAM-family sweeps on Ray Tune")
    parser.parse_args(argv)
    parser.print_help()
    return 0
