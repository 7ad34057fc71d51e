"""MkDocs hook (mkdocs.yml `hooks:`): the pages that must not drift are generated at build time.

A page holds a marker line and the hook puts the generated Markdown in its place:

- `<!-- generated:cli -->`: every `sweep` subcommand's `--help`, from `sweeps.cli.build_parser`;
- `<!-- generated:architecture -->`: every package and module of samtrain/ and sweeps/ with the
  first paragraph of its docstring (read with `ast`, nothing imported);
- `<!-- generated:study-format -->`: the study-file format, from `sweeps.study.study_file`'s docstring;
- `<!-- generated:results -->`: benchmarks/RESULTS.md, its links made relative to docs/.

`tests/docs/test_site.py` imports these functions too; `mkdocs build --strict` runs them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("samtrain", "sweeps")
if str(ROOT) not in sys.path:  # `mkdocs` runs from the repository root without it on sys.path
    sys.path.insert(0, str(ROOT))


def docstring_summary(path: Path) -> str:
    """The first paragraph of a module's docstring on one line ("" when it has none), read
    without importing the module."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return " ".join(doc.strip().split("\n\n", 1)[0].split()) if doc else ""


def modules(package: str) -> list[tuple[str, Path]]:
    """(dotted name, file) of a package and everything under it, packages before their modules."""
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return sorted(out, key=lambda item: (item[0].split("."), item[1].name != "__init__.py"))


def architecture() -> str:
    """A Markdown table per package: each package and module with its docstring's first line."""
    lines = []
    for package in PACKAGES:
        lines += [f"### `{package}`", "", "| module | what it is |", "|---|---|"]
        for name, path in modules(package):
            shown = f"**`{name}`**" if path.name == "__init__.py" else f"`{name}`"
            what = docstring_summary(path).replace("|", "\\|")
            lines.append(f"| {shown} | {what} |")
        lines.append("")
    return "\n".join(lines)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of `parser`, in the order they were added."""
    for action in parser._actions:  # argparse (standard library) lists subparsers nowhere else
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def help_text(parser: argparse.ArgumentParser) -> str:
    """What `--help` prints, at a fixed width so the page does not depend on the terminal."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
        parser.print_help()
    return out.getvalue().rstrip()


def cli_reference() -> str:
    """`sweep --help` and each subcommand's `--help`, each under its own heading."""
    from sweeps.cli import build_parser

    parser = build_parser()
    parts = ["### `sweep`", "", "```text", help_text(parser), "```", ""]
    for name, sub in subcommands(parser).items():
        parts += [f"### `sweep {name}`", "", "```text", help_text(sub), "```", ""]
    return "\n".join(parts)


def study_format() -> str:
    """The format section of `sweeps.study.study_file`'s docstring, as a YAML block."""
    doc = ast.get_docstring(ast.parse((ROOT / "sweeps/study/study_file.py").read_text()))
    body = doc.split("::", 1)[1].split("\n\n", 2)[1]
    yaml = "\n".join(line[4:] for line in body.splitlines())
    return f"```yaml\n{yaml}\n```"


def results() -> str:
    """benchmarks/RESULTS.md without its title, its `../docs/` links made relative to docs/."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).replace("](../docs/", "](")


GENERATORS = {"cli": cli_reference, "architecture": architecture,
              "study-format": study_format, "results": results}


def expand(markdown: str) -> str:
    """`markdown` with every `<!-- generated:NAME -->` line replaced by its generator's output."""
    for name, generate in GENERATORS.items():
        marker = f"<!-- generated:{name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown


def on_page_markdown(markdown: str, **_: object) -> str:
    """MkDocs event: runs on every page's Markdown before it is rendered."""
    return expand(markdown)
