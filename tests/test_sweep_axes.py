"""Every shape-free hyper-parameter is a traced sweep axis: grid lists, ``sweep.zip`` groups and
``sweep.random`` draws, one compiled program, each member equal to the member run alone."""
import json
import math

import jax
import numpy as np
import pytest
import yaml
from child import run_check

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


def test_members_equal_members_run_alone(exact_env):
    run_check(exact_env, "test_sweep_axes", "check_members_equal_members_run_alone")


def check_members_equal_members_run_alone():
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
    # besides the sweepable keys: the env's traced arguments and a frozen seat's pool
    assert {k.split(".")[-1] for k in SWEEPABLE} | {"env", "frozen"} == set(
        hyper.__dataclass_fields__)
    assert all(np.shape(x) == (1,) for x in jax.tree.leaves(hyper))
    assert not math.isnan(float(hyper.max_grad_norm[0]))


def test_env_cost_axis_equals_members_run_alone(exact_env):
    run_check(exact_env, "test_sweep_axes", "check_env_cost_axis_equals_members_run_alone")


def check_env_cost_axis_equals_members_run_alone():
    """An env's private-cost weights (``env.kwargs``) are traced axes too: one program, each
    member's parameters and evaluation equal, bit for bit, to the member trained alone in an
    env built with its cost."""
    cfg = small(env={"name": "collab_defect", "kwargs": {"cost": [0.1, 0.3, 0.6]}}, seed=1)
    assert cfg.swept() == ("env.kwargs.cost",)
    sweep = run_sweep(make_train(cfg))
    for i in (0, 2):
        cost = sweep.members[i].value("env.kwargs.cost")
        alone = run_sweep(make_train(small(env={"name": "collab_defect",
                                                "kwargs": {"cost": cost}}, seed=1)))
        for a, b in zip(leaves(alone.states.params), leaves(sweep.states.params)):
            np.testing.assert_array_equal(a[0], b[i])
        for k in ("action_probs", "team_return", "private_cost"):
            np.testing.assert_array_equal(alone.final[k][0], sweep.final[k][i])
    assert not np.allclose(sweep.final["private_cost"][0], sweep.final["private_cost"][2])


