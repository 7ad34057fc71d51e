"""The driver's provenance: the commit and dirty flag of the checkout that tracks a file, the
packages read without importing them, and the run tags made of it."""

import importlib.metadata
import subprocess
import sys

from sweeps.store.provenance import git_state, launch_environment, provenance_tags
from tests.support import ROOT


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_commit_and_dirty_flag_of_the_checkout_tracking_a_file(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = git(repo, "rev-parse", "HEAD")
    assert git_state(repo / "code.py") == (head, False)
    (repo / "notes.txt").write_text("untracked files do not make it dirty")
    assert git_state(repo / "code.py") == (head, False)
    (repo / "code.py").write_text("x = 2\n")
    assert git_state(repo / "code.py") == (head, True)
    assert git_state(repo / "notes.txt") == (None, None)   # not tracked: not this checkout's code
    (tmp_path / "loose.py").write_text("")
    assert git_state(tmp_path / "loose.py") == (None, None)  # no checkout at all


def test_launch_environment_is_this_checkout_and_these_packages():
    env = launch_environment()
    assert env["git_commit"] == git(ROOT, "rev-parse", "HEAD")
    assert env["git_dirty"] == bool(git(ROOT, "status", "--porcelain", "--untracked-files=no"))
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert f"mlflow=={importlib.metadata.version('mlflow')}" in env["packages"]
    assert f"torch=={importlib.metadata.version('torch')}" in env["packages"]
    assert env["packages"] == sorted(env["packages"], key=str.lower)
    assert provenance_tags(env) == {"mlflow.source.git.commit": env["git_commit"],
                                    "git_dirty": str(env["git_dirty"]).lower()}


def test_measuring_the_environment_imports_no_package():
    code = ("import sys; from sweeps.store.provenance import launch_environment; "
            "env = launch_environment(); print(len(env['packages']) > 20, "
            "sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(maxsplit=1) == ["True", "[]"]
