"""What a pip user does outside the repository, checked in the installed venv by `check_install.py`.

- `check_project_run`: the user's own project, a git repository with one commit holding a
  `sweep train` config, trains from there; MLflow's run then carries that repository's commit and
  dirty flag (`mlflow.source.git.commit`, `git_dirty`), `mlflow.source.name`, `mlflow.user`, the
  installed version (`samsweep.version`) and no samsweep commit (a wheel has none), and
  docs/mlflow.md's "every run launched from one commit" block finds the run, run as written.
- `check_doc_blocks`: every block of docs/ marked `<!-- run -->` (the blocks
  `tests/docs/test_code_blocks.py` runs from the checkout) runs in the installed venv, from a folder
  outside the repository, after the one step the docs give a pip user (`sweep example tiny >
  search_spaces/tiny.yaml`); those that make no sense there are skipped by `NOT_FOR_PIP_USERS`.

Example (from `check_install.py`, with its venv and environment):
    step("sweep --version", [str(venv / "bin" / "sweep"), "--version"], work, env)
    check_project_run(venv, work / "project", env, version="0.1.0")
    check_doc_blocks(venv, work / "docs", env)
"""

from __future__ import annotations

import getpass
import json
import re
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = "dataset: digits\nmodel: small_cnn\nepochs: 1\nbatch_size: 64\nlr: 0.05\n"
NAME = "tiny"  # the run's name (MLflow experiment): the one docs/mlflow.md's block searches
MARKED = re.compile(r"^<!-- run -->\n```(\w+)\n(.*?)^```", re.M | re.S)  # as test_code_blocks
NOT_FOR_PIP_USERS = {  # page: why its marked blocks are not run in the installed venv
    "docs/writing-docs.md": "a maintainer's page: its block shows the marker's syntax",
}
RUN_TAGS = """
import json, mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
(run,) = mlflow.search_runs(experiment_names=[{name!r}], output_format="list")
env = mlflow.artifacts.load_dict(run.info.artifact_uri + "/environment.json")
print(json.dumps({{"tags": run.data.tags, "project": env["project"], "package": env["package"]}}))
"""


def step(what: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 1800) -> str:
    """Run `cmd`; print `ok: what (N s)` and return its stdout, or exit with its output."""
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"FAILED: {what} (exit {out.returncode}, {took:.1f} s)\n"
                         f"stdout: {out.stdout[-3000:]}\nstderr: {out.stderr[-3000:]}")
    print(f"ok: {what} ({took:.1f} s)", flush=True)
    return out.stdout


def make_project(folder: Path) -> str:
    """A git repository standing for the user's project: `digits.yaml` in one commit (made without
    a configured git identity); returns its HEAD."""
    folder.mkdir(parents=True)
    (folder / "digits.yaml").write_text(TRAIN_CONFIG)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("add", "digits.yaml")
    git("-c", "user.name=A pip user", "-c", "user.email=user@example.org", "commit", "-qm",
        "my project: a digits config")
    return git("rev-parse", "HEAD")


def check_project_run(venv: Path, folder: Path, env: dict[str, str], version: str) -> None:
    """`sweep train` from the user's git project; its MLflow run's provenance; docs/mlflow.md's
    "every run launched from one commit" block, run as written from the project."""
    head = make_project(folder)
    python = str(venv / "bin" / "python")
    out = step("sweep train digits.yaml (1 epoch, in a git project)",
               [str(venv / "bin" / "sweep"), "train", "digits.yaml", "--name", NAME, "--storage",
                "runs", "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"], folder, env)
    assert "final: epoch 1 status completed" in out, out
    found = json.loads(step("the run's provenance (mlflow.search_runs)",
                            [python, "-c", RUN_TAGS.format(name=NAME)], folder, env))
    tags = found["tags"]
    expected = {"mlflow.source.git.commit": head, "git_dirty": "false",  # runs/, mlflow.db: untracked
                "mlflow.source.name": "sweep train", "mlflow.user": getpass.getuser(),
                "samsweep.version": version}
    assert {k: tags.get(k) for k in expected} == expected, (expected, tags)
    assert not {"samsweep.git_commit", "samsweep.git_dirty"} & set(tags), tags  # a wheel: no commit
    assert found["project"] == {"git_commit": head, "git_dirty": False, "source": None}, found
    assert found["package"] == {"name": "samsweep", "version": version, "git_commit": None,
                                "git_dirty": None}, found
    snippet = _block_under(ROOT / "docs" / "mlflow.md", "## Finding runs by code version")
    check = (f"\nassert commit == {head!r}, commit\n"
             "assert list(same_code.run_id) == list(runs.run_id), (same_code, runs)\n"
             "print(len(same_code), 'run(s) of commit', commit)\n")
    out = step("docs/mlflow.md: every run launched from one commit", [python, "-c", snippet + check],
               folder, env)
    print(f"   {out.strip()}: the project's HEAD; samsweep {version}, no samsweep commit", flush=True)


def _block_under(page: Path, heading: str) -> str:
    """The first ```python block after `heading` in `page`."""
    text = page.read_text()
    assert heading in text, f"{page.name}: no {heading!r}"
    return re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S).group(1)


def marked_blocks() -> list[tuple[str, int, str, str]]:
    """`(page, index, language, code)` of every block of docs/ after a `<!-- run -->` line."""
    return [(page.relative_to(ROOT).as_posix(), i, lang, code)
            for page in sorted((ROOT / "docs").rglob("*.md"))
            for i, (lang, code) in enumerate(MARKED.findall(page.read_text()))]


def expected_prints(code: str) -> list[str]:
    """What the lines `print(...)  # EXPECTED` of `code` must print, in order."""
    return [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)]


def check_doc_blocks(venv: Path, folder: Path, env: dict[str, str]) -> None:
    """docs/'s marked blocks in the installed venv, from `folder` (outside the repository)."""
    sweep, python = str(venv / "bin" / "sweep"), str(venv / "bin" / "python")
    (folder / "search_spaces").mkdir(parents=True)
    tiny = step("sweep example tiny > search_spaces/tiny.yaml", [sweep, "example", "tiny"], folder, env)
    (folder / "search_spaces" / "tiny.yaml").write_text(tiny)
    ran = skipped = 0
    for page, index, lang, code in marked_blocks():
        if page in NOT_FOR_PIP_USERS:
            print(f"skipped: {page}#{index} ({NOT_FOR_PIP_USERS[page]})", flush=True)
            skipped += 1
            continue
        if lang == "python":
            out = step(f"{page}#{index} (python)", [python, "-c", code], folder, env)
            wanted = expected_prints(code)
            assert not wanted or out.splitlines()[-len(wanted):] == wanted, (page, wanted, out)
        else:
            assert lang == "bash", f"{page}#{index}: only python and bash blocks can run"
            for command in filter(None, (line.split(" #", 1)[0].strip() for line in code.splitlines())):
                argv = shlex.split(command)
                assert argv[0] == "sweep", f"{page}#{index}: a marked bash block runs only `sweep`"
                step(f"{page}#{index}: {command}", [sweep, *argv[1:]], folder, env, timeout=120)
        ran += 1
    assert ran, "no marked block of docs/ ran"
    print(f"ok: {ran} marked docs blocks ran in the installed venv ({skipped} skipped)", flush=True)
