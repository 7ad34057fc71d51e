"""Installable with pip: pyproject.toml declares requirements.txt's pins, `sweep --version` names
the installed version, and a wheel of the package alone gives a `sweep` that trains outside the
repository on the declared dependencies (`scripts/check_install.py`; its docstring says what this
proves and what only `--fresh`, a real `pip install .` from the index, does)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomllib

from tests.support import ROOT
from tests.support.faults import private_ray_tmpdir, sweep_env

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.split("[", 1)[0].lower()] = line
            assert version, f"not pinned: {line}"
    return out


def test_declared_dependencies_are_exactly_the_pins_of_requirements_txt():
    required = _pins((ROOT / "requirements.txt").read_text().splitlines())
    runtime, dev = _pins(PROJECT["dependencies"]), _pins(PROJECT["optional-dependencies"]["dev"])
    assert not set(runtime) & set(dev)
    assert {**runtime, **dev} == required  # same names, extras and versions
    assert set(dev) == {"pytest", "ruff", "import-linter", "moto", "mkdocs", "mkdocs-material",
                        "mkdocstrings"}  # the rest is needed to run


def test_sweep_version_names_the_installed_version():
    out = subprocess.run([sys.executable, "-m", "sweeps", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == f"sweep {PROJECT['version']}\n", out


@pytest.mark.ray
def test_a_wheel_of_the_package_alone_installs_a_working_sweep(tmp_path):
    with private_ray_tmpdir() as ray_tmp:
        env = {k: v for k, v in sweep_env(ray_tmp).items() if k != "PYTHONPATH"}
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_install.py"),
                              "--workdir", str(tmp_path / "check")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert f"ok: the wheel requires {len(PROJECT['dependencies'])} packages: torch==" in out.stdout
    for step in ("pip wheel --no-deps", "sweep --version", "sweep --help",
                 "samtrain and sweeps import from the venv", "sweep train digits.yaml (1 epoch)",
                 "pip install --no-deps -e", "editable: samtrain imports from the copy"):
        assert any(line.startswith(f"ok: {step} (") for line in lines), (step, out.stdout)
    assert lines[-1].startswith("all ok in ") and f"(sweep {PROJECT['version']}," in lines[-1]
