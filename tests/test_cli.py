"""End-to-end CLI run on a tiny config, and validation errors that name the field."""
import json

import pytest
import yaml

from jsrpo import config
from jsrpo.cli import main

TINY = {
    "method": "srpo", "tau": [0.0, 5.0], "eps": 0.2, "num_seeds": 2,
    "env": {"name": "collab_defect", "kwargs": {"cost": 0.4}},
    "train": {"total_env_steps": 8 * 4 * 5, "num_envs": 8, "num_steps": 4, "update_epochs": 1},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": True},
}


def test_train_writes_every_output(tmp_path, capfd):
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg_file), "--out", str(out), "train.lr=1e-3"]) == 0
    printed = capfd.readouterr().out
    assert "env steps/s" in printed and "update 5/5" in printed
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["train"]["lr"] == 1e-3 and resolved["train"]["clip_eps"] == 0.2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 4  # periods ending at updates 2, 4, 5 x 4 members
    assert {r["update"] for r in rows} == {2, 4, 5}
    summary = json.loads((out / "summary.json").read_text())
    assert [(m["tau"], m["seed"]) for m in summary["members"]] == [
        (0.0, 0), (0.0, 1), (5.0, 0), (5.0, 1)]
    for m in summary["members"]:
        assert len(m["return"]) == 2 and len(m["private_cost"]) == 2
        assert m["free_riding"] >= 0 and m["env_steps"] == 160
        assert len(m["action_probs"]) == 2 and m["action_names"] == ["C", "D"]
    assert (out / "checkpoint" / "final").is_dir()
    meta = json.loads((out / "checkpoint" / "final_meta.json").read_text())
    assert meta["network"]["hidden_sizes"] == [64, 64] and len(meta["members"]) == 4
    assert (out / "learning_curve.png").stat().st_size > 10_000
    # A second run into the same directory is refused and leaves the first run intact.
    before = (out / "summary.json").read_text()
    assert main(["train", "--config", str(cfg_file), "--out", str(out)]) == 2
    assert "--overwrite" in capfd.readouterr().err
    assert (out / "summary.json").read_text() == before


@pytest.mark.parametrize("overrides, message", [
    (["trian.lr=1"], "trian: unknown key (did you mean 'train'?)"),
    (["train.lrr=1"], "train.lrr: unknown key (did you mean 'lr'?)"),
    (["method=srpoo"], "method: got 'srpoo' (did you mean 'srpo'?)"),
    (["tau=-1"], "tau: got -1"),
    (["tau=[1, -2]"], "tau[1]: got -2"),
    (["eps=nan"], "eps: got 'nan'; allowed: a finite number >= 0"),
    (["eps=.inf"], "eps: got inf"),
    (["train.num_envs=7"], "train.num_envs: got 7; allowed: an even number"),
    (["train.num_envs=0"], "train.num_envs: got 0; allowed: an integer from 1 to 65536"),
    (["train.num_minibatches=3"], "train.num_minibatches: got 3"),
    (["train.gamma=1.5"], "train.gamma: got 1.5; allowed: a number in [0, 1]"),
    (["srpo.kl_direction=forward"], "srpo.kl_direction: got 'forward'"),
    (["network.activation=sigmoid"], "network.activation: got 'sigmoid'"),
    (["network.hidden_sizes=[64, 0]"], "network.hidden_sizes"),
    (["env.name=coop_gird"], "did you mean 'coop_grid'?"),
    (["env.kwargs.costt=1"], "env.kwargs.costt: unknown key (did you mean 'cost'?)"),
    (["method=ippo", "tau=[1, 2]"],
     "tau: got [1.0, 2.0]; allowed: a single value for method 'ippo'"),
    (["train.anneal_lr=maybe"], "train.anneal_lr: got 'maybe'; allowed: true or false"),
    (["log.interval=2.5"], "log.interval: got 2.5"),
    (["train.total_env_steps=10"], "train.total_env_steps: got 10"),
    (["noequals"], "expected key=value"),
    (["train.lr=0"], "train.lr: got 0; allowed: a finite number > 0"),
    (["train.clip_eps=-0.1"], "train.clip_eps: got -0.1"),
    (["srpo.adv_entropy_coef=-1"], "srpo.adv_entropy_coef: got -1; allowed: a finite number >= 0"),
    (["seed=-3"], "seed: got -3; allowed: an integer from 0 to 2147483647"),
    (["num_seeds=0"], "num_seeds: got 0; allowed: an integer from 1 to 2147483647"),
    (["tau=high"], "tau: got 'high'"),
    (["tau=[]"], "tau: got []"),
    (["tau=[1, 1]"], "a list without repeated values"),
    (["env.kwargs=3"], "env.kwargs: got 3; allowed: a mapping"),
    (["train=5"], "train: got 5; allowed: a mapping"),
    (["network.hidden_sizes=64"], "network.hidden_sizes: got 64"),
    (["network.depth=2"], "network.depth: unknown key"),
    (["checkpoint.every_updates=3"],
     "checkpoint.every_updates: got 3; allowed: 0 or a multiple of log.interval (2)"),
    (["checkpoint.snapshots=[0.5, 1.5]"], "checkpoint.snapshots: got [0.5, 1.5]"),
    (["checkpoint.keep=0"], "checkpoint.keep: got 0; allowed: an integer from 1"),
    (["log.eval_envs=-1"], "log.eval_envs: got -1"),
    (["train.max_grad_norm=0"], "train.max_grad_norm: got 0"),
    (["train.normalize_advantages=1"], "train.normalize_advantages: got 1; allowed: true or false"),
])
def test_bad_overrides_name_the_field(tmp_path, overrides, message):
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(TINY))
    with pytest.raises(config.ConfigError) as e:
        config.load(cfg_file, overrides)
    assert message in str(e.value)


def test_cli_reports_config_errors_without_traceback(tmp_path, capfd):
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capfd.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: [unclosed\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "not valid YAML" in capfd.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capfd.readouterr().err
    assert main(["train"]) == 2
    assert "--config: required" in capfd.readouterr().err
