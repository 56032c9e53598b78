"""``jsrpo sweep``: structural groups (one program each), one sweep directory, resumable, and
``jsrpo report`` over it."""
import csv
import json
import shutil

import pytest
import yaml

from jsrpo import launcher
from jsrpo.cli import main

SWEEP = {
    "method": "ippo", "eps": [0.1, 0.3], "env": {"name": "collab_defect"},
    "train": {"total_env_steps": 4 * 8 * 4, "num_envs": 8, "num_steps": 4, "update_epochs": 1},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False},
    "structure": {"train.num_envs": [4, 8], "network.hidden_sizes": [[16], [32, 32]]},
}


def _file(tmp_path, raw=SWEEP):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_groups_train_resume_and_report(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", str(_file(tmp_path)), "--out", str(out)]) == 0
    groups = sorted(p.name for p in (out / "groups").iterdir())
    assert len(groups) == 4 and groups[0].startswith("000-num_envs4-hidden_sizes16")
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["members"]) == 4 * 2 and data["swept"] == [
        "train.num_envs", "network.hidden_sizes", "eps", "seed"]
    m = data["members"][-1]
    assert m["train.num_envs"] == 8 and m["network.hidden_sizes"] == [32, 32] and m["eps"] == 0.3
    assert "team_return" in m and m["run_dir"].endswith(groups[-1])
    with open(out / "sweep.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    assert (out / "sweep_returns.png").stat().st_size > 5000
    # Again: every group is done, nothing is trained; a lost group is trained again.
    before = (out / "groups" / groups[0] / "summary.json").read_text()
    capsys.readouterr()
    shutil.rmtree(out / "groups" / groups[2])
    assert main(["sweep", str(_file(tmp_path)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resuming the sweep" in printed and printed.count("(done)") == 3
    assert f"{groups[2]} (new)" in printed
    assert (out / "groups" / groups[0] / "summary.json").read_text() == before
    assert len(json.loads((out / "sweep.json").read_text())["members"]) == 8
    # A ranked report over the whole sweep directory.
    assert main(["report", str(out)]) == 0
    rows = json.loads((out / "report.json").read_text())["settings"]
    assert len(rows) == 8 and all(r["n"] == 1 for r in rows)


def test_bad_sweeps_stop_before_anything_runs(tmp_path, capfd):
    out = tmp_path / "sw"
    bad = dict(SWEEP, method="srpo", structure={"train.num_envs": [8, 7]})
    assert main(["sweep", str(_file(tmp_path, bad)), "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert "group {'train.num_envs': 7}: train.num_envs: got 7; allowed: an even number" in err
    assert not out.exists()
    for structure, message in [({}, "structure: got {}"),
                               ({"train.lr": [1e-3, 1e-4]}, "structure.train.lr: train.lr "
                                                            "changes no shape"),
                               ({"train.num_envs": 8}, "structure.train.num_envs: got 8")]:
        assert main(["sweep", str(_file(tmp_path, dict(SWEEP, structure=structure))),
                     "--out", str(out)]) == 2
        assert message in capfd.readouterr().err
    # An existing sweep directory of another sweep is refused.
    (out).mkdir()
    (out / "sweep.yaml").write_text("method: srpo\n")
    assert main(["sweep", str(_file(tmp_path)), "--out", str(out)]) == 2
    assert "holds another sweep" in capfd.readouterr().err


def test_group_names_are_safe():
    assert launcher._slug({"network.hidden_sizes": [64, 64], "env.kwargs.layout": "a/b"}) == \
        "hidden_sizes64x64-layouta_b"


@pytest.mark.parametrize("key", ["train.gamma", "tau", "env.kwargs.cost"])
def test_traced_keys_are_not_structure(tmp_path, capfd, key):
    assert main(["sweep", str(_file(tmp_path, dict(SWEEP, structure={key: [0.9, 0.99]}))),
                 "--out", str(tmp_path / "x")]) == 2
    assert "changes no shape" in capfd.readouterr().err
