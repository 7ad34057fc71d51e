"""The driver's provenance: the commit and dirty flag of the checkout that tracks a file, the
packages read without importing them, and the run tags made of it."""

import getpass
import importlib.metadata
import json
import shutil
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


def test_launch_environment_is_this_checkout_and_these_packages(monkeypatch):
    monkeypatch.chdir(ROOT)
    launch_environment.cache_clear()
    env = launch_environment()
    assert env["git_commit"] == git(ROOT, "rev-parse", "HEAD")
    assert env["git_dirty"] == bool(git(ROOT, "status", "--porcelain", "--untracked-files=no"))
    assert env["package"]["git_commit"] == env["git_commit"]  # this checkout is both
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert f"mlflow=={importlib.metadata.version('mlflow')}" in env["packages"]
    assert f"torch=={importlib.metadata.version('torch')}" in env["packages"]
    assert env["packages"] == sorted(env["packages"], key=str.lower)
    tags = provenance_tags(env)
    assert tags["mlflow.source.git.commit"] == tags["samsweep.git_commit"] == env["git_commit"]
    assert tags["git_dirty"] == str(env["git_dirty"]).lower()
    assert tags["mlflow.user"] == getpass.getuser()


def test_measuring_the_environment_imports_no_package():
    code = ("import sys; from sweeps.store.provenance import launch_environment; "
            "env = launch_environment(); print(len(env['packages']) > 20, "
            "sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(maxsplit=1) == ["True", "[]"]


def _user_repo(tmp_path):
    repo = tmp_path / "my-project"
    (repo / "studies").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "studies" / "mlp.yaml").write_text("name: mlp\n")
    git(repo, "add", "studies/mlp.yaml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return repo


def test_the_study_files_repository_is_the_project_and_the_package_is_recorded_beside_it(tmp_path):
    repo = _user_repo(tmp_path)
    head = git(repo, "rev-parse", "HEAD")
    env = launch_environment(str(repo / "studies" / "mlp.yaml"))
    assert env["project"] == {"git_commit": head, "git_dirty": False, "source": "studies/mlp.yaml"}
    assert env["package"]["git_commit"] == git(ROOT, "rev-parse", "HEAD")
    tags = provenance_tags(env)
    assert tags["mlflow.source.git.commit"] == head and tags["git_dirty"] == "false"
    assert tags["mlflow.source.name"] == "studies/mlp.yaml"
    assert tags["samsweep.git_commit"] == git(ROOT, "rev-parse", "HEAD")
    (repo / "studies" / "mlp.yaml").write_text("name: changed\n")
    launch_environment.cache_clear()
    assert launch_environment(str(repo / "studies" / "mlp.yaml"))["project"]["git_dirty"] is True
    assert str(tmp_path) not in json.dumps(env)  # no absolute path is recorded


INSTALLED = """
import json, sys
import mlflow
from sweeps.store.provenance import launch_environment, provenance_tags
from sweeps.store.writer import SweepWriter
from samtrain.config.train_config import TrainConfig
env = launch_environment(sys.argv[1])
uri = sys.argv[2]
w = SweepWriter(uri, "tiny", "id1")
w.open_parent(environment=env)
cfg = TrainConfig(epochs=2)
w.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(), environment=env)
mlflow.set_tracking_uri(uri)
# the README's "every run launched from one commit", as written there
sam = mlflow.search_runs(experiment_names=["tiny"], filter_string="tags.method = 'sam'")
commit = sam["tags.mlflow.source.git.commit"].iloc[0]
same_code = mlflow.search_runs(search_all_experiments=True,
                               filter_string=f"tags.`mlflow.source.git.commit` = '{commit}'")
print(json.dumps({"env": env, "tags": provenance_tags(env), "commit": commit,
                  "same": len(same_code)}))
"""


def test_an_installed_copy_records_the_users_commit_and_the_readme_snippet_finds_it(tmp_path):
    """Installed with pip, samsweep has no checkout: its version (here: the venv's install of this
    project, or none) and the user's project commit are what a run records."""
    site = tmp_path / "site"  # a copy outside any git repository, as in site-packages
    for package in ("sweeps", "samtrain"):
        shutil.copytree(ROOT / package, site / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    repo = _user_repo(tmp_path)
    out = subprocess.run([sys.executable, "-c", INSTALLED, "studies/mlp.yaml",
                          f"sqlite:///{tmp_path / 'mlflow.db'}"], cwd=repo,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site),
                              "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    head = git(repo, "rev-parse", "HEAD")
    assert got["env"]["package"]["git_commit"] is None  # no checkout holds the copy
    assert got["commit"] == head and got["same"] == 2  # parent and child, by the user's commit
    assert got["tags"]["mlflow.source.name"] == "studies/mlp.yaml"
    assert "samsweep.git_commit" not in got["tags"]
