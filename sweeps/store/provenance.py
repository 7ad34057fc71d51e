"""Where a run came from: the commit of the code that launched it, and the launching environment.

Measured in the driver, once per process (`launch_environment`): the git commit of the checkout
that holds this `sweeps` package and whether its tracked files differ from that commit (`dirty`),
the Python version, the platform, and every installed distribution as `name==version` (read with
`importlib.metadata`: nothing is imported, so the driver never loads torch). `SweepWriter` records
it on every run it creates: tags `mlflow.source.git.commit` (MLflow's own, shown in its UI) and
`git_dirty`, and the whole dict as the artifact `environment.json`. What a training process runs
on (torch, its CUDA build, the device) is measured there, and recorded as run params
(`samtrain.worker_context.runtime_facts`). No environment variable, remote URL or path is
recorded, so no credential can leak through it.

Example:
    >>> env = launch_environment()
    >>> sorted(env)
    ['git_commit', 'git_dirty', 'packages', 'platform', 'python']
    >>> any(p.startswith("mlflow==") for p in env["packages"])
    True
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from sweeps.store.schema import Tag

__all__ = ["git_state", "git_commit", "launch_environment", "provenance_tags"]

_PACKAGE_FILE = Path(__file__).resolve().parent.parent / "__init__.py"  # sweeps/__init__.py


def git_state(tracked_file: str | Path = _PACKAGE_FILE) -> tuple[str | None, bool | None]:
    """`(commit, dirty)` of the git checkout that tracks `tracked_file`; `(None, None)` when no
    checkout tracks it (an installed copy, no git). `dirty`: a tracked file differs from the commit
    (untracked files, such as `runs/` or `mlflow.db`, do not count)."""
    path = Path(tracked_file).resolve()

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True,
                              timeout=10)

    try:
        if git("ls-files", "--error-unmatch", path.name).returncode != 0:
            return None, None
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None, None
    if commit.returncode != 0 or status.returncode != 0:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


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


@functools.cache
def launch_environment() -> dict[str, Any]:
    """The launching process's commit, dirty flag, Python, platform and packages (JSON-safe)."""
    commit, dirty = git_state()
    return {"git_commit": commit, "git_dirty": dirty, "python": platform.python_version(),
            "platform": platform.platform(), "packages": _packages()}


def provenance_tags(environment: dict[str, Any]) -> dict[str, str]:
    """The run tags of `environment`: the commit and dirty flag, when known.

    >>> provenance_tags({"git_commit": "ab12", "git_dirty": False})
    {'mlflow.source.git.commit': 'ab12', 'git_dirty': 'false'}
    >>> provenance_tags({"git_commit": None, "git_dirty": None})
    {}
    """
    tags = {}
    if environment.get("git_commit"):
        tags[Tag.GIT_COMMIT.value] = str(environment["git_commit"])
    if environment.get("git_dirty") is not None:
        tags[Tag.GIT_DIRTY.value] = str(bool(environment["git_dirty"])).lower()
    return tags
