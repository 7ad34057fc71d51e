"""Do pyproject.toml's ranges hold at their lower end? A fresh venv, `pip install .` with an older
release (default: numpy 2.0.2, the declared floor; the lock has 2.4.6), then the core tests.

    python scripts/check_older_deps.py                         # numpy==2.0.2 (downloads: minutes)
    python scripts/check_older_deps.py --with "numpy<2.4" --with "scipy==1.17.1"

Steps, each printed as `ok: ... (N s)`: `python -m venv`; torch and torchvision at the lock's pins
first (on a machine whose pip finds them on disk, no CUDA download; on a CPU-only machine
elsewhere, give `--torch-index https://download.pytorch.org/whl/cpu`); `pip install SRC[dev]` with
the `--with` requirements, the torch pins kept as constraints (pip resolves everything else from
the declared ranges, as in a research environment); `pip check`; the versions resolved; and
`python -m pytest` of the core tests (no Ray cluster) in a copy of the repository, the package
imported from the venv's install. The last line is `all ok in N s (numpy X, ...)` or
`FAILED: ...` with pip's or pytest's output; exit 0 or 1.

It downloads every dependency but torch (hundreds of MB), so it is a benchmark-style check run
by hand or in a scheduled job, not part of `make test`.

Example:
    python scripts/check_older_deps.py --workdir /tmp/older-deps --with "numpy==2.0.2"
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("pyproject.toml", "requirements.txt", "README.md", "samtrain", "sweeps", "tests",
          "search_spaces", "configs", "examples")
CORE_TESTS = ["tests/samtrain/config/test_train_config.py", "tests/samtrain/optim",
              "tests/samtrain/engine/test_schedule.py",
              "tests/sweeps/results", "tests/sweeps/study", "tests/sweeps/store/test_schema.py",
              "tests/sweeps/store/test_writer.py", "tests/sweeps/store/test_mlflow_records.py",
              "tests/sweeps/report/test_status.py", "tests/system/test_packaging.py"]


def step(what: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 3600) -> str:
    """Run `cmd`; print `ok: what (N s)`, or exit 1 with its output."""
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - start
    if out.returncode != 0:
        print(f"FAILED: {what} (exit {out.returncode}, {took:.0f} s)\nstdout: {out.stdout[-4000:]}"
              f"\nstderr: {out.stderr[-4000:]}", flush=True)
        raise SystemExit(1)
    print(f"ok: {what} ({took:.0f} s)", flush=True)
    return out.stdout


def torch_pins() -> list[str]:
    """The lock's torch and torchvision lines (requirements.txt)."""
    lines = [ln.split("#", 1)[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    return [ln for ln in lines if ln.split("==")[0] in ("torch", "torchvision")]


def copy_repository(dest: Path) -> Path:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "runs", "mlruns", "mlflow.db")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--with", dest="extra", action="append", default=[], metavar="REQUIREMENT",
                   help='an older release to resolve with (repeatable; default "numpy==2.0.2")')
    p.add_argument("--torch-index", help="a wheel index for torch (e.g. PyTorch's CPU-only one)")
    p.add_argument("--workdir", help="where to work (default: a new temporary folder)")
    args = p.parse_args(argv)
    extra = args.extra or ["numpy==2.0.2"]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="samsweep-older-deps-"))
    root.mkdir(parents=True, exist_ok=True)
    src, venv = copy_repository(root / "src"), root / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true")
    start = time.perf_counter()
    step("python -m venv", [sys.executable, "-m", "venv", str(venv)], root, env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    index = ["--extra-index-url", args.torch_index] if args.torch_index else []
    step(f"pip install {' '.join(torch_pins())}", [*pip, "install", "-q", *index, *torch_pins()],
         root, env)
    (root / "constraints.txt").write_text("\n".join(torch_pins()) + "\n")
    step(f"pip install .[dev] {' '.join(extra)}",
         [*pip, "install", "-q", "-c", str(root / "constraints.txt"), f"{src}[dev]", *extra], root, env)
    step("pip check", [*pip, "check"], root, env)
    versions = step("versions resolved", [*pip, "list", "--format=freeze"], root, env)
    wanted = {"numpy", "scipy", "pandas", "torch", "mlflow", "ray", "optuna"}
    picked = [ln for ln in versions.splitlines() if ln.split("==")[0].lower() in wanted]
    print("   " + ", ".join(picked), flush=True)
    shutil.rmtree(src / "samtrain"), shutil.rmtree(src / "sweeps")  # tests import the venv's copy
    tested = step(f"pytest core tests ({len(CORE_TESTS)} paths)",
                  [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-x", "-m", "not ray", "-p",
                   "no:cacheprovider", *CORE_TESTS], src, env, timeout=3600)
    print("   " + tested.strip().splitlines()[-1], flush=True)  # pytest's count
    print(f"all ok in {time.perf_counter() - start:.0f} s ({', '.join(picked)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
