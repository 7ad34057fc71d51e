"""Bad shifted test sets on the command line: `sweep run` and `sweep train` exit 2 with one line
naming the key and the value, before Ray starts or anything is written (a missing folder, a
class map naming classes the folder or the training set lacks, an unknown corruption)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sweeps.cli import main

pytestmark = pytest.mark.before_local_ray  # stderr must hold exactly the one error line


class Reached(BaseException):
    """Bad input got past validation."""


def study(sets: str) -> str:
    return ("name: s\nbase: {dataset: digits, epochs: 1, batch_size: 64, eval_sets: " + sets
            + "}\nmethods:\n  sgd: {fixed: {perturbation: none}}\n")


CASES = [
    ("[{folder: nope}]", ("eval_sets.0.folder", "'nope'", "no such folder")),
    ("[{folder: sketch, class_map: {cat: 1, horse: 2}}]",
     ("eval_sets.0.class_map", "horse", "not in sketch")),
    ("[{folder: sketch, class_map: {cat: 12}}]", ("eval_sets.0.class_map", "10 classes (0..9)")),
    ("[{corruption: fog}]", ("eval_sets.0.corruption", "'fog'")),
    ("[{import: 'nosuchpkg.sets:build'}]", ("eval_sets.0.import", "nosuchpkg")),
]


@pytest.mark.parametrize("command", ["run", "train"])
@pytest.mark.parametrize("sets, words", CASES)
def test_bad_sets_exit_2_with_one_line_and_nothing_written(command, sets, words, tmp_path,
                                                           monkeypatch, capsys):
    import ray

    import sweeps.execution.runner

    def reached(*args, **kwargs):
        raise Reached(args)

    monkeypatch.setattr(ray, "init", reached)
    monkeypatch.setattr(sweeps.execution.runner, "connect_ray", reached)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sketch" / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "sketch" / "cat" / "0.png")
    if command == "run":
        (tmp_path / "s.yaml").write_text(study(sets))
    else:
        (tmp_path / "s.yaml").write_text(f"dataset: digits\nepochs: 1\neval_sets: {sets}\n")
    before = {p.relative_to(tmp_path) for p in Path(tmp_path).rglob("*")}
    code = main([command, "s.yaml", "--storage", "runs"])
    out, err = capsys.readouterr()
    assert code == 2 and not out and len(err.splitlines()) == 1, (out, err)
    assert all(w in err for w in words), err
    assert {p.relative_to(tmp_path) for p in Path(tmp_path).rglob("*")} == before
