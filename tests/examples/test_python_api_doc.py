"""docs/python_api.md is a notebook: its Python blocks, run in order in one namespace in a fresh
folder, build, run, confirm, read, report, list and delete a sweep."""

import re

import pytest

from tests.support import ROOT

DOC = ROOT / "docs" / "python_api.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_the_notebooks_steps():
    text = "\n".join(python_blocks())
    for call in ("study_from_dict(", "study_from_file(", "run_study(", "Sweep.open(",
                 "runs_dataframe()", "winners()", "confirm(", "rows()", "report()", "list_sweeps(",
                 "delete_sweep("):
        assert call in text, call


@pytest.mark.ray
def test_the_python_api_page_runs_top_to_bottom(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEP_STORAGE", raising=False)
    namespace: dict = {}
    for i, block in enumerate(python_blocks()):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "notebook ['sgd', 'sam'] 3" in out and "4 1" in out
    assert "did you mean 'rho'?" in out and "3 () True" in out and "4 True" in out
    assert not (tmp_path / "runs" / "notebook").exists()
