"""scripts/readme_results.py: the README gets the demo's headline (table, test-score figure, a link
to the docs page), docs/demo-results.md everything (verdict, analysis, every figure); text outside
the markers stays as it was."""

from __future__ import annotations

import importlib.util
import shutil

from tests.support import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPORT = """# Report

| Method | test_acc |
|---|---|
| sgd | 0.70 |
| sam | 0.75 |

Not the table.

| other | table |

## Verdict

- sam beats sgd at equal epochs on test_acc: Δ = +0.05.

![test_scores](test_scores.png)

## Generalization vs forgetting and sharpness

| Diagnostic | τ |
|---|---|
| forget_events | 0.2 |
"""


def test_the_readme_gets_the_headline_and_the_docs_page_everything(tmp_path):
    script = _script()
    root, report = tmp_path / "repo", tmp_path / "report"
    (root / "docs").mkdir(parents=True)
    report.mkdir()
    shutil.copy(ROOT / "README.md", root / "README.md")
    shutil.copy(ROOT / "docs" / "demo-results.md", root / "docs" / "demo-results.md")
    (report / "report.md").write_text(REPORT)
    (report / "test_scores.png").write_bytes(b"png1")
    (report / "tradeoff.png").write_bytes(b"png2")
    before = (root / "README.md").read_text()

    script.main(str(report), "a test machine, today", root=root)

    readme = (root / "README.md").read_text()
    inner = readme.split(script.START, 1)[1].split(script.END, 1)[0]
    assert "Measured on a test machine, today" in inner
    assert "| sam | 0.75 |" in inner and "| other | table |" not in inner
    assert "Δ = +0.05" not in inner and "forget_events" not in inner
    assert "![test_scores](docs/demo_test_scores.png)" in inner and "tradeoff" not in inner
    assert "[docs/demo-results.md](docs/demo-results.md)" in inner
    assert readme.split(script.START)[0] == before.split(script.START)[0]
    assert readme.split(script.END)[1] == before.split(script.END)[1]

    page = (root / "docs" / "demo-results.md").read_text()
    full = page.split(script.START, 1)[1].split(script.END, 1)[0]
    assert "| sam | 0.75 |" in full and "- sam beats sgd at equal epochs" in full
    assert "| forget_events | 0.2 |" in full
    assert "![test_scores](demo_test_scores.png)" in full and "![tradeoff](demo_tradeoff.png)" in full
    assert (root / "docs" / "demo_tradeoff.png").read_bytes() == b"png2"


def test_the_committed_pages_agree_with_each_other():
    """The README's headline table is the docs page's table: both come from one report."""
    script = _script()

    def table(path):
        inner = path.read_text().split(script.START, 1)[1].split(script.END, 1)[0]
        return script.table(inner)

    assert table(ROOT / "README.md") == table(ROOT / "docs" / "demo-results.md") != ""
