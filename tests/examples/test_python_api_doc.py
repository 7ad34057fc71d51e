"""docs/python_api.md is a notebook: its Python blocks, run in order in one namespace in a fresh
folder, build, run, confirm, read, report, list and delete a sweep. They run as one script of
the installed wheel (scripts/check_install.py, from tests/system/test_packaging.py); here: the
page holds every step."""

import re

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
