"""Every shape-free hyper-parameter is a traced sweep axis: grid lists, ``sweep.zip`` groups and
``sweep.random`` draws, one compiled program, each member equal to the member run alone."""
import json
import math

import jax
import numpy as np
import pytest
import yaml

from jsrpo import config, load_policy
from jsrpo.cli import main
from jsrpo.config import SWEEPABLE, ConfigError
from jsrpo.sweep import members, run_sweep
from jsrpo.train import make_train


def small(method="ippo", **over):
    raw = {
        "method": method, "tau": 10.0, "eps": 0.2, "num_seeds": 1,
        "env": {"name": "collab_defect"},
        "train": {"total_env_steps": 6 * 8 * 4, "num_envs": 8, "num_steps": 4, "lr": 0.01,
                  "update_epochs": 2, "num_minibatches": 2, "max_grad_norm": 1.0,
                  "anneal_lr": True},
        "log": {"interval": 3, "eval_envs": 8, "final_eval_envs": 16, "progress": False},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(raw.get(k), dict):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    return config.from_dict(raw)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_grid_lists_cross_in_a_fixed_order():
    cfg = small(eps=[0.1, 0.2], train={"lr": [1e-3, 3e-3], "gamma": [0.9, 0.99]}, num_seeds=2)
    ms = members(cfg)
    assert len(ms) == 2 * 2 * 2 * 2
    assert cfg.swept() == ("eps", "train.lr", "train.gamma")
    # eps outermost, then train.lr, then train.gamma, seeds innermost
    got = [(m.eps, m.value("train.lr"), m.value("train.gamma"), m.seed) for m in ms]
    want = [(e, lr, g, s) for e in (0.1, 0.2) for lr in (1e-3, 3e-3) for g in (0.9, 0.99)
            for s in (0, 1)]
    assert got == want
    assert [m.index for m in ms] == list(range(16))
    assert all(m.value("train.clip_eps") == 0.2 for m in ms)  # unswept: the config's value


def test_zip_takes_lists_together():
    cfg = small(train={"lr": [1e-3, 2e-3, 3e-3], "clip_eps": [0.1, 0.2, 0.3]},
                sweep={"zip": [["train.lr", "train.clip_eps"]]})
    got = [(m.value("train.lr"), m.value("train.clip_eps")) for m in members(cfg)]
    assert got == [(1e-3, 0.1), (2e-3, 0.2), (3e-3, 0.3)]


def test_random_search_is_seeded_and_within_ranges():
    sweep = {"random": {"members": 20, "seed": 7, "params": {
        "train.lr": {"log_uniform": [1e-4, 1e-2]}, "train.clip_eps": {"uniform": [0.1, 0.3]},
        "eps": {"choice": [0.05, 0.5]}}}}
    cfg = small(sweep=sweep, num_seeds=2)
    ms = members(cfg)
    assert len(ms) == 40 and [m.seed for m in ms[:4]] == [0, 1, 0, 1]
    assert [m.values for m in ms] == [m.values for m in members(small(sweep=sweep, num_seeds=2))]
    lrs = [m.value("train.lr") for m in ms]
    assert all(1e-4 <= x <= 1e-2 for x in lrs) and len(set(lrs)) == 20
    assert all(0.1 <= m.value("train.clip_eps") <= 0.3 for m in ms)
    assert {m.eps for m in ms} == {0.05, 0.5}
    # log-uniform: about half of the 20 draws below the geometric middle 1e-3
    assert 4 <= sum(x < 1e-3 for x in lrs[::2]) <= 16
    other = small(sweep={"random": {**sweep["random"], "seed": 8}})
    assert [m.values for m in members(other)] != [m.values for m in ms[::2]]


def test_members_equal_members_run_alone():
    """One program over lr x (clip_eps, vf_coef) zipped x gamma: each member's parameters and
    final strategies equal those of the member trained alone with its values as constants in
    the config."""
    cfg = small(train={"lr": [0.01, 0.003], "clip_eps": [0.1, 0.3], "vf_coef": [0.25, 1.0],
                       "gamma": [0.9, 0.99], "adam_eps": [1e-5, 1e-3],
                       "max_grad_norm": [0.5, 2.0]},
                sweep={"zip": [["train.clip_eps", "train.vf_coef"],
                               ["train.adam_eps", "train.max_grad_norm"]]}, seed=2)
    sweep = run_sweep(make_train(cfg))
    assert len(sweep.members) == 2 * 2 * 2 * 2
    for i in (0, 5, 10, 15):
        m = sweep.members[i]
        train = {k.split(".")[1]: v for k, v in m.values if k.startswith("train.")}
        alone = run_sweep(make_train(small(train=train, seed=m.seed)))
        for a, b in zip(leaves(alone.states.params), leaves(sweep.states.params)):
            np.testing.assert_array_equal(a[0], b[i])
        np.testing.assert_array_equal(alone.final["action_probs"][0],
                                      sweep.final["action_probs"][i])


def test_swept_values_change_training():
    cfg = small(train={"lr": [0.01, 0.001]})
    res = run_sweep(make_train(cfg))
    p = leaves(res.states.params)
    assert any(not np.allclose(x[0], x[1]) for x in p)


def test_srpo_sweeps_adversary_entropy_and_records_values(tmp_path):
    raw = {"method": "srpo", "tau": [1.0, 5.0], "eps": 0.2, "env": {"name": "collab_defect"},
           "train": {"total_env_steps": 4 * 8 * 4, "num_envs": 8, "num_steps": 4,
                     "lr": [0.01, 0.02]},
           "srpo": {"adv_entropy_coef": [0.0, 0.1]},
           "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())["members"]
    assert len(summary) == 8
    assert {(m["tau"], m["train.lr"], m["srpo.adv_entropy_coef"]) for m in summary} == {
        (t, lr, c) for t in (1.0, 5.0) for lr in (0.01, 0.02) for c in (0.0, 0.1)}
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("train.lr" in r for r in rows)
    meta = json.loads((tmp_path / "run" / "checkpoint" / "final_meta.json").read_text())
    assert meta["members"][1]["hyper"] == {"train.lr": 0.01, "srpo.adv_entropy_coef": 0.1}
    assert load_policy(tmp_path / "run", 1).name.startswith(
        "srpo-tau1-eps0.2-lr0.01-adv_entropy_coef0.1-s0")
    # the written config reads back as the same config (what --resume compares)
    assert config.load(tmp_path / "run" / "config.yaml") == config.from_dict(raw)


@pytest.mark.parametrize("over, message", [
    ({"train": {"lr": [1e-3, -1.0]}}, "train.lr[1]: got -1.0"),
    ({"train": {"lr": [1e-3, 1e-3]}}, "train.lr: got [0.001, 0.001]; allowed: a list without "
                                      "repeated values"),
    ({"train": {"num_envs": [8, 16]}}, "train.num_envs: got [8, 16]"),
    ({"network": {"activation": ["tanh", "relu"]}}, "network.activation: got ['tanh', 'relu']"),
    ({"sweep": {"zip": [["train.lr", "tau"]]}}, "sweep.zip[0]: got ['train.lr', 'tau']"),
    ({"sweep": {"zip": [["train.lr", "train.num_envs"]]}},
     "sweep.zip[0]: got 'train.num_envs'; allowed: keys of sweepable"),
    ({"sweep": {"zip": "train.lr"}}, "sweep.zip: got 'train.lr'"),
    ({"sweep": {"random": {"members": 4, "params": {"train.lr": {"normal": [0, 1]}}}}},
     "sweep.random.params.train.lr: got {'normal': [0, 1]}"),
    ({"sweep": {"random": {"members": 4, "params": {"train.lr": {"log_uniform": [0, 1]}}}}},
     "sweep.random.params.train.lr.log_uniform[0]: got 0"),
    ({"sweep": {"random": {"members": 4, "params": {"train.gamma": {"uniform": [0.9, 1.5]}}}}},
     "sweep.random.params.train.gamma.uniform[1]: got 1.5; allowed: a number in [0, 1]"),
    ({"sweep": {"random": {"members": 4, "params": {"eps": {"uniform": [0.3, 0.1]}}}}},
     "sweep.random.params.eps.uniform: got [0.3, 0.1]; allowed: [low, high] with low < high"),
    ({"sweep": {"random": {"members": 0, "params": {"eps": {"choice": [0.1]}}}}},
     "sweep.random.members: got 0"),
    ({"sweep": {"random": {"members": 2, "params": {}}}}, "sweep.random.params: got {}"),
    ({"sweep": {"random": {"members": 2, "sead": 1, "params": {"eps": {"choice": [1]}}}}},
     "sweep.random.sead: unknown key (did you mean 'seed'?)"),
    ({"eps": [0.1, 0.2], "sweep": {"random": {"members": 2, "params": {"eps": {"choice": [1]}}}}},
     "eps: got [0.1, 0.2]; allowed: a single value: it is drawn by sweep.random.params.eps"),
    ({"sweep": {"random": {"members": 2, "params": {"tau": {"choice": [1, 2]}}}}},
     "tau: got 'a random parameter'; allowed: a single value for method 'ippo'"),
    ({"train": {"lr_end": [0.0, 1e-4], "anneal_lr": False}},
     "train.lr_end: got [0.0, 0.0001]; allowed: a single value unless train.anneal_lr"),
    ({"sweep": {"grid": 1}}, "sweep.grid: unknown key"),
])
def test_bad_sweeps_name_the_field(over, message):
    with pytest.raises(ConfigError) as e:
        small(**over)
    assert message in str(e.value)


def test_every_sweepable_key_is_a_hyper_field():
    from jsrpo.train import Hyper
    ms = members(small())
    hyper = Hyper.of(ms)
    assert {k.split(".")[-1] for k in SWEEPABLE} == set(hyper.__dataclass_fields__)
    assert all(np.shape(x) == (1,) for x in jax.tree.leaves(hyper))
    assert not math.isnan(float(hyper.max_grad_norm[0]))
