"""Code blocks in the docs marked to run are run: a fenced block right after a `<!-- run -->` line.

A ```python block runs in a fresh interpreter from the repository root; a line
`print(...)  # EXPECTED` must print EXPECTED. A ```bash block may hold only `sweep ...` commands
(cheap ones: no sweep is started); each must exit 0. Blocks that start sweeps are run elsewhere
(tests/system/test_sweep_e2e.py runs the "Reading results in Python" block on a real sweep)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.support import ROOT

MARKED = re.compile(r"^<!-- run -->\n```(\w+)\n(.*?)^```", re.M | re.S)
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def marked_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of every block of `markdown` that follows a `<!-- run -->` line."""
    return MARKED.findall(markdown)


BLOCKS = [(page.relative_to(ROOT).as_posix(), i, lang, code) for page in PAGES
          for i, (lang, code) in enumerate(marked_blocks(page.read_text()))]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}


def test_blocks_are_found_and_only_marked_ones():
    text = "x\n<!-- run -->\n```python\nprint(1)  # 1\n```\n\n```python\nboom()\n```\n"
    assert marked_blocks(text) == [("python", "print(1)  # 1\n")]
    assert {lang for _, _, lang, _ in BLOCKS} == {"python", "bash"}
    assert len(BLOCKS) >= 3


def _expected(code: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)]


@pytest.mark.parametrize("page, index, lang, code", BLOCKS, ids=[f"{p}#{i}" for p, i, _, _ in BLOCKS])
def test_a_marked_block_runs(page, index, lang, code):
    if lang == "python":
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        printed = out.stdout.splitlines()
        assert printed[-len(_expected(code)):] == _expected(code) or not _expected(code), printed
        return
    assert lang == "bash", f"{page}: only python and bash blocks can be marked to run"
    commands = [line.split(" #", 1)[0].strip() for line in code.splitlines()]
    for command in filter(None, commands):
        argv = shlex.split(command)
        assert argv[0] == "sweep", f"{page}: a marked bash block runs only `sweep` commands"
        out = subprocess.run([sys.executable, "-m", "sweeps", *argv[1:]], cwd=ROOT, env=_env(),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (command, out.stderr[-2000:])
