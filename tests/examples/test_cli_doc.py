"""docs/cli.md: every `sweep` command it shows parses, and its "Mistakes" transcript is what
`sweep` prints (run here, the home folder standing for the test's)."""

import re
import shlex

import pytest

from sweeps.api import example_text
from sweeps.cli import build_parser, main
from tests.support import ROOT

DOC = (ROOT / "docs" / "cli.md").read_text()


def shown_commands() -> list[list[str]]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", DOC, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].split(" > ", 1)[0].strip()
            if line.startswith("sweep "):
                lines.append(shlex.split(line)[1:])
    return lines


@pytest.mark.parametrize("argv", shown_commands(), ids=" ".join)
def test_every_command_the_page_shows_parses(argv):
    build_parser().parse_args(argv)


def test_the_mistakes_transcript_is_what_sweep_prints(tmp_path, monkeypatch, capsys):
    from tests.system.test_cli_errors import _fake_sweep

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEP_STORAGE", raising=False)
    (tmp_path / "study.yaml").write_text(example_text("tiny"))
    _fake_sweep(tmp_path, "tiny")
    transcript = DOC.split("## Mistakes", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    pairs = re.findall(r"^\$ (sweep .*)\n(.*)$", transcript, re.M)
    assert len(pairs) == 3
    for command, said in pairs:
        assert main(shlex.split(command)[1:]) == 2
        err = capsys.readouterr().err.replace(str(tmp_path), "/home/me")
        assert err == said + "\n", (command, err)
