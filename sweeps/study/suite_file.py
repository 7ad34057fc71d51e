"""Suite files: several workloads (dataset/model pairs) that share one study's methods and
protocol, run by `sweep suite FILE` and reported per workload and in aggregate.

Format: the keys of a study file (`sweeps.study.study_file`: `methods`, `budget`,
`confirm_seeds`, `baseline`, `shared_space`, `base`, ...; not `name`), plus::

    suite: two_workloads          # the suite's name (default: the file's stem)
    workloads:                    # one or more; each an ordinary sweep named SUITE__ID
      - id: fashion_cnn           # letters, digits, '_' and '-'
        base: {dataset: fashion_mnist, model: small_cnn}   # merged over the shared `base`
      - id: digits_cnn
        base: {dataset: digits}
        resources: {workers: 1, cpus_per_worker: 1.0}      # optional: replaces the shared one

Every workload's study is validated like a study file before anything starts; a bad key names
the workload. Only `base` and `resources` may differ between workloads: the methods, budget,
seeds, test and baseline are the protocol the aggregate compares across workloads.

Example:
    >>> suite = parse_suite('''
    ... suite: demo
    ... base: {epochs: 1, model: small_cnn}
    ... methods: {sgd: {fixed: {perturbation: none}}, sam: {space: {rho: {loguniform: [0.01, 0.1]}}}}
    ... workloads:
    ...   - {id: digits, base: {dataset: digits}}
    ...   - {id: fashion, base: {dataset: fashion_mnist}}
    ... ''')
    >>> list(suite.workloads), suite.workloads["fashion"].name, suite.baseline
    (['digits', 'fashion'], 'demo__fashion', 'sgd')
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from samtrain.strict_yaml import load_yaml, read_text
from samtrain.suggest import did_you_mean
from samtrain.validation import ConfigError
from sweeps.errors import SpaceError
from sweeps.study.spec import StudySpec, check_name
from sweeps.study.study_file import STUDY_FILE_KEYS, parse_study

__all__ = ["SuiteSpec", "parse_suite", "load_suite", "workload_sweep", "WORKLOAD_ID", "SEPARATOR"]

WORKLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
SEPARATOR = "__"  # sweep name = SUITE + SEPARATOR + workload id
SUITE_KEYS = ("suite", "workloads")
STUDY_KEYS = tuple(k for k in STUDY_FILE_KEYS if k != "name")
WORKLOAD_KEYS = ("id", "base", "resources")


@dataclass(frozen=True)
class SuiteSpec:
    """A validated suite: its name, each workload's study (sweep `SUITE__ID`) in file order, and
    the shared protocol (`baseline`, the methods' names)."""

    name: str
    workloads: dict[str, StudySpec]
    source_text: str
    source_sha256: str

    @property
    def baseline(self) -> str | None:
        return next(iter(self.workloads.values())).baseline

    @property
    def methods(self) -> list[str]:
        return list(next(iter(self.workloads.values())).methods)


def workload_sweep(suite: str, workload: str) -> str:
    """The sweep name of a suite's workload.

    >>> workload_sweep("paper", "fashion_cnn")
    'paper__fashion_cnn'
    """
    return f"{suite}{SEPARATOR}{workload}"


def _unknown(where: str, key: Any, value: Any, allowed: tuple[str, ...]) -> SpaceError:
    hint = did_you_mean(str(key), allowed) or f"allowed: {', '.join(allowed)}"
    return SpaceError(f"{where}{key}: unknown key (value {value!r}); {hint}")


def _workload_entries(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise SpaceError(f"workloads: value {raw!r} is invalid: give a non-empty list of "
                         "{id: ..., base: {...}} entries")
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise SpaceError(f"workloads[{i}]: value {entry!r} is invalid: give a mapping with "
                             "`id` and `base`")
        for key, value in entry.items():
            if key not in WORKLOAD_KEYS:
                raise _unknown(f"workloads[{i}].", key, value, WORKLOAD_KEYS)
        wid = entry.get("id")
        if not isinstance(wid, str) or not WORKLOAD_ID.fullmatch(wid):
            raise SpaceError(f"workloads[{i}].id: value {wid!r} is invalid: use 1-48 letters, "
                             "digits, '_', '-' (starting with a letter or digit; no path "
                             "separators or dots)")
        if wid in seen:
            raise SpaceError(f"workloads[{i}].id: value {wid!r} is a duplicate; each workload "
                             "needs its own id")
        seen.add(wid)
        for key in ("base", "resources"):
            if key in entry and not isinstance(entry[key], dict):
                raise SpaceError(f"workloads[{i}].{key}: value {entry[key]!r} is invalid: give a "
                                 "mapping")
    return raw


def _workload_study(shared: dict[str, Any], entry: dict[str, Any], suite: str, index: int,
                    source: str) -> StudySpec:
    """The study of one workload: the shared keys, its `base` merged over the shared one."""
    wid = entry["id"]
    study = {**shared, "name": workload_sweep(suite, wid),
             "base": {**(shared.get("base") or {}), **entry.get("base", {})}}
    if "resources" in entry:
        study["resources"] = entry["resources"]
    text = yaml.safe_dump(study, sort_keys=False, allow_unicode=True)
    try:
        return parse_study(text, source=f"{source}#{wid}")
    except SpaceError as e:
        raise SpaceError(f"workloads[{index}] (id {wid!r}): {e}") from None


def parse_suite(text: str, source: str = "<string>") -> SuiteSpec:
    """Validate a suite file's `text` (see the module docstring); `source` names it."""
    try:
        raw = load_yaml(text, source)
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{source}: the top level must be a mapping with `suite`, `workloads` "
                         "and `methods`")
    for key, value in raw.items():
        if key not in SUITE_KEYS + STUDY_KEYS:
            raise _unknown("", key, value, SUITE_KEYS + STUDY_KEYS)
    default = Path(source).stem if source != "<string>" else "suite"
    name = check_name("suite", raw.get("suite", default))
    entries = _workload_entries(raw.get("workloads"))
    shared = {k: v for k, v in raw.items() if k in STUDY_KEYS}
    if not isinstance(shared.get("base", {}), dict):
        raise SpaceError(f"base: value {shared['base']!r} is invalid: give a mapping")
    workloads = {}
    for i, entry in enumerate(entries):
        check_name(f"workloads[{i}].id", workload_sweep(name, entry["id"]))  # at most 100 chars
        workloads[entry["id"]] = _workload_study(shared, entry, name, i, source)
    return SuiteSpec(name, workloads, text, hashlib.sha256(text.encode()).hexdigest())


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file; a `SpaceError` (one line) on any problem.

    >>> load_suite("search_spaces/suites/two_workloads.yaml").name
    'two_workloads'
    """
    try:
        text = read_text(path, "suite")
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    return parse_suite(text, source=str(path))
