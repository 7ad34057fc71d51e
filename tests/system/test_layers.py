"""The architecture as a checked contract: `lint-imports` (import-linter, `make lint`) keeps every
layer of sweeps/ and samtrain/ importing only the layers below it, with no import cycle; a
planted upward import breaks it; only the Ray Train adapter imports `ray.train`. `sweep --help`
stays instant because it imports no torch, Ray or MLflow, and of samtrain only its import-free
error root (checked here; its wall time is measured by benchmarks/cli_startup.py, not asserted)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
HEAVY = ("torch", "ray", "mlflow", "optuna", "numpy", "pydantic", "samtrain.config", "samtrain.engine",
         "samtrain.data", "samtrain.models", "samtrain.optim", "samtrain.diagnostics")
COMMANDS = ("run", "resume", "extend", "status", "best", "train", "confirm", "report", "analyze",
            "plan", "list", "delete", "example")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy(tmp_path):
    """The two packages and the contract, copied: a planted import cannot touch the real tree."""
    for name in ("sweeps", "samtrain"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layers_and_acyclic_contracts_hold(copy):
    out = _lint(copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 5 kept, 0 broken." in out.stdout


@pytest.mark.parametrize("module, planted, says", [
    ("sweeps/store/schema.py", "from sweeps.results import selection",
     "sweeps.store.schema -> sweeps.results.selection"),
    ("sweeps/results/stats.py", "from sweeps.report import tables",
     "sweeps.results.stats -> sweeps.report.tables"),
    ("sweeps/report/status.py", "from sweeps.execution import runner",
     "sweeps.report.status -> sweeps.execution.runner"),
    ("samtrain/config/train_config.py", "import sweeps.errors",
     "samtrain.config.train_config -> sweeps.errors"),
    ("samtrain/optim/obf.py", "from samtrain.engine import loop",
     "samtrain.optim.obf -> samtrain.engine.loop"),
    ("samtrain/errors.py", "from samtrain.config import suggest",
     "samtrain.errors -> samtrain.config.suggest"),
    ("samtrain/config/registry.py", "from samtrain.config import train_config",
     "samtrain.config.registry -> samtrain.config.train_config"),
    ("samtrain/engine/loop.py", "from samtrain.engine import ray_train",
     "samtrain.engine.loop -> samtrain.engine.ray_train"),
    ("sweeps/study/distributions.py", "from sweeps.study import spec",
     "No cycles are allowed in sweeps.study"),
])
def test_a_planted_upward_or_cyclic_import_breaks_the_contract(copy, module, planted, says):
    """Even a type-only import counts (the planted line sits under TYPE_CHECKING)."""
    path = copy / module
    path.write_text(path.read_text() + f"\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                       f"    {planted}  # planted\n")
    out = _lint(copy)
    assert out.returncode == 1, out.stdout + out.stderr
    assert says in out.stdout and "BROKEN" in out.stdout, out.stdout


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_ray_train_adapter_imports_ray_train():
    importers = sorted(str(p.relative_to(ROOT)) for pkg in ("samtrain", "sweeps")
                       for p in (ROOT / pkg).rglob("*.py")
                       if any(n == "ray.train" or n.startswith("ray.train.") for n in _imports(p)))
    assert importers == ["samtrain/engine/ray_train.py"]


def _help(argv: list[str], prelude: str = "") -> tuple[str, list[str]]:
    """What `sweep ARGV` printed, and the heavy modules imported by then (after `prelude` ran)."""
    code = (prelude + "import sys; from sweeps.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('@@', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout, eval(out.stdout.rsplit("@@", 1)[1])


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS],
                         ids=lambda a: " ".join(a))
def test_help_imports_nothing_heavy(argv):
    out, heavy = _help(argv)
    assert out.startswith("usage: sweep") and heavy == [], (heavy, out)


def test_the_check_sees_a_heavy_import():
    """The probe itself: a heavy module imported before `sweep --help` is reported."""
    assert _help(["--help"], prelude="import numpy\n")[1] == ["numpy"]


def test_the_sweep_console_script_answers_help():
    script = Path(sys.executable).parent / "sweep"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "analyze" in out.stdout
