"""Installable with pip: pyproject.toml declares ranges that requirements.txt's pins (the tested
lock) satisfy, `sweep --version` names
the installed version, and a wheel of the package alone gives a `sweep` that trains outside the
repository on the declared dependencies (`scripts/check_install.py`; its docstring says what this
proves and what only `--fresh`, a real `pip install .` from the index, does)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.docs.test_code_blocks import BLOCKS
from tests.support import ROOT
from tests.support.faults import private_ray_tmpdir, sweep_env

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


LOCK = _requirements((ROOT / "requirements.txt").read_text().splitlines())
RUNTIME = _requirements(PROJECT["dependencies"])
DEV = _requirements(PROJECT["optional-dependencies"]["dev"])


def test_requirements_txt_is_a_lock_of_exact_pins_for_every_declared_dependency():
    assert not set(RUNTIME) & set(DEV)
    assert set(LOCK) == set(RUNTIME) | set(DEV)  # the same names
    assert set(DEV) == {"pytest", "ruff", "import-linter", "moto", "mkdocs", "mkdocs-material",
                        "mkdocstrings"}  # tests, lint, the docs site; the rest is needed to run
    for name, pin in LOCK.items():
        (spec,) = pin.specifier
        assert spec.operator == "==", f"not pinned: {pin}"
        declared = {**RUNTIME, **DEV}[name]
        assert pin.extras == declared.extras, (pin, declared)


@pytest.mark.parametrize("name", sorted(LOCK))
def test_every_pin_of_the_lock_satisfies_its_declared_range(name):
    declared = {**RUNTIME, **DEV}[name]
    (pin,) = LOCK[name].specifier
    assert declared.specifier.contains(pin.version, prereleases=True), (str(LOCK[name]), str(declared))
    # a range, lower-bounded (an exact pin would refuse every other environment)
    assert all(s.operator != "==" for s in declared.specifier), str(declared)
    assert any(s.operator == ">=" for s in declared.specifier), str(declared)


def test_the_ranges_admit_an_older_numpy_than_the_lock():
    """What `pip install . "numpy<2.4"` needs (scripts/check_older_deps.py runs the core tests
    on numpy 2.0.2 in a fresh venv)."""
    assert RUNTIME["numpy"].specifier.contains("2.0.2")
    assert not RUNTIME["numpy"].specifier.contains("1.26.4")  # pandas 3 needs numpy 2


def test_sweep_version_names_the_installed_version():
    out = subprocess.run([sys.executable, "-m", "sweeps", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == f"sweep {PROJECT['version']}\n", out


def _pip_user_checks():
    spec = importlib.util.spec_from_file_location("pip_user_checks",
                                                  ROOT / "scripts" / "pip_user_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_install_check_runs_the_docs_blocks_the_checkout_runs_but_the_listed_pages():
    checks = _pip_user_checks()
    assert checks.marked_blocks() == BLOCKS  # the same blocks as tests/docs/test_code_blocks.py
    pages = {page for page, _, _, _ in BLOCKS}
    assert set(checks.NOT_FOR_PIP_USERS) <= pages  # no stale entry: each skipped page has blocks
    assert pages - set(checks.NOT_FOR_PIP_USERS) >= {"docs/getting-started.md", "docs/methods.md"}
    assert checks.expected_prints("x = 1\nprint(x, 2)   # 1 2\nprint(3)\n") == ["1 2"]


@pytest.mark.ray
def test_a_wheel_of_the_package_alone_installs_a_working_sweep(tmp_path):
    with private_ray_tmpdir() as ray_tmp:
        env = {k: v for k, v in sweep_env(ray_tmp).items() if k != "PYTHONPATH"}
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_install.py"),
                              "--workdir", str(tmp_path / "check")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert f"ok: the wheel requires {len(PROJECT['dependencies'])} packages: torch>=" in out.stdout
    for step in ("pip wheel --no-deps", "sweep --version", "sweep --help",
                 "samtrain and sweeps import from the venv",
                 "sweep train digits.yaml (1 epoch, in a git project)",
                 "the run's provenance (mlflow.search_runs)",
                 "docs/mlflow.md: every run launched from one commit",
                 "sweep example tiny (a study file shipped in the package)",
                 "sweep example tiny > search_spaces/tiny.yaml",
                 "docs/getting-started.md#1 (python)", "docs/methods.md#0 (python)",
                 "docs/python_api.md",
                 "pip install --no-deps -e", "editable: samtrain imports from the copy"):
        assert any(line.startswith(f"ok: {step} (") for line in lines), (step, out.stdout)
    skipped = sum(page in _pip_user_checks().NOT_FOR_PIP_USERS for page, _, _, _ in BLOCKS)
    assert (f"ok: {len(BLOCKS) - skipped} marked docs blocks ran in the installed venv "
            f"({skipped} skipped)") in lines, out.stdout
    assert lines[-1].startswith("all ok in ") and f"(sweep {PROJECT['version']}," in lines[-1]
