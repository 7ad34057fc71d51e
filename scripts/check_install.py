"""Does `pip install .` give a working `sweep`? Checked in a new venv, outside the repository.

    python scripts/check_install.py            # about a minute: the wheel on the declared deps
    python scripts/check_install.py --fresh    # `pip install .` from the package index (minutes)

Both copy only what a package build reads (pyproject.toml, README.md, samtrain/, sweeps/), make
a venv, install, and then, in a folder outside the repository and without PYTHONPATH, run
`sweep --version`, `sweep --help`, `sweep example tiny` (a study file shipped as package data),
check that samtrain and sweeps are imported from the venv, and do what a pip user does
(`pip_user_checks.py`): a 1-epoch digits `sweep train` (Ray Train, MLflow) from a git repository
of the user's own, whose MLflow run must carry that repository's commit and the installed version
(and no samsweep commit), found by docs/mlflow.md's "every run launched from one commit" block;
the docs' blocks marked to run; the notebook of docs/python_api.md (the Python API: a digits sweep
searched, confirmed, reported, listed, deleted). Then `pip install -e` of the same copy,
`sweep --version` and an import of the training loop from it.

Default (what `tests/system/test_packaging.py` runs): `pip wheel --no-deps` builds the wheel;
it is installed with `--no-deps` into a venv made without pip, whose only other packages are the
declared dependencies and everything they require (their extras included), followed through
`importlib.metadata` in this interpreter's environment and linked into one folder on the venv's
path. It proves that the wheel holds every module and the console script, that the declared
dependencies suffice to train (no package only the dev tools bring is used), and that
`pip install -e` works. It does not prove that pip can resolve and download those pins from an
index (this environment was installed from requirements.txt, whose pins the test keeps equal).

`--fresh`: a venv with pip, `pip install .` (dependencies from the index; on this machine torch
and torchvision come from local files), the same runs, then `pip install -e .` in that venv.

Example:
    python scripts/check_install.py --workdir /tmp/install-check
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from pip_user_checks import check_doc_blocks, check_project_run, step

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "samtrain", "sweeps")


def copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def declared(wheel: Path) -> list[str]:
    """The wheel's runtime requirements (its `Requires-Dist` lines outside every extra)."""
    import zipfile
    from email.parser import Parser

    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        (name,) = (n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(name).decode())
    return [r for r in meta.get_all("Requires-Dist") or []
            if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})]


def dependency_closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `requirements` need, with what they need in turn."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dists: dict[str, metadata.Distribution] = {}
    extras: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        wanted = set(req.extras) | {""}
        if name in dists and wanted <= extras[name]:
            continue
        dist = dists.get(name) or metadata.distribution(req.name)  # PackageNotFoundError: missing
        dists[name], extras[name] = dist, extras.get(name, set()) | wanted
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras[name]):
                todo.append(sub)
    return list(dists.values())


def link_dependencies(dists: list[metadata.Distribution], folder: Path) -> int:
    """Link every top-level file and folder of `dists` (packages and their .dist-info) into
    `folder`; returns how many."""
    folder.mkdir(parents=True)
    linked = 0
    for dist in dists:
        base = Path(str(dist.locate_file("")))
        tops = {f.parts[0] for f in dist.files or [] if f.parts}
        for top in tops - {"..", "__pycache__"}:
            target = folder / top
            if not target.exists() and (base / top).exists():
                target.symlink_to(base / top)
                linked += 1
    return linked


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def check_runs(venv: Path, work: Path, env: dict[str, str], train: bool = True) -> None:
    """`sweep --version`, `--help` and (with `train`) what a pip user does, outside the repo."""
    sweep, python = venv / "bin" / "sweep", venv / "bin" / "python"
    out = step("sweep --version", [str(sweep), "--version"], work, env)
    version = out.split()[-1]
    assert out.strip() == f"sweep {version}" and version[0].isdigit(), out
    assert "analyze" in step("sweep --help", [str(sweep), "--help"], work, env)
    example = step("sweep example tiny (a study file shipped in the package)",
                   [str(sweep), "example", "tiny"], work, env)
    assert example == (ROOT / "search_spaces" / "tiny.yaml").read_text(), example
    where = step("samtrain and sweeps import from the venv", [str(python), "-c",
                 "import samtrain.engine.loop, sweeps.commands; print(samtrain.__file__, sweeps.__file__)"],
                 work, env)
    repo = str(ROOT)
    assert all(not p.startswith(repo) for p in where.split()), where
    if train:
        check_project_run(venv, work / "project", env, version)
        check_doc_blocks(venv, work / "docs", env)
        check_notebook(python, work / "notebook", env)
    print(f"   version {version}; modules from {where.split()[0]}", flush=True)


