"""`sweep` bad input: exit code 2, one line on stderr naming the culprit, nothing started or written.

`CASES` is one table over every command. A row: argv, the files the test writes first (relative
to its working directory; `DIR` makes a directory) and the words the error line must hold (the
key or option, and the offending value or file), where `{t}`, `{port}` and `{silent}` are
replaced (see `tokens`). A row naming the sweep `fake` first gets `runs/fake/` from `SweepDir.write`
(tracking URI `sqlite:///{t}/mlflow.db`; no MLflow, no Ray), then its own files, which may damage
it: checks that need an existing sweep are reached, and must come before any MLflow read. The
sweep `gone` is the same with a model whose package is not importable.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sweeps.cli import main
from tests.support import ROOT

TINY = ROOT / "search_spaces" / "tiny.yaml"
# first in the session: a Ray started in this process by another test prints to stderr at times,
# and stderr must hold exactly the one error line
pytestmark = pytest.mark.before_local_ray
DIR = "<a directory>"
DIFF = ("--tracking-uri", "differs from the tracking URI of sweep 'fake'")
META = '{"name": "fake", "sweep_id": "abc", "budget": 2, "tracking_uri": URI, "source_sha256": ""}'
DEAD = "http://127.0.0.1:{port}"
SILENT = "http://127.0.0.1:{silent}"
BAD_META = ("sweep.json", "not a sweep record")
FILE = {"f.txt": "x"}  # a regular file where a directory is expected


def S(top="", base="", fixed="", space="", m="", more="") -> str:
    """A valid study (sgd vs sam on digits) with text added at the given places."""
    return (f"{top}\nbase: {{dataset: digits, epochs: 1, batch_size: 64{base}}}\nmethods:\n"
            "  sgd: {fixed: {perturbation: none}}\n"
            f"  sam: {{fixed: {{perturbation: ascent{fixed}}}, "
            f"space: {{rho: {{loguniform: [0.01, 0.2]}}{space}}}{m}}}\n{more}")


def case(id_: str, argv: list[str], words: tuple[str, ...], files: dict | None = None):
    return pytest.param(argv, files or {}, words, id=id_)


def R(id_, words, *opts, text=None, files=None, **parts):
    """`sweep run s.yaml OPTS`, s.yaml being `text` or `S(**parts)`."""
    return case(f"run-{id_}", ["run", "s.yaml", *opts], words,
                {"s.yaml": S(**parts) if text is None else text, **(files or {})})


def T(id_, words, cfg="epochs: 1\n", *opts, path="c.yaml", files=None):
    """`sweep train PATH OPTS`, PATH holding `cfg` (None: no file)."""
    return case(f"train-{id_}", ["train", path, *opts], words,
                {**({} if cfg is None else {path: cfg}), **(files or {})})


def F(cmd, id_, words, *opts, files=None):
    """`sweep CMD fake OPTS` on the fake sweep."""
    return case(f"{cmd}-{id_}", [cmd, "fake", *opts], words, files)


def SP(id_, key, dist, *words):
    """`sweep run` of a study whose method sam also samples `key` from `dist`."""
    return R(id_, (f"methods.sam.space.{key}", *words), space=f", {key}: {dist}")


PROBLEM = "tests.support.problem"  # a researcher's own parts, some of them wrong


def OWN(id_, words, dataset, kwargs=""):
    """`sweep run` of a study on the dataset builder `PROBLEM:dataset` (its `dataset_kwargs`)."""
    more = f", model: '{PROBLEM}:pooled'" + (f", dataset_kwargs: {kwargs}" if kwargs else "")
    return R(id_, words, text=S(base=more).replace("dataset: digits",
                                                   f"dataset: '{PROBLEM}:{dataset}'"))


def J(text: str | bytes) -> dict:
    """The fake sweep's sweep.json replaced by `text`."""
    return {"runs/fake/sweep.json": text}


def meta(uri: str) -> dict:
    return J(META.replace("URI", uri))


