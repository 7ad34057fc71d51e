"""`sweep transfer`'s plan on hand-built records and folders: each confirmed run's final checkpoint
found (in-process and multi-worker layouts), the cells (lr search first, then every source with
the chosen lr), and the one-line refusals (no block, no confirm run, a checkpoint gone)."""

from __future__ import annotations

import pytest

from sweeps.errors import SweepError
from sweeps.execution.transfer import final_checkpoint, lr_cells, transfer_cells, transfer_plan
from sweeps.store.sweep_dir import SweepDir
from sweeps.study.study_file import parse_study

TEXT = """name: s
base: {dataset: digits, epochs: 2}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {fixed: {perturbation: ascent, rho: 0.05}}
"""
BLOCK = """transfer:
  target: {dataset: digits, train_subset: 100}
  recipe: {epochs: 1, perturbation: none}
  lr_grid: [0.01, 0.1]
"""
CFG = {"sgd": {"perturbation": "none"}, "sam": {"perturbation": "ascent", "rho": 0.05}}


def _confirmed(make_record, methods=("sgd", "sam")):
    out, t = [], iter(range(100))
    for m in methods:
        out.append(make_record(m, "search", "completed", 0, CFG[m], {"val_acc": 0.5}, next(t), epochs=2))
        out += [make_record(m, "confirm", "completed", s, CFG[m], {"val_acc": 0.5, "test_acc": 0.5},
                            next(t), epochs=2) for s in (1, 2)]
    return out


def _checkpoints(root, records, multi_worker=()):
    for r in records:
        if r.phase != "confirm":
            continue
        for epoch in (1, 2):
            d = (root / "train" / f"confirm-0-train-{r.trial_id}" / "TorchTrainer_x" if r.method in
                 multi_worker else root / "confirm-0" / f"{r.method}-{r.trial_id}")
            (d / f"checkpoint_{epoch:06d}").mkdir(parents=True)
            (d / f"checkpoint_{epoch:06d}" / "state.pt").write_bytes(b"")


def test_the_final_checkpoint_of_each_layout_is_found(make_record, tmp_path):
    records = _confirmed(make_record)
    _checkpoints(tmp_path, records, multi_worker=("sam",))
    d = SweepDir(tmp_path)
    for r in records[1:3] + records[4:]:
        path = final_checkpoint(d, r)
        assert path.parent.name == "checkpoint_000002" and r.trial_id in str(path), path
    assert final_checkpoint(d, records[0]) is None  # a search run: not kept for transfer


def test_the_cells_search_the_lr_once_then_run_every_source_with_it(make_record, tmp_path):
    study = parse_study(TEXT + BLOCK)
    records = _confirmed(make_record)
    _checkpoints(tmp_path, records)
    plan = transfer_plan(study, records, SweepDir(tmp_path))
    assert [(s.method, s.seed) for s in plan.sources] == [("sgd", 1), ("sgd", 2), ("sam", 1), ("sam", 2)]
    assert (plan.reference.method, plan.reference.seed) == ("sgd", 1)
    lr = lr_cells(plan, records)
    assert [(m, c.lr, c.seed, ph) for m, c, ph in lr] == [("sgd", 0.01, 1, "transfer-lr"),
                                                          ("sgd", 0.1, 1, "transfer-lr")]
    assert transfer_cells(plan, records) == []  # the lr is not chosen yet
    done = [make_record("sgd", "transfer-lr", "completed", 1,
                        c.model_dump(exclude={"seed", "epochs", "dataset"}), {"val_acc": v}, 50 + i,
                        epochs=1) for i, ((_, c, _), v) in enumerate(zip(lr, (0.3, 0.4), strict=True))]
    assert done[0].group_key == lr[0][1].group_key()
    assert lr_cells(plan, records + done) == []
    cells = transfer_cells(plan, records + done)
    assert len(cells) == 4 and {c.lr for _, c, _ in cells} == {0.1}
    for (m, c, ph), s in zip(cells, plan.sources, strict=True):
        assert (m, c.seed, c.data_seed, ph) == (s.method, s.seed, s.seed, "transfer")
        assert c.init_from == str(s.checkpoint) and c.init_new_head and c.train_subset == 100
        assert c.model == "small_cnn" and c.epochs == 1 and c.perturbation == "none"


def test_refusals_name_what_is_missing(make_record, tmp_path):
    records = _confirmed(make_record, methods=("sgd",))
    with pytest.raises(SweepError, match=r"^transfer: the study of sweep 's' has no `transfer:` block"):
        transfer_plan(parse_study(TEXT), records, SweepDir(tmp_path))
    with pytest.raises(SweepError, match=r"^sweep 's': method 'sam' has no completed confirm run to "
                                         r"fine-tune; run `sweep confirm s` first$"):
        transfer_plan(parse_study(TEXT + BLOCK), records, SweepDir(tmp_path))
    records = _confirmed(make_record)
    with pytest.raises(SweepError, match=r"the final checkpoint of confirm run run-1 \(sgd, seed 1"):
        transfer_plan(parse_study(TEXT + BLOCK), records, SweepDir(tmp_path))
