"""``jsrpo report``: settings ranked by a metric over seeds, and the best one as a config."""
import json

import numpy as np
import pytest
import yaml

from jsrpo import config, metrics
from jsrpo.cli import main

TINY = {
    "method": "ippo", "eps": [0.1, 0.3], "num_seeds": 3, "env": {"name": "collab_defect"},
    "train": {"total_env_steps": 4 * 8 * 4, "num_envs": 8, "num_steps": 4, "update_epochs": 1,
              "lr": [0.01, 0.05]},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 64, "progress": False},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "c.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["train", "--config", str(tmp / "c.yaml"), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def test_settings_ranked_by_iqm_over_seeds(run, capsys):
    assert main(["report", str(run), "--metric", "free_riding", "--lower-is-better"]) == 0
    assert "settings ranked by free_riding (lower is better" in capsys.readouterr().out
    result = json.loads((run / "report.json").read_text())
    rows = result["settings"]
    assert len(rows) == 4 and all(r["n"] == 3 and sorted(r["seeds"]) == [0, 1, 2] for r in rows)
    members = json.loads((run / "summary.json").read_text())["members"]
    for r in rows:
        mine = [m["free_riding"] for m in members
                if m["eps"] == r["values"]["eps"] and m["train.lr"] == r["values"]["train.lr"]]
        assert r["iqm"] == pytest.approx(metrics.iqm(np.asarray(mine)))
    assert [r["iqm"] for r in rows] == sorted(r["iqm"] for r in rows)
    best = config.load(run / "best_config.yaml")
    assert best.sweep.random_members == 0 and best.num_seeds == 3
    assert (best.epss, best.values("train.lr")) == ((rows[0]["values"]["eps"],),
                                                   (rows[0]["values"]["train.lr"],))
    assert (run / "report.txt").read_text().count("\n") == 5


def test_crossplay_metric_and_bad_metrics(run, tmp_path, capfd):
    assert main(["report", str(run), "--metric", "crossplay", "--out", str(tmp_path)]) == 2
    assert "has no crossplay.json (run jsrpo crossplay RUN_DIR first)" in capfd.readouterr().err
    assert main(["crossplay", str(run), "--episodes", "4", "--bootstrap-reps", "10",
                 "--out", str(run)]) == 0
    assert main(["report", str(run), "--metric", "crossplay", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "report.json").read_text())["settings"]
    assert [r["iqm"] for r in rows] == sorted((r["iqm"] for r in rows), reverse=True)
    assert main(["report", str(run), "--metric", "team_retrun", "--out", str(tmp_path)]) == 2
    err = capfd.readouterr().err
    assert "--metric: got 'team_retrun'; allowed: crossplay, " in err and "team_return" in err
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "has no summary.json" in capfd.readouterr().err
