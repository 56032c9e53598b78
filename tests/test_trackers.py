"""Trackers: the metrics rows reach TensorBoard and Weights & Biases (offline, no network), one
tracker run per member with its hyper-parameters; bad tracker settings are refused by name."""
import json

import pytest
import yaml

from jsrpo import config, trackers
from jsrpo.cli import main

TINY = {
    "method": "srpo", "tau": [0.0, 5.0], "eps": 0.2, "env": {"name": "collab_defect"},
    "train": {"total_env_steps": 4 * 8 * 4, "num_envs": 8, "num_steps": 4, "update_epochs": 1,
              "lr": [0.01, 0.02]},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False},
}


def _config(tmp_path, **log):
    raw = {**TINY, "log": {**TINY["log"], **log}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tensorboard_gets_every_row_of_every_member(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", "--config", str(_config(tmp_path, tensorboard=True)), "--out",
                 str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    for member in range(4):
        acc = EventAccumulator(str(out / "tensorboard" / f"member_{member}"))
        acc.Reload()
        tags = acc.Tags()["tensors"] + acc.Tags()["scalars"]
        assert "team_return" in tags and "return/1" in tags and "final/team_return" in tags
        events = acc.Tensors("team_return") if "team_return" in acc.Tags()["tensors"] else \
            acc.Scalars("team_return")
        mine = [r for r in rows if r["member"] == member]
        assert [e.step for e in events] == [r["env_steps"] for r in mine]


def test_wandb_offline_run_per_member(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    cfg = _config(tmp_path, wandb={"project": "jsrpo-test", "group": "g", "mode": "offline"})
    assert main(["train", "--config", str(cfg), "--out", str(out)]) == 0
    logs = [next(r.glob("*.wandb")).read_bytes()
            for r in sorted((out / "wandb").glob("offline-run-*"))]
    assert len(logs) == 4
    # The offline log (protobuf records) holds each member's name, its config and its rows.
    for label in ("srpo-tau0-eps0.2-lr0.01-s0", "srpo-tau0-eps0.2-lr0.02-s0",
                  "srpo-tau5-eps0.2-lr0.01-s0", "srpo-tau5-eps0.2-lr0.02-s0"):
        found = [x for x in logs if label.encode() in x]
        assert len(found) == 1, (label, len(found), [len(x) for x in logs])
        log = found[0]
        assert b"train.lr" in log and b"team_return" in log and b"learning_curve" in log


@pytest.mark.parametrize("log, message", [
    ({"wandb": {"mode": "offline"}}, "log.wandb.project: got None; allowed: a project name"),
    ({"wandb": {"project": "p", "mode": "local"}}, "log.wandb.mode: got 'local'"),
    ({"wandb": {"project": "p", "team": "x"}}, "log.wandb.team: unknown key"),
    ({"wandb": "p"}, "log.wandb: got 'p'; allowed: null or a mapping"),
    ({"tensorboard": "yes"}, "log.tensorboard: got 'yes'; allowed: true or false"),
])
def test_bad_tracker_settings_name_the_field(log, message):
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.from_dict({**TINY, "log": {**TINY["log"], **log}})


def test_missing_library_is_refused_before_anything_is_written(tmp_path, monkeypatch, capfd):
    real = trackers.importlib.util.find_spec
    monkeypatch.setattr(trackers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    cfg = _config(tmp_path, wandb={"project": "p", "mode": "offline"})
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capfd.readouterr().err
    assert "log.wandb: the wandb package is not installed" in err and ".[trackers]" in err
    assert not (tmp_path / "run").exists()
