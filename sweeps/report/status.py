"""`sweep status` and `sweep best`: a sweep's progress and winners, read back from MLflow.

The winner of each method is `sweeps.results.selection`'s (the same as `confirm` and `report` use).

Example:
    print(format_status(study, "tiny", records))
    print(best_config_yaml(study, "tiny", records, method="sam"))  # full=True: every field
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import yaml

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SweepError
from sweeps.results.noise import noisy_best
from sweeps.results.rows import searched_keys
from sweeps.results.selection import rank_configs
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, train_config_of
from sweeps.study.spec import StudySpec


def format_status(study: StudySpec, name: str, records: Sequence[RunRecord]) -> str:
    """Trials by state (per method and phase) and the winner so far per method."""
    lines = [f"sweep {name!r}: {len(records)} runs; metric {study.metric} ({study.mode}) on the "
             "validation split"]
    counts = Counter((r.method, r.phase, r.status) for r in records)
    for method in study.methods:
        for phase in (Phase.SEARCH, Phase.CONFIRM, Phase.TRANSFER):
            by_state = {s: n for (m, p, s), n in counts.items() if m == method and p == phase}
            if by_state or phase == Phase.SEARCH:
                expected = f"/{study.trials_of(method)}" if phase == Phase.SEARCH else ""
                done = sum(by_state.values())
                states = ", ".join(f"{s} {n}" for s, n in sorted(by_state.items())) or "none yet"
                lines.append(f"  {method:<12} {phase!s:<8} {done}{expected}: {states}")
    lines.append("best so far (mean over completed full-length search runs; ± its standard "
                 "error; configs within 1 SE of it):")
    best = noisy_best(records, study.metric, study.mode)
    for method in study.methods:
        if method not in best:
            lines.append(f"  {method:<12} -")
            continue
        nb, keys = best[method], searched_keys(study, method)
        s = nb.best
        shown = ", ".join(f"{k}={short_value(s.params.get(k))}" for k in keys)
        lines.append(f"  {method:<12} {study.metric}={s.score:.4f} ± {short_value(nb.se)} (n={s.n}) "
                     f"{shown}; {len(nb.indistinguishable)} of {nb.n_configs} config(s) within 1 SE")
    return "\n".join(lines)


def short_value(v: object) -> str:
    """A value as the listings show it: a float to 4 significant digits (nan as n/a)."""
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.4g}"
    return repr(v)


def config_yaml(cfg: TrainConfig, searched: Sequence[str], full: bool = False) -> str:
    """`cfg` as TrainConfig YAML: the `searched` keys, then every other field whose value is not
    its default (what the study chose); `full`: every field. Both read back as `cfg`.

    >>> print(config_yaml(TrainConfig(rho=0.1, epochs=3), ["rho"]), end="")
    # searched
    rho: 0.1
    # set by the study (every other field has its default; `sweep best --all` lists them)
    epochs: 3
    """
    values = cfg.model_dump(mode="json")
    if full:
        return yaml.safe_dump(values, sort_keys=False)
    default = TrainConfig().model_dump(mode="json")
    chosen = {k: v for k, v in values.items() if k not in searched and v != default[k]}
    text = "# searched\n" + yaml.safe_dump({k: values[k] for k in searched}, sort_keys=False) \
        if searched else ""
    note = "# set by the study (every other field has its default; `sweep best --all` lists them)\n"
    return text + note + (yaml.safe_dump(chosen, sort_keys=False) if chosen else "")


def best_config_yaml(study: StudySpec, name: str, records: Sequence[RunRecord],
                     method: str | None, full: bool = False) -> str:
    """The winning TrainConfig (overall, or of `method`) as YAML, ready for `sweep train`: its
    searched keys and the values the study set (`config_yaml`); `full`: every field."""
    if method is not None and method not in study.methods:
        raise SweepError(f"--method: value {method!r} is unknown; allowed: "
                         f"{', '.join(study.methods)}")
    ranked = [s for s in rank_configs(records, study.metric, study.mode)
              if method is None or s.method == method]
    if not ranked:
        raise SweepError(f"sweep {name!r} has no completed full-length search run"
                         f"{' of ' + method if method else ''} yet")
    s = ranked[0]
    nb = noisy_best(records, study.metric, study.mode)[s.method]
    keys = searched_keys(study, s.method)
    cfg = train_config_of(s.params)
    header = [f"# best {s.method} config of sweep {name!r}: {study.metric}={s.score:.4f} ± "
              f"{short_value(nb.se)} (SE; mean of {s.n} search run(s); MLflow run {s.runs[0].run_id})",
              f"# {len(nb.indistinguishable)} of {nb.n_configs} {s.method} config(s) within 1 SE "
              "of it (not distinguishable on the validation split):"]
    header += [f"#   {', '.join(f'{k}={short_value(c.params.get(k))}' for k in keys) or '-'}: "
               f"{c.score:.4f} (n={c.n})" for c in nb.indistinguishable]
    return "\n".join(header) + "\n" + config_yaml(cfg, keys, full)
