"""Where a run came from: the user's project and this package, at their commits, and the launching
environment.

Measured in the driver, once per process and project (`launch_environment`):

- the user's **project**: the git repository holding the study file (or, without one, the working
  directory): its commit and whether its tracked files differ from it (`dirty`), and the study
  file's path inside it (`source`);
- this **package**, samsweep: its installed version (None when it is not installed) and, when it
  runs from a git checkout (a clone, an editable install), that checkout's commit and dirty flag;
- the user name, the Python version, the platform and every installed distribution as
  `name==version` (read with `importlib.metadata`: nothing is imported, so the driver never
  loads torch).

`SweepWriter` records it on every run it creates as tags (`provenance_tags`):
`mlflow.source.git.commit` and `git_dirty` (the project's commit, else the package checkout's:
MLflow's own code-version tag, shown in its UI), `mlflow.source.name`, `mlflow.user`,
`samsweep.version` and `samsweep.git_commit`/`samsweep.git_dirty` (when known), and the whole dict
as the artifact `environment.json`. What a training process runs on (torch, its CUDA build, the
device) is measured there, and recorded as run params (`samtrain.engine.worker_context.runtime_facts`).
No environment variable, remote URL or absolute path is recorded, so no credential can leak
through it.

Example:
    >>> env = launch_environment()
    >>> sorted(env)  # doctest: +NORMALIZE_WHITESPACE
    ['git_commit', 'git_dirty', 'package', 'packages', 'platform', 'project', 'python',
     'source_name', 'user']
    >>> env["package"]["name"], any(p.startswith("mlflow==") for p in env["packages"])
    ('samsweep', True)
"""

from __future__ import annotations

import functools
import getpass
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from sweeps.store.schema import Tag

__all__ = ["git_state", "repo_state", "git_commit", "launch_environment", "provenance_tags",
           "PACKAGE"]

PACKAGE = "samsweep"
_PACKAGE_FILE = Path(__file__).resolve().parent.parent / "__init__.py"  # sweeps/__init__.py


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None


def _head_and_dirty(cwd: Path) -> tuple[str | None, bool | None]:
    commit = _git(cwd, "rev-parse", "HEAD")
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None or commit.returncode or status.returncode:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


def git_state(tracked_file: str | Path = _PACKAGE_FILE) -> tuple[str | None, bool | None]:
    """`(commit, dirty)` of the git checkout that tracks `tracked_file`; `(None, None)` when no
    checkout tracks it (an installed copy, no git). `dirty`: a tracked file differs from the commit
    (untracked files, such as `runs/` or `mlflow.db`, do not count)."""
    path = Path(tracked_file).resolve()
    found = _git(path.parent, "ls-files", "--error-unmatch", path.name)
    if found is None or found.returncode != 0:
        return None, None
    return _head_and_dirty(path.parent)


def repo_state(path: str | Path) -> dict[str, Any]:
    """The git repository holding `path` (a file, tracked or not, or a folder): its `git_commit`,
    `git_dirty`, and `source`, `path` relative to the repository's top (all None outside one)."""
    p = Path(path).resolve()
    folder = p if p.is_dir() else p.parent
    top = _git(folder, "rev-parse", "--show-toplevel") if folder.is_dir() else None
    if top is None or top.returncode != 0:
        return {"git_commit": None, "git_dirty": None, "source": None}
    commit, dirty = _head_and_dirty(folder)
    source = None if p.is_dir() else p.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    return {"git_commit": commit, "git_dirty": dirty, "source": source}


def git_commit() -> str:
    """The commit of the code running now ("unknown" outside a git checkout)."""
    return git_state()[0] or "unknown"


def _packages() -> list[str]:
    names = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            names.add(f"{name}=={dist.version}")
    return sorted(names, key=str.lower)


def _package() -> dict[str, Any]:
    try:
        version: str | None = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    commit, dirty = git_state()
    return {"name": PACKAGE, "version": version, "git_commit": commit, "git_dirty": dirty}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return None


@functools.cache
def launch_environment(source: str | None = None) -> dict[str, Any]:
    """The launching process's provenance (JSON-safe): `project` (the repository of the study file
    `source`, else of the working directory), `package` (samsweep's version and checkout),
    `git_commit`/`git_dirty` (the project's, else the package checkout's), `source_name`,
    `user`, Python, platform and packages."""
    project = repo_state(source if source is not None else Path.cwd())
    package = _package()
    mine = project if project["git_commit"] else package
    command = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1].isidentifier() else None
    name = project["source"] or (Path(source).name if source else None) or \
        " ".join(w for w in ("sweep", command) if w)
    return {"git_commit": mine["git_commit"], "git_dirty": mine["git_dirty"], "source_name": name,
            "user": _user(), "project": project, "package": package,
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": _packages()}


def provenance_tags(environment: dict[str, Any]) -> dict[str, str]:
    """The run tags of `environment`: what of it is known.

    >>> provenance_tags({"git_commit": "ab12", "git_dirty": False, "user": "ada",
    ...                  "source_name": "studies/mlp.yaml", "package": {"version": "0.1.0"}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'mlflow.source.git.commit': 'ab12', 'git_dirty': 'false', 'mlflow.source.name':
     'studies/mlp.yaml', 'mlflow.user': 'ada', 'samsweep.version': '0.1.0'}
    >>> provenance_tags({"git_commit": None, "git_dirty": None})
    {}
    """
    package = environment.get("package") or {}
    values = {Tag.GIT_COMMIT: environment.get("git_commit"),
              Tag.GIT_DIRTY: environment.get("git_dirty"),
              Tag.SOURCE_NAME: environment.get("source_name"),
              Tag.USER: environment.get("user"),
              Tag.PACKAGE_VERSION: package.get("version"),
              Tag.PACKAGE_COMMIT: package.get("git_commit"),
              Tag.PACKAGE_DIRTY: package.get("git_dirty")}
    return {k.value: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in values.items() if v is not None and v != ""}
