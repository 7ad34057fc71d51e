"""`sweep train`'s experiment per config: other values (seed included) are another run under the
same name; the one experiment an earlier version wrote is reused for the values it holds."""

from samtrain.config.train_config import TrainConfig
from sweeps.execution import train_command
from sweeps.store.sweep_dir import sweep_dir


def test_each_distinct_config_has_its_own_experiment(tmp_path):
    d = sweep_dir(tmp_path, "d1")
    a, b = TrainConfig(epochs=2), TrainConfig(epochs=3)
    other_data = a.model_copy(update={"data_seed": 4})  # same group key, other data
    names = {train_command.train_experiment(d, c)
             for c in (a, b, a.model_copy(update={"seed": 1}), other_data)}
    assert names == {f"train-{a.group_key()}-s0", f"train-{b.group_key()}-s0",
                     f"train-{a.group_key()}-s1", f"train-{a.group_key()}-s0-d4"}
    assert train_command.train_experiment(d, TrainConfig(epochs=2)) == f"train-{a.group_key()}-s0"


def test_the_legacy_experiment_serves_only_the_values_it_holds(tmp_path, monkeypatch):
    d = sweep_dir(tmp_path, "d1")
    (d.root / "train").mkdir(parents=True)
    held = TrainConfig(epochs=2)
    monkeypatch.setattr(train_command, "_exists", lambda path: path == d.at("train"))
    monkeypatch.setattr(train_command, "stored_trials", lambda path: [("train", held, "train")])
    assert train_command.train_experiment(d, TrainConfig(epochs=2)) == "train"
    other = TrainConfig(epochs=3)
    assert train_command.train_experiment(d, other) == f"train-{other.group_key()}-s0"
