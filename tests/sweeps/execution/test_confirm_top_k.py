"""`sweep confirm --top 2` end to end on tiny.yaml (Ray Tune + MLflow): sam's two configs run on
select seeds, only the pick (best mean validation accuracy over them) runs on the confirm seeds,
every run's data_seed is its seed, and a second `confirm` finds nothing missing."""

import pytest
from mlflow.tracking import MlflowClient

from sweeps.cli import main
from sweeps.execution.confirm import confirm_seeds, select_seeds
from tests.support import ROOT

pytestmark = pytest.mark.ray
TINY = ROOT / "search_spaces" / "tiny.yaml"


def test_confirm_top_2_selects_on_select_seeds_and_confirms_only_the_pick(ray_local, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", str(TINY), "--storage", "runs", "--tracking-uri", uri, "--name", "k2"]) == 0
    assert main(["confirm", "k2", "--storage", "runs", "--top", "2", "--seeds", "2"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("k2")
    runs = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'", max_results=100)

    def of(phase, method):
        return [r for r in runs if r.data.tags["phase"] == phase and r.data.tags["method"] == method]

    sam_keys = {r.data.tags["group_key"] for r in of("search", "sam")}
    select = of("select", "sam")
    assert len(sam_keys) == 2 and not of("select", "sgd")      # sgd has one config: no choice
    assert sorted((r.data.tags["group_key"], int(r.data.params["seed"])) for r in select) == sorted(
        (k, s) for k in sam_keys for s in select_seeds(0, 2))
    means = {k: sum(r.data.metrics["val_acc"] for r in select if r.data.tags["group_key"] == k) / 2
             for k in sam_keys}
    confirm = of("confirm", "sam")
    (picked,) = {r.data.tags["group_key"] for r in confirm}
    assert means[picked] == max(means.values())
    assert sorted(int(r.data.params["seed"]) for r in confirm) == confirm_seeds(0, 2) == [1, 2]
    assert sorted(int(r.data.params["seed"]) for r in of("confirm", "sgd")) == [1, 2]
    for r in select + confirm:
        assert r.data.params["data_seed"] == r.data.params["seed"]
        assert r.data.tags["status"] == "completed"
    assert main(["confirm", "k2", "--storage", "runs", "--top", "2", "--seeds", "2"]) == 0
    after = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'", max_results=100)
    assert len(after) == len(runs) == 3 + 4 + 4           # nothing missing: nothing new