CASES = [
    # ---- run: names, storage, study files
    R("name-slash", ("--name", "'a/b'"), "--name", "a/b"),
    R("name-dotdot", ("--name", "'../../x'"), "--name", "../../x"),
    R("name-space", ("--name", "'my sweep'"), "--name", "my sweep"),
    R("name-leading-dot", ("--name", "'.hidden'"), "--name", ".hidden"),
    R("name-leading-dash", ("--name", "'-x'"), "--name=-x"),
    R("name-leading-underscore", ("--name", "'_x'"), "--name", "_x"),
    R("name-too-long", ("--name", "'" + "a" * 101 + "'"), "--name", "a" * 101),
    R("name-empty", ("--name", "''"), "--name="),
    R("name-unicode", ("--name", "'swéep'"), "--name", "swéep"),
    R("name-newline", ("--name", "'tiny\\n'"), "--name", "tiny\n"),
    R("file-name-dotdot", ("name", "'../x'"), top="name: ../x"),
    case("run-file-stem-space", ["run", "my study.yaml"], ("name", "'my study'"), {"my study.yaml": S()}),
    R("exists", ("'fake'", "already exists"), "--name", "fake"),
    R("storage-file", ("--storage", "'f.txt'", "not a directory"), "--storage", "f.txt", files=FILE),
    R("storage-under-file", ("--storage", "'f.txt/runs'", "not a directory"), "--storage",
      "f.txt/runs", files=FILE),
    R("storage-empty", ("--storage", "''"), "--storage="),
    R("storage-scheme", ("--storage", "'nosuch://b/runs'", "Unrecognized filesystem"), "--storage",
      "nosuch://b/runs"),
    R("storage-credentials", ("--storage", "'s3://AKIA:***@b/runs'", "holds credentials"),
      "--storage", "s3://AKIA:PLANTED@b/runs"),
    R("storage-file-credentials", ("--storage", "'file://***@", "holds credentials"),
      "--storage", "file://ada:PLANTED@/tmp/runs"),
    case("status-storage-file-credentials", ["status", "x", "--storage", "file://ada:PLANTED@/r"],
         ("--storage", "'file://***@/r'", "holds credentials")),
    R("tracking-file-credentials", ("--tracking-uri", "holds credentials"), "--tracking-uri",
      "file://ada:PLANTED@/tmp/mlruns"),
    R("tracking-sqlite-credentials", ("--tracking-uri", "holds credentials"), "--tracking-uri",
      "sqlite://ada:PLANTED@/tmp/mlflow.db"),
    # a password in a tracking URI, any scheme: refused, saying where it goes instead
    R("tracking-pg-password", ("--tracking-uri", "'postgresql://u:***@127.0.0.1:1/m'",
                               "PGPASSWORD or ~/.pgpass"),
      "--tracking-uri", "postgresql://u:PLANTED@127.0.0.1:1/m"),
    R("tracking-https-password", ("--tracking-uri", "'https://u:***@mlflow.lan'",
                                  "MLFLOW_TRACKING_PASSWORD"),
      "--tracking-uri", "https://u:PLANTED@mlflow.lan"),
    R("tracking-mysql-password", ("--tracking-uri", "'mysql://u:***@h/m'", "not supported"),
      "--tracking-uri", "mysql://u:PLANTED@h/m"),
    T("tracking-pg-password", ("--tracking-uri", "'postgres://u:***@h/m'", "PGPASSWORD"),
      "epochs: 1\n", "--tracking-uri", "postgres://u:PLANTED@h/m"),
    F("status", "tracking-password", ("--tracking-uri", "'http://u:***@127.0.0.1:1'",
                                      "MLFLOW_TRACKING_PASSWORD"),
      "--tracking-uri", "http://u:PLANTED@127.0.0.1:1"),
    F("report", "tracking-password", ("--tracking-uri", "'postgresql://u@h/m?password=***'",
                                      "PGPASSWORD"),
      "--tracking-uri", "postgresql://u@h/m?password=PLANTED"),
    R("grid-1e12", ("methods.sam.space", "1,000,000,000,000 points", "at most 1,000,000"),
      text="sampler: grid\nbase: {dataset: digits, epochs: 1}\nmethods:\n  sam:\n    space:\n"
           + "".join(f"      {k}: {{choice: {[round(0.001 * (j + 1), 4) for j in range(100)]}}}\n"
                     for k in ("lr", "rho", "weight_decay", "momentum", "warmup_epochs",
                               "label_smoothing"))),
    R("budget-1e12", ("budget", "1000000000000", "at most 100,000"), "--budget", str(10**12)),
    case("status-storage-secret-key", ["status", "x", "--storage", "s3://b/r?secret_key=PLANTED"],
         ("--storage", "'s3://b/r?secret_key=***'", "holds credentials (secret_key)")),
    case("run-missing-file", ["run", "missing.yaml"], ("study", "'missing.yaml'", "does not exist")),
    case("run-directory", ["run", "d.yaml"], ("study", "'d.yaml'", "directory"), {"d.yaml": DIR}),
    R("binary", ("study", "'s.yaml'", "NUL"), text=b"methods:\x00\n"),
    R("not-utf8", ("study", "'s.yaml'", "UTF-8", "0xff"), text=b"name: \xff\n"),
    R("not-yaml", ("s.yaml", "not valid YAML"), text="methods: [1,\n"),
    R("list-top", ("s.yaml", "top level", "mapping"), text="- a\n- b\n"),
    R("scalar-top", ("s.yaml", "top level", "mapping"), text="just words\n"),
    R("empty", ("s.yaml", "top level", "mapping"), text=""),
    R("python-tag", ("s.yaml", "python/object"), top="seed: !!python/object/apply:os.getcwd []"),
    # ---- run: a key written twice, at every level
    R("dup-top", ("s.yaml", "line 3", "'methods'", "twice"), top="methods: {}"),
    R("dup-method", ("s.yaml", "'sam'", "twice"), more="  sam: {}\n"),
    R("dup-base", ("s.yaml", "'lr'", "twice"), base=", lr: 0.1, lr: 0.2"),
    R("dup-fixed", ("s.yaml", "'gsam_alpha'", "twice"), fixed=", gsam_alpha: 0, gsam_alpha: 0.1"),
    R("dup-space", ("s.yaml", "'rho'", "twice"), space=", rho: {uniform: [0.1, 0.2]}"),
    R("dup-method-key", ("s.yaml", "'fixed'", "twice"), m=", fixed: {}"),
    R("dup-dist", ("s.yaml", "line 5", "'uniform'", "twice"),
      space=", momentum: {uniform: [0.1, 0.2], uniform: [0.3, 0.4]}"),
    R("dup-resources", ("s.yaml", "'workers'", "twice"), top="resources: {workers: 1, workers: 2}"),
    R("dup-scheduler", ("s.yaml", "'type'", "twice"), top="scheduler: {type: asha, type: asha}"),
    # ---- run: non-finite numbers
    R("nan-base", ("base", "'lr'", "nan", "finite"), base=", lr: .nan"),
    R("1e999-base", ("base", "'weight_decay'", "1e999", "finite"), base=", weight_decay: 1e999"),
    R("inf-fixed", ("methods.sam.fixed", "'gsam_alpha'", "inf"), fixed=", gsam_alpha: .inf"),
    SP("neginf-bound", "momentum", "{uniform: [-.inf, 0.5]}", "-inf", "finite"),
    SP("1e999-bound", "momentum", "{uniform: [0.1, 1e999]}", "1e999", "finite"),
    SP("inf-int-bound", "grad_accum_steps", "{int: [1, .inf]}", "inf", "integer"),
    SP("nan-choice", "gsam_alpha", "{choice: [0.1, .nan]}", "nan", "finite"),
    SP("inf-fixed-dist", "gsam_alpha", "{fixed: .inf}", "inf", "finite"),
    R("nan-resources", ("resources.cpus_per_worker", "nan"), top="resources: {cpus_per_worker: .nan}"),
    R("inf-resources", ("resources.gpus_per_worker", "inf"), top="resources: {gpus_per_worker: .inf}"),
    R("inf-scheduler", ("scheduler.reduction_factor", "inf"),
      top="scheduler: {type: asha, reduction_factor: .inf}"),
    R("nan-scheduler", ("scheduler.grace_period", "nan"), top="scheduler: {type: asha, grace_period: .nan}"),
    R("inf-budget", ("budget", "inf"), top="budget: .inf"),
    # ---- run: other bad study values
    R("metric-test", ("metric", "'test_acc'", "val_acc"), top="metric: test_acc"),
    R("metric-unknown", ("metric", "'accuracy'", "val_acc"), top="metric: accuracy"),
    R("mode", ("mode", "'maximize'"), top="mode: maximize"),
    R("budget-file-0", ("budget", "0", ">= 1"), top="budget: 0"),
    R("baseline", ("baseline", "'nope'", "sgd"), top="baseline: nope"),
    R("method-reserved", ("methods.trial", "'trial'"), more="  trial: {}\n"),
    R("method-name", ("methods.1sam", "'1sam'"), more="  1sam: {}\n"),
    R("method-newline", ("'sam2\\n'",), more='  "sam2\\n": {}\n'),
    R("no-methods", ("methods", "empty"), text="methods: {}\n"),
    R("methods-missing", ("methods", "missing"), text="base: {epochs: 1}\n"),
    R("unknown-top", ("bogus", "allowed"), top="bogus: 1"),
    R("unknown-base", ("base.rhoo", "did you mean 'rho'?"), base=", rhoo: 0.1"),
    R("unknown-base-far", ("base.zzzz", "allowed", "weight_decay"), base=", zzzz: 0.1"),
    R("unknown-base-newline", ("base.a", "unknown"), base=', "a\\nb": 1'),
    R("unknown-method-key", ("methods.sam.fixd", "did you mean 'fixed'?"), m=", fixd: {}"),
    R("unknown-fixed", ("methods.sam.fixed.rhoo", "did you mean 'rho'?"), fixed=", rhoo: 1"),
    R("choice-hint", ("'perturbation'", "'sam'", "'none', 'ascent'", "did you mean 'ascent'?"),
      text=S().replace("perturbation: ascent", "perturbation: sam")),
    R("choice-hint-case", ("'optimizer'", "'SGD'", "did you mean 'sgd'?"), base=", optimizer: SGD"),
    R("mode-hint", ("mode", "'Max'", "did you mean 'max'?"), top="mode: Max"),
    SP("unknown-space", "rhoo", "{uniform: [0, 1]}", "did you mean 'rho'?"),
    R("unknown-resources", ("resources.gpus", "allowed"), top="resources: {gpus: 1}"),
    R("unknown-scheduler", ("scheduler.grace", "allowed"), top="scheduler: {type: asha, grace: 2}"),
    R("reserved-fixed", ("methods.sam.fixed.num_workers", "resources.workers"), fixed=", num_workers: 2"),
    R("scheduler-max-t", ("scheduler.max_t", "5"), top="scheduler: {type: asha, max_t: 5}"),
    R("scheduler-type", ("scheduler.type", "'pbt'", "asha, hyperband, median"),
      top="scheduler: {type: pbt}"),
    R("scheduler-scalar", ("scheduler", "'fifo'", "allowed"), top="scheduler: fifo"),
    R("scheduler-option", ("scheduler.brackets", "median"), top="scheduler: {type: median, brackets: 2}"),
    R("sampler-type", ("sampler.type", "'cmaes'", "tpe, random, grid, qmc"), top="sampler: cmaes"),
    R("sampler-option", ("sampler.group", "random"), top="sampler: {type: random, group: true}"),
    R("grid-no-values", ("methods.sam.space.rho", "values"), top="sampler: grid"),
    R("values-not-grid", ("methods.sam.space.perturb_batch_size.values", "grid"),
      space=", perturb_batch_size: {int: [16, 32], values: [16]}"),
    R("start-from-key", ("methods.sam.start_from[0].lr", "0.1"), m=", start_from: [{lr: 0.1}]"),
    R("start-from-range", ("methods.sam.start_from[0].rho", "0.9"), top="budget: 2",
      m=", start_from: [{rho: 0.9}]"),
    R("start-from-budget", ("methods.sam.start_from", "budget"),
      m=", start_from: [{rho: 0.05}, {rho: 0.1}]"),
    R("grace-over-epochs", ("scheduler.grace_period", "5", "epochs"), top="scheduler: {grace_period: 5}"),
    # ---- run: bad distributions
    SP("dist-unknown", "momentum", "{lognormal: [0.1, 1]}", "'lognormal'", "allowed"),
    SP("dist-bare-list", "momentum", "[0.1, 0.9]", "bare list", "choice"),
    SP("dist-two-keys", "momentum", "{uniform: [0.1, 0.2], loguniform: [0.1, 0.2]}", "exactly one"),
    SP("dist-low-high", "momentum", "{uniform: [0.9, 0.1]}", "[0.9, 0.1]", "low < high"),
    SP("dist-log-zero", "lr", "{loguniform: [0, 0.1]}", "[0, 0.1]", "low > 0"),
    SP("dist-int-float", "grad_accum_steps", "{int: [1.5, 4]}", "1.5", "integer"),
    SP("dist-int-log-0", "sharpness_every", "{int: [0, 4], log: true}", "[0, 4]", "low >= 1"),
    SP("dist-log-uniform", "momentum", "{uniform: [0.1, 0.2], log: true}", "`log`"),
    SP("dist-three-bounds", "momentum", "{uniform: [0.1, 0.2, 0.3]}", "[0.1, 0.2, 0.3]"),
    SP("choice-empty", "momentum", "{choice: []}", "[]", "non-empty"),
    SP("choice-nested", "momentum", "{choice: [[1, 2]]}", "[1, 2]", "scalar"),
    SP("choice-dups", "momentum", "{choice: [0.1, 0.1]}", "duplicates"),
    SP("space-rule", "gsam_alpha", "{uniform: [-0.1, 0.2]}", "-0.1", ">= 0"),
    SP("space-combo", "perturb_batch_size", "{choice: [16, 24]}", "24", "divide"),
    R("fixed-and-space", ("methods.sam.space.gsam_alpha", "fixed"), fixed=", gsam_alpha: 0.1",
      space=", gsam_alpha: {uniform: [0.1, 0.2]}"),
    R("shared-and-space", ("methods.sam.space.lr", "{'uniform': [0.1, 0.2]}", "shared_space"),
      top="shared_space: {lr: {loguniform: [0.01, 0.2]}}", space=", lr: {uniform: [0.1, 0.2]}"),
    R("shared-and-fixed", ("methods.sam.fixed.lr", "0.3", "shared_space"),
      top="shared_space: {lr: {loguniform: [0.01, 0.2]}}", fixed=", lr: 0.3"),
    R("shared-unknown-key", ("shared_space.lrr", "0.1", "did you mean 'lr'?"),
      top="shared_space: {lrr: 0.1}"),
    R("arm-epochs-searched", ("compute_matched", "'sgd'", "epochs"),
      top="compute_matched: true\nshared_space: {epochs: {int: [1, 3]}}"),
    R("confirm-seeds-negative", ("confirm_seeds", "-1", ">= 0"), top="confirm_seeds: -1"),
    R("no-data", ("cifar10", "/nonexistent"),
      text=S(base=", data_dir: /nonexistent").replace("digits", "cifar10")),
    # ---- run: a researcher's own model, dataset and loss (import strings), checked before Ray
    OWN("dataset-float64", ("key 'dataset'", "x of its train pool is torch.float64",
                            "must be torch.float32"), "tensor_blobs", "{x_dtype: float64}"),
    OWN("dataset-float-labels", ("key 'dataset'", "targets of its train pool are torch.float32",
                                 "integer class indices"), "tensor_blobs", "{y_dtype: float32}"),
    OWN("dataset-float-label-items", ("key 'dataset'", "y a torch.float32 tensor"), "cast_blobs",
        "{y_float: true}"),
    OWN("dataset-ragged", ("key 'dataset'", "differ in shape", "ragged"), "ragged"),
    OWN("dataset-test-unlike", ("key 'dataset'", "its test set is unlike its train pool"),
        "unlike_test"),
    R("model-no-parameters", ("key 'model'", "no trainable parameters"),
      base=f", model: '{PROBLEM}:no_parameters'"),
    R("loss-nan", ("key 'loss'", "nan on the first 2 examples", "finite"),
      base=f", loss: '{PROBLEM}:nan_loss'"),
    R("loss-detached", ("key 'loss'", "detached from the logits"),
      base=f", loss: '{PROBLEM}:detached_loss'"),
    R("model-spelling", ("base", "'model'", "'my nets:build'", "import string"),
      base=", model: 'my nets:build'"),
    R("model-not-found", ("'model'", "'nosuchpkg.nets:build'", "'nosuchpkg' not found"),
      base=", model: 'nosuchpkg.nets:build'"),
    R("model-no-attribute", ("'model'", "'json:nope'", "no attribute 'nope'"), base=", model: 'json:nope'"),
    R("model-not-callable", ("'model'", "'math:pi'", "not callable (type float)"), base=", model: 'math:pi'"),
    R("model-signature", ("'model'", "'math:sqrt'", "num_classes"), base=", model: 'math:sqrt'"),
    R("model-returns-dict", ("'model'", "'builtins:dict'", "returned a dict", "torch.nn.Module"),
      base=", model: 'builtins:dict'"),
    R("model-output-shape", ("'model'", "'torch.nn:Identity'", "(2, 1, 8, 8)", "one logit per class"),
      base=", model: 'torch.nn:Identity'"),
    R("model-kwargs-unknown", ("'model_kwargs'", "'width'"), base=", model_kwargs: {width: 3}"),
    R("model-kwargs-reserved", ("'model_kwargs'", "num_classes"), base=", model_kwargs: {num_classes: 3}"),
    R("model-kwargs-nan", ("'model_kwargs'", "nan", "finite"), base=", model_kwargs: {w: .nan}"),
    R("model-in-space", ("'model'", "'json:nope'", "no attribute"),
      space=", model: {choice: [small_cnn, 'json:nope']}"),
    R("dataset-not-found", ("'dataset'", "'nosuchpkg.data:build'", "not found"),
      text=S().replace("dataset: digits", "dataset: 'nosuchpkg.data:build'")),
    R("dataset-returns-dict", ("'dataset'", "'builtins:dict'", "returned a dict", "(train_pool, test)"),
      text=S().replace("dataset: digits", "dataset: 'builtins:dict'")),
    R("dataset-returns-empty-tuple", ("'dataset'", "'builtins:tuple'", "tuple of nothing"),
      text=S().replace("dataset: digits", "dataset: 'builtins:tuple'")),
    R("dataset-kwargs-unknown", ("'dataset_kwargs'", "'size'"), base=", dataset_kwargs: {size: 3}"),
    R("dataset-data-dir", ("'data_dir'", "dataset_kwargs"),
      text=S(base=", data_dir: /x").replace("dataset: digits", "dataset: 'my_pkg.data:build'")),
    R("loss-not-found", ("'loss'", "'nosuchpkg:make'", "not found"), base=", loss: 'nosuchpkg:make'"),
    R("loss-returns-dict", ("'loss'", "'builtins:dict'", "callable"), base=", loss: 'builtins:dict'"),
    R("loss-not-scalar", ("'loss'", "'torch.nn:CrossEntropyLoss'", "shape (2,)", "0-dim"),
      base=", loss: 'torch.nn:CrossEntropyLoss', loss_kwargs: {reduction: none}"),
    R("loss-label-smoothing", ("'label_smoothing'", "loss_kwargs"),
      base=", loss: 'torch.nn:CrossEntropyLoss', label_smoothing: 0.1"),
    # ---- run: options
    R("budget-0", ("--budget", "0", ">= 1"), "--budget", "0"),
    R("budget-negative", ("--budget", "-3", ">= 1"), "--budget", "-3"),
    R("budget-not-int", ("--budget", "'abc'"), "--budget", "abc"),
    R("unknown-option", ("--bogus",), "--bogus"),
    case("run-no-file", ["run"], ("space", "required")),
    # ---- run --set: dotted study keys, checked like the file
    R("set-unknown-key", ("base.rh0", "0.1", "did you mean 'rho'?"), "--set", "base.rh0=0.1"),
    R("set-choice", ("'perturbation'", "'sam'", "did you mean 'ascent'?"), "--set",
      "methods.sam.fixed.perturbation=sam"),
    R("set-no-method", ("--set", "'methods.sma.fixed.rho=0.1'", "'sma'", "did you mean 'sam'?"),
      "--set", "methods.sma.fixed.rho=0.1"),
    R("set-top-unknown", ("bugdet", "4", "did you mean 'budget'?"), "--set", "bugdet=4"),
    R("set-budget-0", ("budget", "0", ">= 1"), "--set", "budget=0"),
    R("set-dist", ("methods.sam.space.rho", "[0.9, 0.1]", "low < high"), "--set",
      "methods.sam.space.rho={uniform: [0.9, 0.1]}"),
    R("set-no-equals", ("--set", "'budget'", "key=value"), "--set", "budget"),
    R("set-not-yaml", ("--set", "'budget'", "'[1,'"), "--set", "budget=[1,"),
    R("set-empty-part", ("--set", "'base..lr'", "dotted"), "--set", "base..lr=1"),
    R("set-not-mapping", ("--set", "'base.epochs'", "not a mapping"), "--set", "base.epochs.x=1"),
    R("tracking-dead", ("--tracking-uri", DEAD, "no MLflow server"), "--tracking-uri", DEAD),
    R("tracking-silent", ("--tracking-uri", SILENT, "no MLflow server", "Timeout"), "--tracking-uri", SILENT),
    R("tracking-bad-url", ("--tracking-uri", "'http://'", "no MLflow server"), "--tracking-uri", "http://"),
    R("tracking-file", ("--tracking-uri", "'file:///{t}/m'", "sqlite"), "--tracking-uri", "file:///{t}/m"),
    R("tracking-path", ("--tracking-uri", "'mlruns'"), "--tracking-uri", "mlruns"),
    R("tracking-empty", ("--tracking-uri", "''"), "--tracking-uri="),
    R("tracking-sqlite-no-dir", ("--tracking-uri", "/nodir/m.db", "does not exist"),
      "--tracking-uri", "sqlite:////nodir/m.db"),
    R("tracking-sqlite-dir", ("--tracking-uri", "'sqlite:///{t}/d'", "directory"),
      "--tracking-uri", "sqlite:///{t}/d", files={"d": DIR}),
    R("tracking-sqlite-not-db", ("--tracking-uri", "notes.txt", "not an sqlite"),
      "--tracking-uri", "sqlite:///{t}/notes.txt", files={"notes.txt": "my notes"}),
    R("address-dead", ("--address", "'127.0.0.1:{port}'", "no Ray cluster"), "--address", "127.0.0.1:{port}"),
    R("address-no-port", ("--address", "'nohost'"), "--address", "nohost"),
    R("address-bad-port", ("--address", "'127.0.0.1:99999'", "HOST:PORT"), "--address", "127.0.0.1:99999"),
    R("address-empty", ("--address", "''"), "--address="),
    # ---- train
    T("missing", ("config", "'c.yaml'", "does not exist"), None),
    T("directory", ("config", "'c.yaml'", "directory"), DIR),
    T("binary", ("config", "'c.yaml'", "NUL"), b"epochs: 1\x00"),
    T("not-utf8", ("config", "'c.yaml'", "UTF-8"), b"model: \xe9\n"),
    T("not-yaml", ("c.yaml", "not valid YAML"), "epochs: [1\n"),
    T("list-top", ("c.yaml", "mapping"), "- epochs\n"),
    T("empty", ("c.yaml", "empty"), ""),
    T("comments-only", ("c.yaml", "empty"), "# epochs: 1\n"),
    T("dup-key", ("c.yaml", "'lr'", "twice"), "lr: 0.1\nepochs: 1\nlr: 0.2\n"),
    T("dup-nested", ("c.yaml", "'a'", "twice"), "lr: {a: 1, a: 2}\n"),
    T("nan", ("'lr'", "nan", "finite"), "lr: .nan\n"),
    T("neginf", ("'rho'", "-inf", "finite"), "rho: -.inf\n"),
    T("1e999", ("'weight_decay'", "1e999", "finite"), "weight_decay: 1e999\n"),
    T("huge-float", ("'momentum'", "inf", "finite"), "momentum: 1.0e+999\n"),
    T("unknown-key", ("'rhoo'", "did you mean 'rho'?"), "rhoo: 0.1\n"),
    T("unknown-key-far", ("'zzzz'", "allowed keys"), "zzzz: 0.1\n"),
    T("bad-value", ("'epochs'", "0", ">= 1"), "epochs: 0\n"),
    T("model-rule", ("batch_size=100", "num_workers=3"), "batch_size: 100\nnum_workers: 3\n"),
    T("study-file", ("unknown key",), str(TINY.read_text())),
    T("set-nan", ("'lr'", "nan", "finite"), "epochs: 1\n", "--set", "lr=.nan"),
    T("set-inf", ("'rho'", "inf", "finite"), "epochs: 1\n", "--set", "rho=.inf"),
    T("set-neginf", ("'momentum'", "-inf"), "epochs: 1\n", "--set", "momentum=-.inf"),
    T("set-1e999", ("'lr'", "1e999", "finite"), "epochs: 1\n", "--set", "lr=1e999"),
    T("set-no-equals", ("--set", "'lr'", "key=value"), "epochs: 1\n", "--set", "lr"),
    T("set-no-key", ("--set", "'=5'", "key=value"), "epochs: 1\n", "--set", "=5"),
    T("set-unknown", ("'rhoo'", "did you mean 'rho'?"), "epochs: 1\n", "--set", "rhoo=1"),
    T("set-bad-value", ("'epochs'", "'abc'"), "epochs: 1\n", "--set", "epochs=abc"),
    T("set-rule", ("'rho'", "-1", ">= 0"), "epochs: 1\n", "--set", "rho=-1"),
    T("set-not-yaml", ("--set", "'lr'", "'[1,'"), "epochs: 1\n", "--set", "lr=[1,"),
    T("set-empty", ("'lr'", "None"), "epochs: 1\n", "--set", "lr="),
    T("name-dotdot", ("--name", "'../../x'"), "epochs: 1\n", "--name", "../../x"),
    T("name-dot", ("--name", "'.hidden'"), "epochs: 1\n", "--name", ".hidden"),
    T("stem", ("config file name", "'my run'"), "epochs: 1\n", path="my run.yaml"),
    T("storage-file", ("--storage", "'f.txt'"), "epochs: 1\n", "--storage", "f.txt", files=FILE),
    T("tracking-dead", ("--tracking-uri", DEAD), "epochs: 1\n", "--tracking-uri", DEAD),
    T("tracking-file", ("--tracking-uri", "'file:/tmp/m'"), "epochs: 1\n", "--tracking-uri", "file:/tmp/m"),
    T("address-dead", ("--address", "'127.0.0.1:{port}'"), "epochs: 1\n", "--address", "127.0.0.1:{port}"),
    T("launcher", ("--launcher", "'nope'", "inprocess"), "epochs: 1\n", "--launcher", "nope"),
    T("no-data", ("cifar10", "/nonexistent"), "dataset: cifar10\ndata_dir: /nonexistent\n"),
    T("model-not-found", ("'model'", "'nosuchpkg.nets:build'", "not found"),
      "epochs: 1\nmodel: 'nosuchpkg.nets:build'\n"),
    T("set-model-no-attribute", ("'model'", "'json:nope'", "no attribute"), "epochs: 1\n", "--set",
      "model=json:nope"),
    T("dataset-returns-dict", ("'dataset'", "'builtins:dict'", "returned a dict"),
      "epochs: 1\ndataset: 'builtins:dict'\n"),
    T("loss-not-scalar", ("'loss'", "shape (2,)"),
      "epochs: 1\nloss: 'torch.nn:CrossEntropyLoss'\nloss_kwargs: {reduction: none}\n"),
    # ---- resume
    case("resume-missing", ["resume", "nope"], ("'nope'", "not found")),
    case("extend-missing", ["extend", "nope", "--trials", "2"], ("'nope'", "not found")),
    case("extend-no-trials", ["extend", "fake"], ("--trials", "required")),
    F("extend", "trials-0", ("--trials", "value 0", ">= 1"), "--trials", "0"),
    F("extend", "trials-1e12", ("--trials", "value 1000000000000", "too large"), "--trials",
      str(10**12)),
    F("extend", "trials-text", ("--trials", "'many'"), "--trials", "many"),
    case("resume-name-slash", ["resume", "a/b"], ("NAME", "'a/b'")),
    case("resume-name-dotdot", ["resume", ".."], ("NAME", "'..'")),
    case("resume-name-empty", ["resume", ""], ("NAME", "''")),
    case("resume-storage-file", ["resume", "x", "--storage", "f.txt"], ("--storage", "'f.txt'"), FILE),
    F("resume", "meta-garbage", BAD_META, files=J("{1")),
    F("resume", "meta-list", BAD_META, files=J("[1]")),
    F("resume", "meta-missing-key", ("sweep.json", "tracking_uri"), files=J('{"name": "fake"}')),
    F("resume", "meta-budget-type", ("sweep.json", "budget", "'2'"),
      files=J(META.replace("URI", '"x"').replace(": 2", ': "2"'))),
    F("resume", "meta-uri-dead", ("tracking_uri", "sweep.json", DEAD), files=meta(f'"{DEAD}"')),
    F("resume", "meta-uri-password", ("tracking_uri of sweep 'fake' (its sweep.json)",
                                      "'postgresql://u:***@h/m'", "PGPASSWORD"),
      files=meta('"postgresql://u:PLANTED@h/m"')),
    F("resume", "space-edited", ("space.yaml", "methods", "empty"),
      files={"runs/fake/space.yaml": "methods: {}\n"}),
    F("resume", "address-dead", ("--address", "'127.0.0.1:{port}'"), "--address", "127.0.0.1:{port}"),
    F("resume", "no-experiment", ("'fake'", "no Tune experiment")),
    case("resume-package-gone", ["resume", "gone"], ("'model'", "'nosuchpkg.nets:build'", "not found")),
    F("resume", "lease-stale", ("'fake'", "not renewed", "--force"), files={"runs/fake/lease.json": (
        '{"holder": "h:1:0", "host": "h", "pid": 1, "command": "sweep resume fake", "started": 0, '
        '"renewed": 0}')}),
    F("extend", "lease-unreadable", ("'fake'", "not renewed", "--force"), "--trials", "1",
      files={"runs/fake/lease.json": "{"}),
    # ---- status
    case("status-missing", ["status", "nope"], ("'nope'", "not found")),
    case("status-name-space", ["status", "a b"], ("NAME", "'a b'")),
    case("status-name-unicode", ["status", "naïve"], ("NAME", "'naïve'")),
    case("status-storage-file", ["status", "x", "--storage", "f.txt"], ("--storage", "'f.txt'"), FILE),
    F("status", "meta-garbage", BAD_META, files=J("??")),
    F("status", "meta-not-utf8", BAD_META, files=J(b"\xff\xfe")),
    F("status", "meta-uri-type", ("sweep.json", "tracking_uri", "5"), files=meta("5")),
    F("status", "meta-uri-file", ("tracking_uri", "sweep.json", "'file:/x'"), files=meta('"file:/x"')),
    F("status", "tracking-differs", (*DIFF, DEAD), "--tracking-uri", DEAD),
    F("status", "tracking-empty", DIFF, "--tracking-uri="),
    F("status", "space-edited-valid", ("space.yaml", "was edited after the sweep started"),
      files={"runs/fake/space.yaml": S() + "# edited\n"}),
    F("status", "address", ("--address",), "--address", "auto"),
    # ---- best
    case("best-missing", ["best", "nope"], ("'nope'", "not found")),
    case("best-name-long", ["best", "b" * 200], ("NAME", "b" * 200)),
    F("best", "method-unknown", ("--method", "'nope'", "sgd, sam"), "--method", "nope"),
    F("best", "method-case", ("--method", "'SAM'", "sgd, sam"), "--method", "SAM"),
    F("best", "method-empty", ("--method", "''"), "--method="),
    F("best", "meta-garbage", BAD_META, files=J("x")),
    F("best", "tracking-differs", (*DIFF, DEAD), "--tracking-uri", DEAD),
    case("best-storage-file", ["best", "x", "--storage", "f.txt"], ("--storage", "'f.txt'"), FILE),
    # ---- confirm
    case("confirm-missing", ["confirm", "nope"], ("'nope'", "not found")),
    F("confirm", "top-0", ("--top", "0", ">= 1"), "--top", "0"),
    F("confirm", "top-negative", ("--top", "-1", ">= 1"), "--top", "-1"),
    F("confirm", "seeds-0", ("--seeds", "0", ">= 1"), "--seeds", "0"),
    F("confirm", "seeds-negative", ("--seeds", "-2", ">= 1"), "--seeds", "-2"),
    F("confirm", "top-not-int", ("--top", "'abc'"), "--top", "abc"),
    case("confirm-name-dotdot", ["confirm", "../x"], ("NAME", "'../x'")),
    F("confirm", "address-dead", ("--address", "'127.0.0.1:{port}'"), "--address", "127.0.0.1:{port}"),
    F("confirm", "tracking-differs", (*DIFF, DEAD), "--tracking-uri", DEAD),
    F("confirm", "meta-garbage", BAD_META, files=J("{")),
    case("confirm-package-gone", ["confirm", "gone"], ("'model'", "'nosuchpkg.nets:build'", "not found")),
    case("confirm-storage-under-file", ["confirm", "x", "--storage", "f.txt/r"], ("--storage", "'f.txt/r'"),
         FILE),
    # ---- report
    case("report-missing", ["report", "nope"], ("'nope'", "not found")),
    case("report-name-space", ["report", "a b"], ("NAME", "'a b'")),
    F("report", "out-file", ("--out", "'f.txt'", "not a directory"), "--out", "f.txt", files=FILE),
    F("report", "out-under-file", ("--out", "'f.txt/r'", "not a directory"), "--out", "f.txt/r", files=FILE),
    F("report", "out-empty", ("--out", "''"), "--out="),
    F("report", "format", ("--format", "'pdf'", "latex"), "--format", "pdf"),
    F("report", "tracking-differs", (*DIFF, "'file:/x'"), "--tracking-uri", "file:/x"),
    F("report", "meta-garbage", BAD_META, files=J("}")),
    case("report-storage-file", ["report", "x", "--storage", "f.txt"], ("--storage", "'f.txt'"), FILE),
    # ---- plan: the study file, the numbers, the earlier sweep (all before any calibration)
    case("plan-missing-file", ["plan", "nope.yaml"], ("nope.yaml",)),
    case("plan-seeds", ["plan", "s.yaml", "--seeds", "1"], ("--seeds", "1", ">= 2"), {"s.yaml": S()}),
    case("plan-effect", ["plan", "s.yaml", "--effect", "0"], ("--effect", "0", "> 0"),
         {"s.yaml": S()}),
    case("plan-tau-width", ["plan", "s.yaml", "--tau-width", "1.5"], ("--tau-width", "1.5"),
         {"s.yaml": S()}),
    case("plan-calibration-configs", ["plan", "s.yaml", "--calibration-configs", "0"],
         ("--calibration-configs", "0", ">= 1"), {"s.yaml": S()}),
    case("plan-from-name", ["plan", "s.yaml", "--from", "a b"], ("--from", "'a b'"),
         {"s.yaml": S()}),
    case("plan-from-missing", ["plan", "s.yaml", "--from", "nope"], ("'nope'", "not found"),
         {"s.yaml": S()}),
    # ---- list, delete, example
    case("list-storage-file", ["list", "--storage", "f.txt"], ("--storage", "'f.txt'"), FILE),
    case("delete-missing", ["delete", "nope", "--yes"], ("'nope'", "not found", "SWEEP_STORAGE")),
    case("delete-name-dotdot", ["delete", "..", "--yes"], ("NAME", "'..'")),
    F("delete", "no-terminal", ("--yes", "not a terminal", "sweep delete fake --yes")),
    F("delete", "lease-stale", ("'fake'", "not renewed", "--force"), "--yes",
      files={"runs/fake/lease.json": "[]"}),
    case("example-unknown", ["example", "tiyn"], ("example", "'tiyn'", "did you mean 'tiny'?")),
    case("example-path", ["example", "../pyproject"], ("example", "'../pyproject'", "allowed")),
]


