"""MPE Tag and frozen seats: the env on jsrpo's contract (by hand-placed agents), the scripted
runners and chasers, the frozen-seat wrapper (its draws, its equality with the inner game, its
checks), and runner pre-training, chasers against the frozen runner and both cross-play axes end
to end."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import envs
from jsrpo import config, partners
from jsrpo.config import FrozenConfig
from jsrpo.frozen import FrozenSeats, build_env
from jsrpo.partners.tag import tag_agent
from jsrpo.vec_env import VecEnv

NOOP = {"adversary_0": 0, "adversary_1": 0, "agent_0": 0}


def _placed(env, chaser0, chaser1, runner, obstacles=((-0.8, -0.8), (0.8, -0.8))):
    """A state with agents at rest at the given positions."""
    _, state = env.reset(jax.random.PRNGKey(0))
    pos = jnp.asarray([chaser0, chaser1, runner, *obstacles], jnp.float32)
    world = state.world.replace(p_pos=pos, p_vel=jnp.zeros_like(pos))
    return state.replace(world=world)


def _step(env, state, actions=NOOP):
    acts = {a: jnp.int32(v) for a, v in actions.items()}
    return env.step_env(jax.random.PRNGKey(1), state, acts, env.default_params)


def test_a_catch_pays_each_chaser_one_and_costs_the_runner():
    env = envs.make("tag")
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert [o.shape for o in obs.values()] == [(14,)] * 3  # JaxMARL declares 16 and 14
    assert np.all(np.asarray(obs["agent_0"])[12:] == 0)  # the runner's padding
    state = _placed(env, (0.0, 0.0), (0.5, 0.5), (0.05, 0.0))  # 0.05 < radii 0.075 + 0.05
    _, _, rew, _, infos = _step(env, state)
    assert [float(rew[a]) for a in env.agents] == pytest.approx([1.0, 1.0, -1.0])
    assert np.asarray(infos["catches"]).tolist() == [1.0, 0.0, 1.0]
    state = _placed(env, (0.0, 0.0), (0.5, 0.5), (0.3, 0.0))
    _, state, rew, _, infos = _step(env, state, {**NOOP, "adversary_1": 2})
    assert float(rew["adversary_0"]) == 0.0 and np.asarray(infos["catches"]).sum() == 0
    # MPE moves by the velocity before the push: the push shows one step later
    _, _, _, _, infos = _step(env, state, {**NOOP, "adversary_1": 2})
    moved = np.asarray(infos["distance"])
    assert moved[1] > 0 and moved[0] == moved[2] == 0  # only the chaser that pushed moved


def test_episodes_last_max_steps():
    env = envs.make("tag", max_steps=7)
    _, state = env.reset(jax.random.PRNGKey(0))
    for t in range(7):
        _, state, _, dones, _ = _step(env, state)
    assert t == 6 and bool(dones["__all__"]) and int(state.t) == 7


@pytest.mark.parametrize("kwargs, field", [({"max_steps": 0}, "max_steps"),
                                           ({"reward_scale": -1}, "reward_scale"),
                                           ({"num_obstacles": 11}, "num_obstacles")])
def test_bad_tag_arguments_are_refused_by_name(kwargs, field):
    with pytest.raises(ValueError, match=f"env.kwargs.{field}"):
        envs.make("tag", **kwargs)


# ------------------------------------------------------------------ scripted agents
def _action(agent, obs):
    logits, _ = agent.policy(agent.params, (), obs, jax.random.PRNGKey(0))
    return int(jnp.argmax(logits))


def test_flee_runs_from_the_nearest_chaser_and_chase_runs_at_the_runner():
    env = envs.make("tag")
    flee, chase = tag_agent("flee", env.others_at), tag_agent("chase", env.others_at)
    # runner at the centre, nearest chaser to its right (+x), the other far below (-y)
    state = _placed(env, (0.2, 0.0), (0.0, -0.7), (0.0, 0.0))
    obs = env.world.get_obs(state.world)
    runner_obs = jnp.pad(obs["agent_0"], (0, 2))
    assert _action(flee, runner_obs) == 1  # -x: away from the nearest chaser
    assert _action(chase, obs["adversary_1"]) == 4  # +y: up towards the runner
    # at the arena's right edge with a chaser to its left, it turns along the edge, not out
    state = _placed(env, (0.7, 0.05), (-0.7, -0.7), (0.85, 0.0))
    runner_obs = jnp.pad(env.world.get_obs(state.world)["agent_0"], (0, 2))
    assert _action(flee, runner_obs) != 2


def test_tag_agents_play_their_own_seats_only():
    assert partners.parse("tag", "flee", seat=2).name == "flee"
    with pytest.raises(ValueError, match="cannot play seat 0"):
        partners.parse("tag", "flee", seat=0)
    with pytest.raises(ValueError, match="cannot play seat 2"):
        partners.parse("tag", "chase", seat=2)
    assert partners.parse("tag", "random:epsilon=0.5", seat=1).name == "random+eps0.5"


# ------------------------------------------------------------------ frozen seats
def test_a_frozen_seat_plays_its_policy_in_the_inner_game():
    inner = envs.make("tag")
    flee = partners.parse("tag", "flee", seat=2)
    env = FrozenSeats(inner, 2, [flee])
    assert env.agents == ["adversary_0", "adversary_1"] and env.num_agents == 2
    obs, state = env.reset(jax.random.PRNGKey(3))
    acts = {"adversary_0": jnp.int32(2), "adversary_1": jnp.int32(3)}
    runner = _action(flee, state.obs)
    key = jax.random.PRNGKey(4)
    obs2, state2, rew, dones, infos = env.step_env(key, state, acts, env.default_params)
    # the wrapper splits its key: the same inner step with the runner's action
    inner_key = jax.random.split(key)[1]
    iobs, istate, irew, _, iinfos = inner.step_env(inner_key, state.inner,
                                                   acts | {"agent_0": jnp.int32(runner)},
                                                   inner.default_params)
    np.testing.assert_array_equal(state2.inner.world.p_pos, istate.world.p_pos)
    np.testing.assert_array_equal(state2.obs, iobs["agent_0"])
    assert set(rew) == set(env.agents) and float(rew["adversary_0"]) == float(irew["adversary_0"])
    np.testing.assert_array_equal(infos["catches"], np.asarray(iinfos["catches"])[:2])


def test_the_frozen_policy_is_drawn_per_episode_by_its_weights():
    inner = envs.make("tag")
    agents = [partners.parse("tag", s, seat=2) for s in ("flee", "random", "random:epsilon=0.1")]
    env = FrozenSeats(inner, 2, agents, weights=[1.0, 0.0, 3.0])
    draws = jax.vmap(lambda k: env.reset(k)[1].policy)(jax.random.split(jax.random.PRNGKey(0),
                                                                          4000))
    counts = np.bincount(np.asarray(draws), minlength=3)
    assert counts[1] == 0 and 0.2 < counts[0] / 4000 < 0.3
    only = env.one_policy(env.default_params, 1)
    draws = jax.vmap(lambda k: env.reset(k, only)[1].policy)(jax.random.split(
        jax.random.PRNGKey(1), 64))
    assert np.all(np.asarray(draws) == 1)


def test_an_unwrapped_episode_replays_in_the_inner_game():
    from jsrpo.render import record_episode
    inner = envs.make("tag", max_steps=12)
    env = FrozenSeats(inner, 2, [partners.parse("tag", "flee", seat=2)])
    chasers = [partners.parse("tag", "random", seat=s) for s in (0, 1)]
    episode = record_episode(env, chasers, jax.random.PRNGKey(0))
    game, full, names = env.unwrap(episode, ["a", "b"])
    assert game is inner and names == ["a", "b", "frozen flee"]
    assert full["actions"].shape == (12, 3) and full["rewards"].shape == (12, 3)
    at = lambda t: jax.tree.map(lambda x: jnp.asarray(x)[t], full["states"])
    for t in range(11):  # the inner game with the recorded moves of all three seats
        acts = {a: jnp.int32(full["actions"][t, i]) for i, a in enumerate(inner.agents)}
        _, nxt, rew, _, _ = inner.step_env(jax.random.PRNGKey(t), at(t), acts,
                                           inner.default_params)
        np.testing.assert_allclose(nxt.world.p_pos, at(t + 1).world.p_pos, atol=1e-6)
        assert float(rew["agent_0"]) == pytest.approx(float(full["rewards"][t, 2]))
    assert len(set(full["actions"][:, 2].tolist()) - {0}) > 0  # the runner moved


def test_a_frozen_hanabi_seat_plays_legal_moves_only():
    from jsrpo.render import record_episode
    kw = {"num_agents": 3, "max_steps": 30}
    inner = envs.make("hanabi", **kw)
    env = FrozenSeats(inner, 2, [partners.parse("hanabi", "random", 2, kw)], inner_kwargs=kw)
    assert env.has_legal_moves
    players = [partners.parse("hanabi", "random", s, kw) for s in (0, 1)]
    turns = 0
    for key in range(4):  # random players lose their lives fast: a few short games
        _, full, _ = env.unwrap(record_episode(env, players, jax.random.PRNGKey(key)),
                                ["a", "b"])
        at = lambda t: jax.tree.map(lambda x: jnp.asarray(x)[t], full["states"])
        for t in range(full["length"]):
            legal = np.asarray(inner.legal_moves(at(t), inner.default_params))
            assert legal[2, full["actions"][t, 2]]
            turns += int(legal[2].sum() > 1)
    assert turns >= 5  # it had the turn, and more than its no-op to choose from


def test_members_can_each_train_against_their_own_frozen_policy():
    from jsrpo.sweep import member_hyper, member_inputs, members
    from jsrpo.train import make_train
    cfg = config.load(None, [
        "env.name=tag", "env.kwargs={max_steps: 5}", "method=ippo", "num_seeds=3",
        "train={total_env_steps: 64, num_envs: 8, num_steps: 8}", "network.hidden_sizes=[8]",
        "env.frozen={seat: agent_0, policies: [flee, random], assign: member}"])
    trainer = make_train(cfg)
    ms = members(cfg)
    keys, hyper = member_inputs(ms, (), trainer)
    assert hyper.frozen["logits"].shape == (3, 2)
    drawn = jax.vmap(trainer.init)(keys, hyper).vec_state.env_state.policy  # [M, E]
    assert np.asarray(drawn).tolist() == [[0] * 8, [1] * 8, [0] * 8]  # member m: m mod 2
    # the pool comes from the inputs: the same trainer given the whole pool's weights
    keys, episode = member_inputs(ms, (), make_train(dataclasses.replace(
        cfg, env=dataclasses.replace(cfg.env, frozen=dataclasses.replace(
            cfg.env.frozen, assign="episode")))))
    mixed = np.asarray(jax.vmap(trainer.init)(keys, episode).vec_state.env_state.policy)
    assert set(mixed.ravel().tolist()) == {0, 1}
    with pytest.raises(ValueError, match="env.frozen.assign"):
        trainer.init(keys[0], member_hyper(cfg))  # without the pools in its inputs


def test_a_run_with_a_runner_per_member_trains_from_the_command_line(tmp_path):
    from jsrpo.cli import main
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--config", "configs/tag/ippo.yaml",
                 "env.frozen={seat: agent_0, policies: [flee, random], assign: member}",
                 "num_seeds=2", "env.kwargs.max_steps=5", "network.hidden_sizes=[8]",
                 "train={total_env_steps: 128, num_envs: 8, num_steps: 8}",
                 "log={interval: 1, eval_envs: 4, final_eval_envs: 4, progress: false}",
                 "checkpoint.every_updates=0"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["env"]["frozen"]["assign"] == "member"


def _frozen_cfg(**kw):
    return config.load(None, ["env.name=tag", "method=ippo",
                              "env.frozen=" + json.dumps({"seat": "agent_0", **kw})])


def test_frozen_config_counts_the_learning_seats_and_checks_its_form():
    cfg = _frozen_cfg(policies=["flee", "random"])
    assert cfg.env.frozen == FrozenConfig("agent_0", ("flee", "random")) \
        and cfg.layout.num_seats == 2
    for bad, field in [({"policies": []}, "env.frozen.policies"),
                       ({"policies": ["flee"], "weights": [0]}, "env.frozen.weights"),
                       ({"policies": ["flee"], "sead": 1}, "env.frozen")]:
        with pytest.raises(config.ConfigError, match=field):
            _frozen_cfg(**bad)


@pytest.mark.parametrize("frozen, match", [
    ({"seat": "runner", "policies": ["flee"]}, r"env.frozen.seat: got 'runner'; allowed: "
                                               "adversary_0, adversary_1, agent_0"),
    ({"seat": 2, "policies": ["chase"]}, r"env.frozen.policies\[0\]: .*cannot play seat 2"),
    ({"seat": 2, "policies": ["flee", "nowhere/run"]}, r"env.frozen.policies\[1\]: got "),
    ({"seat": 2, "policies": ["flee"], "weights": [1, 1]}, "env.frozen.weights: got 2"),
])
def test_frozen_seats_that_cannot_be_built_are_refused_by_name(frozen, match):
    with pytest.raises(ValueError, match=match):
        build_env("tag", {}, config.frozen_config(frozen))


def test_freezing_a_seat_of_a_two_seat_env_leaves_one_learning_seat():
    env = build_env("coop_grid", {}, FrozenConfig(0, ("delivering",)))
    assert env.num_agents == 1 and env.agents == ["agent_1"]


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def tag_runs(tmp_path_factory):
    """A runner pre-trained as a three-seat IPPO run, then SRPO chasers against it."""
    from jsrpo.cli import main
    tmp = tmp_path_factory.mktemp("tag")
    raw = {"method": "ippo", "num_seeds": 2, "env": {"name": "tag", "kwargs": {"max_steps": 10}},
           "train": {"total_env_steps": 2 * 4 * 16, "num_envs": 4, "num_steps": 16},
           "network": {"hidden_sizes": [8]},
           "log": {"interval": 1, "eval_envs": 4, "final_eval_envs": 4, "progress": False},
           "checkpoint": {"every_updates": 1}}
    (tmp / "runner.yaml").write_text(yaml.safe_dump(raw))
    main(["train", "--config", str(tmp / "runner.yaml"), "--out", str(tmp / "runner")])
    main(["train", "--config", str(tmp / "runner.yaml"), "--out", str(tmp / "chasers"),
          "method=srpo", "env.frozen={seat: agent_0, policies: [" + str(tmp / "runner") +
          "#1]}"])
    return tmp


def test_chasers_train_against_a_saved_runner_and_cross_play_on_both_axes(tag_runs):
    from jsrpo.cli import main
    saved = yaml.safe_load((tag_runs / "chasers" / "config.yaml").read_text())
    assert saved["env"]["frozen"]["policies"] == [str(tag_runs / "runner") + "#1"]
    out = tag_runs / "xp"
    main(["crossplay", str(tag_runs / "chasers"), "--out", str(out), "--episodes", "4",
          "--partners", "chase", "--runners", f"flee,{tag_runs / 'runner'}"])
    res = json.loads((out / "crossplay.json").read_text())
    assert np.asarray(res["team_return"]).shape == (2, 2)
    run = res["runners"]
    assert run["labels"][0] == "flee" and len(run["labels"]) == 3  # flee + both saved runners
    assert np.asarray(run["team_return"]).shape == (2, 3)
    assert np.asarray(run["contributions"]["catches"]).shape == (2, 3, 2)
    assert (out / "runner_shift.png").exists()
    # the training runner (member 1) as a runner-shift column equals cross-play's own pair
    np.testing.assert_allclose(np.asarray(run["team_return"])[:, 2],
                               np.diag(np.asarray(res["team_return"])), rtol=1e-5)
    gif = tag_runs / "episode.gif"
    assert main(["render", str(tag_runs / "chasers"), "--out", str(gif), "--frames", "3",
                 "--partner", "chase"]) == 0
    from PIL import Image
    assert Image.open(gif).n_frames == 3


def test_runner_shift_needs_a_frozen_seat_and_playable_runners(tag_runs, capsys):
    from jsrpo.cli import main
    assert main(["crossplay", str(tag_runs / "runner"), "--partners", "none", "--runners",
                 "flee", "--out", str(tag_runs / "x1")]) == 2
    assert "--runners: these runs have no frozen seat" in capsys.readouterr().err
    assert main(["crossplay", str(tag_runs / "chasers"), "--partners", "none", "--runners",
                 "chase", "--out", str(tag_runs / "x2")]) == 2
    assert "--runners[0]: tag partner 'chase' cannot play seat 2" in capsys.readouterr().err
    assert not (tag_runs / "x1").exists() and not (tag_runs / "x2").exists()


def test_a_frozen_seat_from_a_run_of_another_game_is_refused(tag_runs):
    hanabi_like = tag_runs / "chasers"  # two seats: not a run of the three-seat game
    with pytest.raises(ValueError, match="trained on tag with 2 seats"):
        build_env("tag", {}, FrozenConfig(2, (str(hanabi_like),)))
    with pytest.raises(ValueError, match="member '5'"):
        build_env("tag", {}, FrozenConfig(2, (str(tag_runs / "runner") + "#5",)))
    with pytest.raises(ValueError, match=r"step: got 7; allowed: \[1, 2\]"):
        build_env("tag", {}, FrozenConfig(2, (str(tag_runs / "runner") + "@7",)))
    venv = VecEnv(build_env("tag", {}, FrozenConfig(2, (str(tag_runs / "runner"),))))
    assert venv.num_seats == 2


def test_a_frozen_seat_can_play_a_saved_snapshot(tag_runs):
    from jsrpo.checkpoint import load_run
    env = build_env("tag", {}, FrozenConfig(2, (str(tag_runs / "runner") + "#1@1",)))
    assert env.names == ("ippo-eps0.1-s1-seat2-u1",)
    early = load_run(tag_runs / "runner", step=1).learner_params(1, 2)
    final = load_run(tag_runs / "runner").learner_params(1, 2)
    frozen = jax.tree.leaves(env.default_params.pool[0])
    np.testing.assert_array_equal(frozen[0][0], jax.tree.leaves(early)[0])
    assert not np.array_equal(frozen[0][0], jax.tree.leaves(final)[0])  # an update apart
