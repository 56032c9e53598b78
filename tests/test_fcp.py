"""Fictitious Co-Play: a pool drawn into every seat (``env.frozen.seat: each``) on jsrpo's env
contract (by comparison with the inner game), one learning seat in the core, the deployed view of
such a run, its checks, and the two-stage ``method: fcp`` run end to end (train, resume between
stages, cross-play, render)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import envs
from jsrpo import config, fcp, partners, population
from jsrpo.config import ConfigError
from jsrpo.frozen import FrozenSeats
from jsrpo.rundir import RunFormatError, RunMeta


def _each(name="coop_grid", spec="delivering"):
    inner = envs.make(name)
    agents = [[partners.parse(name, spec, seat=s) for s in range(2)]]
    return inner, FrozenSeats(inner, None, agents)


def _action(agent, obs):
    logits, _ = agent.policy(agent.params, (), obs, jax.random.PRNGKey(0))
    return int(jnp.argmax(logits))


def test_each_draws_the_frozen_seat_per_episode_evenly():
    _, env = _each()
    seats = jax.vmap(lambda k: env.reset(k)[1].seat)(jax.random.split(jax.random.PRNGKey(0),
                                                                       2000))
    assert 0.45 < float(np.mean(np.asarray(seats))) < 0.55


@pytest.mark.parametrize("key", [0, 1, 2, 3])
def test_each_is_the_inner_game_with_the_pool_in_the_drawn_seat(key):
    inner, env = _each()
    assert env.agents == ["learner"] and env.num_agents == 1 and env.seat_onehot
    obs, state = env.reset(jax.random.PRNGKey(key))
    frozen = int(state.seat)
    own = 1 - frozen
    agent_names = inner.agents
    inner_obs = inner.get_obs(state.inner)
    np.testing.assert_array_equal(obs["learner"], np.concatenate(
        [np.asarray(inner_obs[agent_names[own]], np.float32), np.eye(2)[own]]))
    np.testing.assert_array_equal(state.obs, inner_obs[agent_names[frozen]])
    pool_move = _action(partners.parse("coop_grid", "delivering", seat=frozen), state.obs)
    k = jax.random.PRNGKey(10 + key)
    obs2, state2, rew, dones, infos = env.step_env(k, state, {"learner": jnp.int32(3)},
                                                   env.default_params)
    iobs, istate, irew, _, iinfos = inner.step_env(
        jax.random.split(k)[1], state.inner,
        {agent_names[own]: jnp.int32(3), agent_names[frozen]: jnp.int32(pool_move)},
        inner.default_params)
    assert int(state2.action) == pool_move
    np.testing.assert_array_equal(obs2["learner"][:-2], iobs[agent_names[own]])
    assert float(rew["learner"]) == float(irew[agent_names[own]])
    assert float(state2.reward) == float(irew[agent_names[frozen]])
    np.testing.assert_array_equal(infos["private_cost"],
                                  np.asarray(iinfos["private_cost"])[[own]])


def test_egocentric_observations_get_no_seat_id():
    _, env = _each("overcooked", "onion")
    assert not env.seat_onehot
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert obs["learner"].shape == state.obs.shape


def test_an_episode_against_a_drawn_seat_unwraps_into_the_inner_game():
    from jsrpo.render import record_episode
    inner = envs.make("coop_grid", episode_length=6)
    env = FrozenSeats(inner, None, [[partners.parse("coop_grid", "stay", seat=s)
                                     for s in range(2)]])
    me = partners.parse("coop_grid", "random", seat=0)
    for seed in range(4):
        episode = record_episode(env, [me], jax.random.PRNGKey(seed))
        frozen = int(np.asarray(episode["states"].seat)[0])
        game, full, names = env.unwrap(episode, ["me"])
        assert game is inner and names[frozen] == "frozen stay" and names[1 - frozen] == "me"
        stay = partners.parse("coop_grid", "stay", seat=frozen)
        assert np.all(full["actions"][:, frozen] == _action(stay, episode["states"].obs[0]))
        np.testing.assert_array_equal(full["actions"][:, 1 - frozen], episode["actions"][:, 0])


def test_each_needs_seats_that_look_alike():
    from envs.matrix_games import MatrixGame
    uneven = MatrixGame(np.zeros((2, 2, 3)), np.zeros((2, 3)))  # 2 moves for seat 0, 3 for 1
    stay = partners.parse("coop_grid", "stay", seat=0)
    with pytest.raises(ValueError, match="env.frozen.seat: 'each' needs seats with equal"):
        FrozenSeats(uneven, None, [[stay, stay]])


def _raw(**extra):
    raw = {"method": "fcp", "env": {"name": "coop_grid"}, "num_seeds": 2,
           "train": {"total_env_steps": 4 * 16 * 4, "num_envs": 4, "num_steps": 16},
           "network": {"hidden_sizes": [8]},
           "log": {"interval": 1, "eval_envs": 4, "final_eval_envs": 4, "progress": False},
           "checkpoint": {"every_updates": 2},
           "fcp": {"num_partners": 2, "partner_env_steps": 4 * 16 * 8, "snapshots": [0.25, 0.5]}}
    return config.merge(raw, extra)


@pytest.mark.parametrize("extra, match", [
    ({"env": {"name": "tag"}}, "method: got 'fcp'; allowed: a method other than 'fcp' for tag"),
    ({"env": {"frozen": {"seat": 0, "policies": ["stay"]}}},
     "env.frozen.seat: got 0; allowed: 'each' with method 'fcp'"),
    ({"fcp": {"snapshots": [0.5, 1.0]}}, "fcp.snapshots: got .*; allowed: fractions in"),
    ({"fcp": {"partner_method": "srpo"}}, "fcp.partner_method: got 'srpo'; allowed: "),
    ({"fcp": {"num_partner": 3}}, "fcp.num_partner.*did you mean 'num_partners'"),
    ({"env": {"frozen": {"seat": "each", "policies": ["stay"], "risk": -1}}},
     "env.frozen.risk: got -1; allowed: "),
    ({"env": {"frozen": {"seat": "each", "policies": ["stay"], "risk_measure": "cvar"}}},
     "env.frozen.risk_measure: got 'cvar'; allowed: 'mean_variance', 'entropic'"),
    ({"seed": 999, "fcp": {"partner_seed": 1000}},
     "fcp.partner_seed: got 1000; allowed: a first seed whose 2 seeds miss the agents'"),
    ({"method": "srpo", "env": {"frozen": {"seat": 1, "policies": ["stay"]}}},
     "method: got 'srpo'; allowed: 'ippo' or 'self_play' when one seat learns"),
])
def test_fcp_configs_are_checked_by_name(extra, match):
    with pytest.raises(ConfigError, match=match):
        config.from_dict(_raw(**extra))


def test_a_staged_fcp_run_on_a_game_whose_seats_differ_is_refused_before_training(tmp_path,
                                                                                  capsys):
    from jsrpo.cli import main
    raw = _raw(env={"name": "bimatrix", "kwargs": {"row": [[1, 0, 2], [0, 1, 0]]}},
               fcp={"partner_method": "ippo"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out",
                 str(tmp_path / "run")]) == 2
    assert "a game whose seats look alike" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_fixed_seat_and_one_shot_states_keep_their_structure():
    # periodic checkpoints hold these states: their structure must not change for runs that
    # do not use a drawn seat or repeated rounds (older checkpoints restore)
    env = FrozenSeats(envs.make("tag"), 2, [partners.parse("tag", "flee", seat=2)])
    assert env.reset(jax.random.PRNGKey(0))[1].seat is None
    assert envs.make("stag_hunt").reset(jax.random.PRNGKey(0))[1].last is None


def test_the_pool_holds_every_partner_at_each_snapshot_and_at_the_end(tmp_path):
    cfg = config.from_dict(_raw())
    stage1 = fcp.partner_config(cfg)
    assert (stage1.method, stage1.num_seeds, stage1.seed) == ("self_play", 2, 1000)
    assert stage1.checkpoint.snapshots == (0.25, 0.5)
    assert fcp.pool(cfg, tmp_path) == [f"{tmp_path}@2", f"{tmp_path}@4", str(tmp_path)]
    assert "fcp" not in config.to_dict(stage1)  # other methods' configs say nothing of it


def test_a_deploy_field_round_trips_and_a_bad_one_is_refused(fcp_run):
    raw = json.loads((fcp_run / "run" / "checkpoint" / "final_meta.json").read_text())
    assert raw["deploy"] == {"num_seats": 2, "seat_id_in_obs": True, "seats": [0, 1]}
    meta = RunMeta.from_json(raw)
    assert meta.num_seats == 1 and meta.deployed().num_seats == 2
    assert meta.deployed().env.frozen is None and meta.deployed().trained_against is not None
    with pytest.raises(RunFormatError, match="field 'deploy'"):
        RunMeta.from_json(raw | {"deploy": {"num_seats": 1, "seat_id_in_obs": True}})


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def fcp_run(tmp_path_factory):
    """A staged FCP run on coop_grid (2 self-play partners, snapshots at 1/4 and 1/2)."""
    from jsrpo.cli import main
    tmp = tmp_path_factory.mktemp("fcp")
    (tmp / "fcp.yaml").write_text(yaml.safe_dump(_raw()))
    assert main(["train", "--config", str(tmp / "fcp.yaml"), "--out", str(tmp / "run")]) == 0
    return tmp


def test_a_staged_fcp_run_trains_its_partners_then_its_agents(fcp_run):
    from jsrpo.checkpoint import load_run
    run = fcp_run / "run"
    assert (run / population.STAGES).is_file() and (run / "partners" / "summary.json").is_file()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    partners_dir = str((run / "partners").resolve())
    assert saved["method"] == "fcp" and saved["env"]["frozen"]["seat"] == "each"
    assert saved["env"]["frozen"]["policies"] == [f"{partners_dir}@2", f"{partners_dir}@4",
                                                  partners_dir]
    ckpt = load_run(run)
    assert ckpt.meta.num_seats == 2 and ckpt.meta.hero_seats == (0, 0)
    a0, a1 = ckpt.hero(1, 0), ckpt.hero(1, 1)
    assert a0.name == "fcp-eps0.1-s1-seat0"
    np.testing.assert_array_equal(a0.params["seat_id"], [1, 0])
    np.testing.assert_array_equal(a1.params["seat_id"], [0, 1])
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["members"]) == 2


def test_an_fcp_run_stopped_between_stages_resumes_into_the_same_agents(fcp_run):
    import shutil

    from jsrpo.checkpoint import load_run
    from jsrpo.cli import main
    run, copy = fcp_run / "run", fcp_run / "copy"
    shutil.copytree(run, copy)
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "learning_curve.png"):
        (copy / name).unlink()
    shutil.rmtree(copy / "checkpoint")
    # the pool points at the original's partners: the copy's own are the same files
    assert main(["train", "--resume", str(copy)]) == 0
    a, b = load_run(run), load_run(copy)
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
    assert main(["train", "--resume", str(copy)]) == 0  # complete: nothing to do


def test_fcp_agents_cross_play_and_render_as_two_seat_policies(fcp_run):
    from jsrpo.cli import main
    out = fcp_run / "xp"
    assert main(["crossplay", str(fcp_run / "run"), str(fcp_run / "run" / "partners"),
                 "--out", str(out), "--episodes", "4", "--partners", "stay"]) == 0
    res = json.loads((out / "crossplay.json").read_text())
    assert np.asarray(res["team_return"]).shape == (4, 4)
    assert sorted(res["summary"]["team_return"]["methods"]) == ["fcp", "self_play"]
    gif = fcp_run / "fcp.gif"
    assert main(["render", str(fcp_run / "run"), "--out", str(gif), "--frames", "2"]) == 0


def test_a_run_with_one_fixed_learning_seat_renders_as_trained_and_is_refused_by_crossplay(
        fcp_run, capsys):
    from jsrpo.cli import main
    cfg = tmp = fcp_run / "fixed.yaml"
    raw = _raw(method="ippo", env={"frozen": {"seat": 0, "policies": ["stay"]}})
    raw.pop("fcp")
    cfg.write_text(yaml.safe_dump(raw))
    run = fcp_run / "fixed"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    meta = json.loads((run / "checkpoint" / "final_meta.json").read_text())
    assert meta["deploy"] == {"num_seats": 2, "seat_id_in_obs": False, "seats": [1]}
    gif = fcp_run / "fixed.gif"
    assert main(["render", str(run), "--out", str(gif), "--frames", "2"]) == 0
    assert gif.is_file()
    assert main(["crossplay", str(run), "--out", str(tmp.parent / "x"), "--partners",
                 "none"]) == 2
    assert "learned seat(s) [1] only" in capsys.readouterr().err