@pytest.fixture
def tokens(tmp_path):
    """`{t}`: the test's directory; `{port}`: a local TCP port nothing listens on (it was free a
    moment ago); `{silent}`: a port that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        with socket.create_server(("127.0.0.1", 0)) as dead:
            port = dead.getsockname()[1]
        yield {"{t}": str(tmp_path), "{port}": str(port), "{silent}": str(silent.getsockname()[1])}


def _fill(text: str, tokens: dict[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def _fake_sweep(root: Path, name: str = "fake", text: str | None = None) -> None:
    from sweeps.store.sweep_dir import SweepMeta, sweep_dir
    from sweeps.study.study_file import parse_study

    study = parse_study(text or S(), source=f"{name}.yaml")
    sweep_dir(root / "runs", name).write(study, SweepMeta.new(study, f"sqlite:///{root}/mlflow.db"))


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


class Reached(BaseException):
    """Bad input got past validation (a `BaseException`: no handler in `sweeps` swallows it)."""


def _guard(monkeypatch) -> None:
    """Starting Ray (by any path) or reading MLflow raises `Reached`, so no row can start a real
    sweep."""
    import ray

    import sweeps.execution.runner
    import sweeps.store.mlflow_records

    def reached(*args, **kwargs):
        raise Reached(args)

    monkeypatch.setattr(ray, "init", reached)
    monkeypatch.setattr(sweeps.execution.runner, "connect_ray", reached)
    monkeypatch.setattr(sweeps.store.mlflow_records, "load_records", reached)


@pytest.mark.parametrize("argv, files, words", CASES)
def test_bad_input_exits_2_with_one_line_naming_it_and_starts_and_writes_nothing(
        argv, files, words, tmp_path, monkeypatch, capsys, tokens):
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    if argv[1:2] == ["fake"] or "fake" in argv[2:]:
        _fake_sweep(tmp_path)
    if argv[1:2] == ["gone"]:  # a sweep whose model's package is no longer importable
        _fake_sweep(tmp_path, "gone", S(base=", model: 'nosuchpkg.nets:build'"))
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == DIR:
            path.mkdir()
        else:
            path.write_bytes(content if isinstance(content, bytes) else _fill(content, tokens).encode())
    before = _tree(tmp_path)
    code = main([_fill(a, tokens) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.splitlines()) == 1 and err.endswith("\n") and not out, (out, err)
    for word in words:
        assert _fill(word, tokens) in err, (word, err)
    assert "PLANTED" not in err, err  # a planted secret is masked in the one line
    assert _tree(tmp_path) == before  # no runs/, no mlflow.db, nothing in the sweep
    # and Ray was never started: `ray.init` would have raised (`_guard`)


def test_the_table_is_large_and_its_rows_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 50
    assert len({(tuple(c.values[0]), repr(c.values[1])) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv", [["run", "s.yaml"], ["train", "c.yaml"], ["status", "fake"],
                                  ["best", "fake", "--method", "sam"], ["confirm", "fake", "--top", "2"],
                                  ["report", "fake", "--out", "o"]])
def test_the_inputs_of_the_table_without_its_faults_get_past_validation(argv, tmp_path, monkeypatch):
    """The rows fail because of what they add: without it, a command reaches Ray or MLflow."""
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    _fake_sweep(tmp_path)
    (tmp_path / "s.yaml").write_text(S())
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    with pytest.raises(Reached):
        main(argv)


@pytest.mark.parametrize("argv", [["run", "s.yaml"], ["train", "c.yaml"]])
@pytest.mark.parametrize("env, words", [(DEAD, ("no MLflow server",)),
                                        ("file:///{t}/mlruns", ("file store",)), ("mlruns", ("file store",))])
def test_an_unusable_MLFLOW_TRACKING_URI_is_one_line_naming_it(argv, env, words, tmp_path, monkeypatch,
                                                               capsys, tokens):
    """Without --tracking-uri a new sweep or `sweep train` uses $MLFLOW_TRACKING_URI: checked the
    same way, and named as the culprit."""
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    (tmp_path / "s.yaml").write_text(S())
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _fill(env, tokens))
    before = _tree(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and not out, (out, err)
    for word in ("MLFLOW_TRACKING_URI (environment)", repr(_fill(env, tokens)), *words):
        assert word in err, (word, err)
    assert _tree(tmp_path) == before


def test_an_existing_sweep_keeps_its_own_tracking_uri_whatever_the_environment_says(
        tmp_path, monkeypatch, tokens):
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    _fake_sweep(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _fill(DEAD, tokens))
    with pytest.raises(Reached):  # got past the URI check: the sweep's sqlite store is used
        main(["status", "fake"])


COMMANDS = ("run", "resume", "extend", "status", "best", "train", "confirm", "transfer", "report",
            "analyze", "plan", "list", "delete", "example", "suite")


def test_help_lists_every_command_and_each_has_its_help_and_its_function(capsys):
    from sweeps import commands

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("  COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert tuple(listed) == COMMANDS == tuple(commands.COMMANDS)  # every command, in order
    for cmd in COMMANDS:
        assert callable(commands.COMMANDS[cmd])
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0 and capsys.readouterr().out.startswith(f"usage: sweep {cmd} ")


def test_a_sweep_missing_from_its_tracking_store_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fake_sweep(tmp_path)  # sweep.json points at an empty sqlite store
    assert main(["status", "fake"]) == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sweep ")]
    assert ours == ["sweep status: error: sweep 'fake': no MLflow experiment of that name"], ours


def test_a_programming_error_is_not_reported_as_bad_input(tmp_path, monkeypatch):
    import sweeps.store.sweep_access

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.chdir(tmp_path)
    _fake_sweep(tmp_path)
    monkeypatch.setattr(sweeps.store.sweep_access, "read_sweep", broken)
    with pytest.raises(KeyError):  # a traceback, not "error: ..." with exit code 2
        main(["status", "fake"])


@pytest.mark.parametrize("error", ["sweeps.errors.SweepError", "samtrain.errors.ConfigError",
                                   "samtrain.errors.DatasetNotFound", "samtrain.errors.SamtrainError"])
def test_each_packages_error_root_is_caught_by_class_as_bad_input(error, monkeypatch, capsys):
    """Any subclass of `sweeps.errors.UserError` or `samtrain.errors.SamtrainError`, whatever module
    raised it, exits 2 with its message on one line."""
    from importlib import import_module

    from sweeps import commands

    module, _, name = error.rpartition(".")
    cls = getattr(import_module(module), name)

    def raises(**kwargs):
        raise cls("key 'x': value 1 is invalid:\nmust be 2")

    monkeypatch.setitem(commands.COMMANDS, "list", raises)
    assert main(["list"]) == 2
    assert capsys.readouterr().err == "sweep list: error: key 'x': value 1 is invalid: must be 2\n"
