"""`sweep status` and `sweep best`: progress per method and phase, each method's best with its
standard error and the configs within one SE of it; `best` prints YAML `sweep train` reads."""

from __future__ import annotations

import math

import yaml

from samtrain.config.train_config import TrainConfig
from sweeps.report.status import best_config_yaml, format_status
from sweeps.study.study_file import parse_study

STUDY = parse_study("""name: s
budget: 3
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}, obf_C: 10}}
""")
SE = math.sqrt(0.5 * 0.5 / 2000)


def _records(r):
    t = iter(range(100))
    n = {"val_examples": 2000}
    return [r("sgd", "search", "completed", 0, {"perturbation": "none"}, {"val_acc": 0.45, **n}, next(t)),
            r("sam", "search", "completed", 0, {"rho": 0.05}, {"val_acc": 0.50, **n}, next(t)),
            r("sam", "search", "completed", 0, {"rho": 0.1}, {"val_acc": 0.50 - SE / 2, **n}, next(t)),
            r("sam", "search", "completed", 0, {"rho": 0.2}, {"val_acc": 0.45, **n}, next(t)),
            r("sam", "search", "pruned", 0, {"rho": 0.4}, {"val_acc": 0.3}, next(t), reached=1)]


def test_status_counts_trials_and_shows_the_best_with_its_noise(make_record):
    text = format_status(STUDY, "s", _records(make_record))
    assert "  sgd          search   1/1: completed 1" in text
    assert "  sam          search   4/3: completed 3, pruned 1" in text
    assert f"  sam          val_acc=0.5000 ± {SE:.4g} (n=1) rho=0.05; 2 of 3 config(s) within 1 SE" in text
    assert "  sgd          val_acc=0.4500 ± " in text and "1 of 1 config(s) within 1 SE" in text


def test_best_lists_the_indistinguishable_configs_in_comments_and_stays_train_yaml(make_record):
    text = best_config_yaml(STUDY, "s", _records(make_record), "sam")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert comments[0].startswith(f"# best sam config of sweep 's': val_acc=0.5000 ± {SE:.4g} (SE;")
    assert "2 of 3 sam config(s) within 1 SE" in comments[1]
    assert comments[2:4] == ["#   rho=0.05: 0.5000 (n=1)", f"#   rho=0.1: {0.5 - SE / 2:.4f} (n=1)"]
    cfg = TrainConfig(**yaml.safe_load(text))
    assert cfg.rho == 0.05 and cfg.group_key() == _records(make_record)[1].group_key


def test_best_pareto_lists_exactly_the_non_dominated_configs(make_record):
    from sweeps.report.pareto_listing import pareto_text

    r = make_record
    records = [r("sgd", "search", "completed", 0, {"perturbation": "none"}, {"val_acc": 0.45}, 1),
               r("sam", "search", "completed", 0, {"rho": 0.05}, {"val_acc": 0.50}, 2),
               r("sam", "search", "completed", 0, {"rho": 0.2}, {"val_acc": 0.44}, 3)]
    text = pareto_text(STUDY, "s", records)
    lines = text.splitlines()
    assert lines[0] == ("# sweep 's': 2 non-dominated config(s) over val_acc (max), grad_evals "
                        "(min) (means over completed full-length search runs)")
    assert lines[1].startswith("sam: rho=0.05; val_acc=0.5, grad_evals=600 (n=1")
    assert lines[2].startswith("sgd: -; val_acc=0.45, grad_evals=300 (n=1")
    assert len(lines) == 3    # sam rho=0.2: less accurate than rho=0.05 at the same compute


def test_best_prints_the_searched_keys_and_the_studys_values_and_all_with_full(make_record):
    records = _records(make_record)
    short = best_config_yaml(STUDY, "s", records, "sam")
    body = [line for line in short.splitlines() if not line.startswith("#")]
    winner = TrainConfig(**yaml.safe_load(short))
    default = TrainConfig().model_dump(mode="json")
    # rho (searched) first, then exactly the fields whose value differs from the default
    assert body[0] == "rho: 0.05"
    expected = {k for k, v in winner.model_dump(mode="json").items() if v != default[k]} - {"rho"}
    assert {line.split(":")[0] for line in body[1:]} == expected
    assert "synthetic_shape" not in short and "data_dir" not in short
    full = best_config_yaml(STUDY, "s", records, "sam", full=True)
    assert set(yaml.safe_load(full)) == set(TrainConfig.model_fields)
    assert TrainConfig(**yaml.safe_load(full)) == winner