def check_notebook(python: Path, folder: Path, env: dict[str, str]) -> None:
    """docs/python_api.md's Python blocks, top to bottom, as one script of the installed package
    (a search, a confirm, the report, list and delete of a digits sweep); the one place it runs
    (tests/system/test_packaging.py)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python_api.md").read_text(), re.S)
    folder.mkdir()
    (folder / "notebook.py").write_text("\n".join(blocks))
    out = step(f"docs/python_api.md ({len(blocks)} blocks)", [str(python), "notebook.py"],
               folder, {k: v for k, v in env.items() if k != "SWEEP_STORAGE"})
    assert "notebook ['sgd', 'sam'] 3" in out and "4 1" in out, out
    assert "did you mean 'rho'?" in out and "3 () True" in out and "4 True" in out, out
    assert not (folder / "runs" / "notebook").exists(), "delete_sweep left the sweep's folder"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fresh", action="store_true", help="pip install . from the index (slow)")
    p.add_argument("--workdir", help="where to build (default: a new temporary folder)")
    args = p.parse_args(argv)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="samsweep-install-"))
    root.mkdir(parents=True, exist_ok=True)
    src, venv, work = copy_sources(root / "src"), root / "venv", root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    start = time.perf_counter()
    if args.fresh:
        step("python -m venv", [sys.executable, "-m", "venv", str(venv)], root)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        step("pip install . (with its dependencies)", [*pip, "install", "-q", str(src)], root)
        check_runs(venv, work, env)
        step("pip install -e .", [*pip, "install", "-q", "-e", str(src)], root)
    else:
        step("python -m venv --without-pip", [sys.executable, "-m", "venv", "--without-pip",
                                              str(venv)], root)
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
        step("pip wheel --no-deps", [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                                     "--no-build-isolation", "-w", str(root / "dist"), str(src)], root)
        (wheel,) = (root / "dist").glob("samsweep-*.whl")
        step(f"pip install --no-deps {wheel.name}", [*pip, "install", "-q", "--no-deps", "--no-index",
                                                     str(wheel)], root)
        requires = declared(wheel)
        print(f"ok: the wheel requires {len(requires)} packages: {', '.join(requires)}", flush=True)
        dists = dependency_closure(requires)
        n = link_dependencies(dists, root / "deps")
        (site_packages(venv / "bin" / "python") / "deps.pth").write_text(
            f"import site; site.addsitedir({str(root / 'deps')!r})\n")
        print(f"ok: {len(dists)} distributions needed by the declared dependencies ({n} entries "
              "linked)", flush=True)
        check_runs(venv, work, env)
        step("pip uninstall samsweep", [*pip, "uninstall", "-q", "-y", "samsweep"], root)
        step("pip install --no-deps -e", [*pip, "install", "-q", "--no-deps", "--no-build-isolation",
                                          "-e", str(src)], root)
    where = step("sweep --version (editable)", [str(venv / "bin" / "sweep"), "--version"], work, env)
    out = step("editable: samtrain imports from the copy", [str(venv / "bin" / "python"), "-c",
               "import samtrain.engine.loop; print(samtrain.__file__)"], work, env)
    assert out.strip().startswith(str(src)), out
    print(f"all ok in {time.perf_counter() - start:.0f} s ({where.strip()}, editable from {src})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