def test_coop_grid_cost_axes_keep_members_independent():
    """Two cost weights crossed on the grid world. A member is unaffected by the other
    members' costs (bit for bit, same member count) and equals the member run alone up to
    float rounding: XLA's CPU kernels for a different member count round differently (a
    ``train.lr`` sweep on this env differs from its members alone by the same ~1e-8)."""
    steps = {"total_env_steps": 3 * 8 * 16, "num_steps": 16}
    grid = lambda costs: small(env={"name": "coop_grid", "kwargs": {
        "move_cost": costs, "collision_penalty": [0.5, 3.0]}}, train=steps)
    a, b = run_sweep(make_train(grid([0.05, 0.4]))), run_sweep(make_train(grid([0.05, 0.9])))
    assert [m.value("env.kwargs.move_cost") for m in a.members] == [0.05, 0.05, 0.4, 0.4]
    for x, y in zip(leaves(a.states.params), leaves(b.states.params)):
        np.testing.assert_array_equal(x[:2], y[:2])
        assert not np.array_equal(x[2:], y[2:])
    alone = run_sweep(make_train(small(env={"name": "coop_grid", "kwargs": {
        "move_cost": 0.4, "collision_penalty": 3.0}}, train=steps)))
    for x, y in zip(leaves(alone.states.params), leaves(a.states.params)):
        np.testing.assert_allclose(x[0], y[3], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(alone.final["private_cost"][0], a.final["private_cost"][3],
                               rtol=1e-5)
    assert a.final["private_cost"][3].sum() > a.final["private_cost"][0].sum()


def test_env_cost_axis_in_random_search_zip_and_reports(tmp_path):
    cfg = small(env={"name": "coop_grid"}, sweep={"random": {"members": 3, "params": {
        "env.kwargs.move_cost": {"uniform": [0.0, 0.5]}}}})
    ms = members(cfg)
    assert all(0.0 <= m.value("env.kwargs.move_cost") <= 0.5 for m in ms)
    assert all(m.value("env.kwargs.collision_penalty") == 2.0 for m in ms)  # the env's default
    cfg = small(env={"name": "overcooked", "kwargs": {"move_cost": [0.0, 0.1],
                                                     "interact_cost": [0.2, 0.3]}},
                sweep={"zip": [["env.kwargs.move_cost", "env.kwargs.interact_cost"]]})
    assert [(m.value("env.kwargs.move_cost"), m.value("env.kwargs.interact_cost"))
            for m in members(cfg)] == [(0.0, 0.2), (0.1, 0.3)]
    assert cfg.env.base_kwargs == {"move_cost": 0.0, "interact_cost": 0.2}
    assert cfg.env.member_kwargs(members(cfg)[1].swept(cfg.swept())) == {
        "move_cost": 0.1, "interact_cost": 0.3}


@pytest.mark.parametrize("env, over, message", [
    ({"name": "coop_grid", "kwargs": {"move_cost": [0.1, 0.1]}}, {},
     "env.kwargs.move_cost: got [0.1, 0.1]; allowed: a list without repeated values"),
    ({"name": "coop_grid", "kwargs": {"move_cost": [0.1, "x"]}}, {},
     "env.kwargs.move_cost[1]: got 'x'; allowed: a finite number"),
    ({"name": "stag_hunt"}, {"sweep": {"random": {"members": 2, "params": {
        "env.kwargs.cost": {"uniform": [0, 1]}}}}},
     "sweep.random.params: got 'env.kwargs.cost'; allowed: keys of sweepable"),
    ({"name": "coop_grid"}, {"sweep": {"zip": [["env.kwargs.move_cost", "env.kwargs.x"]]}},
     "sweep.zip[0]: got 'env.kwargs.x'"),
])
def test_bad_env_axes_name_the_field(env, over, message):
    with pytest.raises(ConfigError) as e:
        small(env=env, **over)
    assert message in str(e.value)


@pytest.mark.parametrize("env, over", [
    ({"name": "coop_grid", "kwargs": {"episode_length": [10, 20]}}, {}),  # shapes: not traced
    ({"name": "coop_grid", "kwargs": {"move_cost": [0.1, -1.0]}}, {}),
    ({"name": "coop_grid"}, {"sweep": {"random": {"members": 2, "params": {
        "env.kwargs.respawn_prob": {"uniform": [0.5, 1.5]}}}}}),
])
def test_env_axis_values_are_checked_by_the_env_before_compiling(env, over):
    cfg = small(env=env, **over)
    with pytest.raises(ValueError, match=r"env\.kwargs\.(move_cost: got -1\.0|respawn_prob: "
                                         r"got 1\.5|episode_length: got \[10, 20\]; allowed: "
                                         r"an integer)"):
        make_train(cfg)


def test_cost_sweep_through_the_cli_reports_each_members_game(tmp_path, capsys):
    """A run over the collaboration cost: every member's equilibrium report uses its own game,
    its policy and label carry its cost, and cross-play refuses to pool different games."""
    from envs.matrix_games import collab_defect_payoffs
    from jsrpo.equilibria import rqe

    raw = {"method": "srpo", "tau": 2.0, "eps": 0.2,
           "env": {"name": "collab_defect", "kwargs": {"cost": [0.2, 0.7]}},
           "train": {"total_env_steps": 4 * 8 * 4, "num_envs": 8, "num_steps": 4},
           "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(run)]) == 0
    assert "cost=0.7 seed=0" in capsys.readouterr().out
    rows = json.loads((run / "summary.json").read_text())["members"]
    assert [r["env.kwargs.cost"] for r in rows] == [0.2, 0.7]
    for r in rows:
        eqs = rqe.rqe_equilibria_grid(collab_defect_payoffs(r["env.kwargs.cost"])[0], [2.0],
                                      [0.2])[0]
        assert any(np.allclose(r["nearest_rqe"][0], e.x0, atol=1e-6) for e in eqs)
    assert rows[0]["nearest_rqe"] != rows[1]["nearest_rqe"]
    assert load_policy(run, 1).name.startswith("srpo-tau2-eps0.2-cost0.7-s0")
    assert config.load(run / "config.yaml") == config.from_dict(raw)
    assert main(["crossplay", str(run), "--out", str(tmp_path / "xp")]) == 2
    assert "members from different environments cannot be pooled" in capsys.readouterr().err


def test_an_env_registered_with_other_traced_names_is_refused():
    import envs
    from envs.coop_grid import CoopGrid

    if "coop_grid_mislabelled" not in envs.registered():
        envs.register("coop_grid_mislabelled", CoopGrid, traced=("move_cost",))
    with pytest.raises(ValueError, match="registered with traced=\\('move_cost',\\) but its "
                                         "environment declares"):
        envs.make("coop_grid_mislabelled")


def test_null_is_not_a_value_to_draw():
    with pytest.raises(ConfigError, match="sweep.random.params.train.max_grad_norm.choice: got "
                                          "\\[None, 0.5\\]; allowed: numbers"):
        small(sweep={"random": {"members": 2, "params": {
            "train.max_grad_norm": {"choice": [None, 0.5]}}}})


def test_cross_play_compares_envs_with_their_defaults():
    from jsrpo.crossplay import _with_defaults
    from jsrpo.rundir import EnvSpec

    assert _with_defaults(EnvSpec("coop_grid", {"move_cost": 0.2})) == \
        _with_defaults(EnvSpec("coop_grid", {}))
    assert _with_defaults(EnvSpec("coop_grid", {"move_cost": 0.3})) != \
        _with_defaults(EnvSpec("coop_grid", {}))
