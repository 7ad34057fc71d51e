"""The documentation: the MkDocs site builds with warnings as errors, README.md is a short front door
whose links resolve and which names every top-level module, and the pages generated at build time
(CLI reference, architecture, study format) cover what they must."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

MKDOCS = Path(sys.executable).parent / "mkdocs"
README = ROOT / "README.md"


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()


def test_the_site_builds_with_no_warning_and_holds_the_generated_pages(tmp_path):
    out = subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stderr, out.stderr
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "usage: sweep analyze" in cli and "<!-- generated:" not in cli
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "TrainConfig" in api and "load_study" in api and "run_sweep" in api
    arch = (tmp_path / "site" / "architecture" / "index.html").read_text()
    assert "sweeps.execution.search_phase" in arch


def _relative_links(markdown: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_readme_is_short_and_opens_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    assert [line.split("#")[0].strip() for line in lines[3:5]] == ["make demo", "make test"]


def test_every_relative_link_in_the_readme_resolves():
    links = _relative_links(README.read_text())
    assert len(links) >= 10  # the docs pages, RESULTS.md and the demo figure
    missing = [t for t in links if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not missing, missing


def test_the_link_check_catches_a_broken_link():
    links = _relative_links("[a](docs/nowhere.md) [b](https://example.org) [c](#top) ![d](docs/x.png)")
    assert links == ["docs/nowhere.md", "docs/x.png"]
    assert not (ROOT / links[0]).exists()


def _top_level(package: str) -> set[str]:
    names = {p.stem for p in (ROOT / package).glob("*.py") if not p.stem.startswith("__")}
    return names | {p.name for p in (ROOT / package).iterdir() if (p / "__init__.py").is_file()}


@pytest.mark.parametrize("package", hooks.PACKAGES)
def test_the_readme_names_every_top_level_module_and_subpackage(package):
    readme = README.read_text()
    unnamed = sorted(n for n in _top_level(package) if not re.search(rf"\b{n}\b", readme))
    assert not unnamed, f"README.md's Architecture section does not name {package}: {unnamed}"


def test_every_module_has_a_docstring_for_the_architecture_page():
    listed = [(name, hooks.docstring_summary(path)) for p in hooks.PACKAGES
              for name, path in hooks.modules(p)]
    assert len(listed) > 100
    assert [name for name, summary in listed if not summary] == []
    page = hooks.architecture()
    for name, summary in listed:
        assert f"`{name}`" in page and summary.replace("|", "\\|") in page, name


def test_the_cli_reference_holds_every_subcommand_as_argparse_prints_it(capsys):
    from sweeps.cli import build_parser

    parser = build_parser()
    subs = hooks.subcommands(parser)
    assert {"run", "resume", "status", "best", "train", "confirm", "report", "analyze"} <= set(subs)
    page = hooks.cli_reference()
    for name, sub in subs.items():
        assert f"### `sweep {name}`" in page
        assert hooks.help_text(sub) in page
        assert hooks.help_text(sub).startswith(f"usage: sweep {name}")
    assert page.count("### `sweep") == len(subs) + 1
    assert isinstance(parser, argparse.ArgumentParser)


def test_the_study_format_page_is_the_study_file_docstring():
    import sweeps.study.study_file as study_file

    block = hooks.study_format()
    assert block.startswith("```yaml\nname: ") and block.endswith("```")
    for line in block.splitlines()[1:-1]:
        assert f"    {line}".rstrip() in study_file.__doc__, line


def test_getting_started_shows_the_tiny_study_whole():
    page = (ROOT / "docs" / "getting-started.md").read_text()
    yamls = re.findall(r"```yaml\n(.*?)```", page, re.S)
    assert yamls == [(ROOT / "search_spaces" / "tiny.yaml").read_text()]


def test_expand_replaces_every_marker_and_leaves_other_text():
    text = "a\n<!-- generated:study-format -->\nb <!-- generated:nothing -->\n"
    out = hooks.expand(text)
    assert out.startswith("a\n```yaml\nname: ") and out.endswith("b <!-- generated:nothing -->\n")
