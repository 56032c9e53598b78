"""More than two seats and turn-based games: the relay env, the N-seat stream tables, SRPO's
shared scheme (an adversary in a random seat of every env), legal actions and acting rows."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import envs
from jsrpo import config
from jsrpo.checkpoint import load_run
from jsrpo.episodes import play_seats
from jsrpo.rundir import RunMeta
from jsrpo.sweep import run_sweep
from jsrpo.train import ADV, HERO, make_train, rotate, seat_rotation, stream_table
from jsrpo.vec_env import VecEnv


def relay_cfg(method, seats=3, steps=4096, **over):
    raw = {
        "method": method, "tau": 1.0, "eps": 0.01, "num_seeds": 2,
        "env": {"name": "relay", "kwargs": {"num_agents": seats, "length": 6}},
        "train": {"total_env_steps": steps, "num_envs": 8, "num_steps": 16, "lr": 0.003,
                  "update_epochs": 4, "num_minibatches": 2},
        "log": {"interval": 4, "eval_envs": 16, "final_eval_envs": 32, "progress": False},
    }
    if method in ("srpo", "pure_adversarial"):
        raw["srpo"] = {"scheme": "shared"}
    raw.update(over)
    return config.from_dict(raw)


# ------------------------------------------------------------------ the relay env
def test_relay_turns_legal_moves_and_rewards():
    env = envs.make("relay", num_agents=3, length=4)
    _, state = env.reset(jax.random.PRNGKey(0))
    holder = int(state.holder)
    legal = np.asarray(env.legal_moves(state, env.default_params))
    assert legal.shape == (3, 3)
    for seat in range(3):  # the holder may pass or drop; everyone else only waits
        assert legal[seat].tolist() == ([False, True, True] if seat == holder
                                        else [True, False, False])
    acts = {a: jnp.int32(1) for a in env.agents}  # everyone "passes": only the holder counts
    _, state2, rew, dones, infos = env.step_env(jax.random.PRNGKey(1), state, acts,
                                                env.default_params)
    assert int(state2.holder) == (holder + 1) % 3 and float(rew["agent_0"]) == 1.0
    assert np.asarray(infos["passes"]).tolist() == [float(s == holder) for s in range(3)]
    assert not bool(dones["__all__"])
    drop = {a: jnp.int32(2) for a in env.agents}
    _, _, rew, dones, _ = env.step_env(jax.random.PRNGKey(1), state2, drop, env.default_params)
    assert float(rew["agent_0"]) == 0.0 and bool(dones["__all__"])
    with pytest.raises(ValueError, match="env.kwargs.num_agents"):
        envs.make("relay", num_agents=1)
    assert envs.num_seats("relay", {"num_agents": 4}) == 4
    assert envs.num_seats("relay", {"num_agents": 4.0}) == 4  # the factory accepts 4.0 too
    assert envs.num_seats("overcooked", {}) == 2


def test_vec_env_with_three_seats_keeps_legal_moves_and_seat_ids():
    venv = VecEnv(envs.make("relay", num_agents=3), seat_id=True)
    obs, state = venv.reset(jax.random.PRNGKey(0), 5)
    assert obs.shape == (5, 3, 4 + 3) and state.legal.shape == (5, 3, 3)
    np.testing.assert_array_equal(obs[:, :, -3:], np.broadcast_to(np.eye(3), (5, 3, 3)))
    # exactly one seat of each env holds the baton (two legal actions)
    assert (np.asarray(state.legal).sum(-1) > 1).sum(1).tolist() == [1] * 5
    obs, state, out = venv.step(jax.random.PRNGKey(1), state, jnp.ones((5, 3), jnp.int32))
    assert out.reward.shape == (5, 3) and out.episode.contrib["passes"].shape == (5, 3)


# ------------------------------------------------------------------ streams and roles
def test_seat_rotation_maps_roles_to_seats_and_back():
    shift = jnp.array([0, 1, 2, 2])
    seat_of_role, role_of_seat = seat_rotation(shift, 3)
    assert np.asarray(seat_of_role).tolist() == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 0, 1]]
    x = jnp.arange(4 * 3).reshape(4, 3) * 10
    roles = rotate(x, seat_of_role)
    assert np.asarray(roles[:, 0]).tolist() == [0, 40, 80, 110]  # role 0: the adversary's seat
    np.testing.assert_array_equal(rotate(roles, role_of_seat), x)


def test_stream_tables_for_three_seats():
    one = jnp.ones(())
    assert stream_table("ippo", one, 2, 3).tolist() == [0, 1, 2, 0, 1, 2]
    assert stream_table("self_play", one, 2, 3).tolist() == [0] * 6
    shared = stream_table("srpo", one, 2, 3, "shared").tolist()
    assert shared == [ADV, HERO, HERO, ADV, HERO, HERO]
    # at tau = 0 the shared hero plays every seat (self-play)
    assert stream_table("srpo", 0 * one, 2, 3, "shared").tolist() == [0] * 6
    assert stream_table("pure_adversarial", 0 * one, 1, 4, "shared").tolist() == [1, 0, 0, 0]


def test_config_refuses_the_pair_scheme_beyond_two_seats():
    with pytest.raises(config.ConfigError, match="srpo.scheme.*'shared'"):
        relay_cfg("srpo", srpo={"scheme": "pair"})
    with pytest.raises(config.ConfigError, match="srpo.scheme.*allowed: pair, shared"):
        relay_cfg("srpo", srpo={"scheme": "both"})
    with pytest.raises(config.ConfigError, match="srpo.full_rollout_per_phase"):
        relay_cfg("srpo", srpo={"scheme": "shared", "full_rollout_per_phase": True})
    cfg = relay_cfg("ippo", seats=4)
    assert cfg.layout.num_seats == 4 and cfg.layout.num_streams == 8


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("method", ["ippo", "self_play", "srpo"])
def test_three_seat_relay_is_learned(method):
    """Every method learns the 3-seat turn-based relay (always pass: return 6); the evaluation
    plays the heroes in every seat. SRPO's shared adversary pays its KL on the role-0 streams
    only (streams 0 and 3: one per group)."""
    cfg = relay_cfg(method)
    trainer = make_train(cfg)
    assert len(trainer.hero_seats) == 3
    res = run_sweep(trainer)
    ret = np.asarray(res.final["team_return"])
    assert ret.shape == (2,) and np.all(ret > 5.5), ret
    assert np.asarray(res.final["return"]).shape == (2, 3)
    if method == "srpo":
        kl = np.asarray(res.metrics["loss/kl"])[:, 0]  # [members, streams], first period
        assert np.all(kl[:, [0, 3]] > 0) and np.all(kl[:, [1, 2, 4, 5]] == 0)


def test_only_acting_rows_count_in_the_losses():
    """At initialisation each acting row has two legal actions of about equal probability, so
    the entropy over the rows where a seat acted is about ln 2; the two-thirds of the rows
    where a seat could not act (one legal action, entropy 0) would pull it to ln 2 / 3."""
    cfg = relay_cfg("ippo", steps=8 * 16, train={
        "total_env_steps": 8 * 16, "num_envs": 8, "num_steps": 16, "lr": 1e-6,
        "update_epochs": 1, "num_minibatches": 1})
    res = run_sweep(make_train(cfg))
    ent = np.asarray(res.metrics["loss/entropy"])
    np.testing.assert_allclose(ent, math.log(2), atol=0.02)


def test_shared_adversary_takes_a_random_seat_of_every_env_in_every_rollout():
    """Role 0 (the adversary's streams) lands on each seat of an env equally often, the roles
    of an env are its seats in turn order, and the draw changes from rollout to rollout. The
    seat is read from the one-hot seat id the shared networks see on relay's observations."""
    from jsrpo.sweep import member_hyper
    cfg = relay_cfg("srpo", train={"total_env_steps": 600 * 16, "num_envs": 600,
                                   "num_steps": 2, "num_minibatches": 2, "update_epochs": 1})
    trainer = make_train(cfg)
    hyper = member_hyper(cfg)
    state = trainer.init(jax.random.PRNGKey(0), hyper)
    rollout = jax.jit(trainer.rollout)
    seats = []
    for _ in range(2):
        state, traj, _ = rollout(state, hyper)
        obs = np.asarray(traj["obs"])  # [S, T, Eg, D]: streams (group, role)
        seat = obs[..., -3:].argmax(-1)[:, 0]  # [S, Eg] at the first step
        roles = seat.reshape(2, 3, -1)  # [group, role, env]
        np.testing.assert_array_equal(roles[:, 1], (roles[:, 0] + 1) % 3)
        np.testing.assert_array_equal(roles[:, 2], (roles[:, 0] + 2) % 3)
        counts = np.bincount(roles[:, 0].ravel(), minlength=3)
        assert np.all(np.abs(counts - 200) < 45), counts  # 600 envs, 1/3 each
        seats.append(roles[:, 0])
    assert 0.5 < np.mean(seats[0] != seats[1]) < 0.85  # redrawn: 2/3 differ


def test_shared_scheme_grouped_learners_equal_per_stream_computation():
    """With a fixed table the shared hero runs once on all its roles' rows and the adversary on
    its own (unequal numbers of streams per learner): the same loss as the per-stream
    computation, so the runs agree to float rounding."""
    cfg = relay_cfg("srpo", steps=8 * 16 * 3)
    grouped, per_stream = make_train(cfg), make_train(cfg, group_streams=False)
    assert grouped.stream_order == (1, 2, 4, 5, 0, 3) and per_stream.stream_order is None
    a, b = run_sweep(grouped), run_sweep(per_stream)
    for x, y in zip(jax.tree.leaves(a.states.params), jax.tree.leaves(b.states.params)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    for k in a.metrics:
        np.testing.assert_allclose(a.metrics[k], b.metrics[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_shared_adversary_learns_to_drop():
    """Pure-adversarial with the shared scheme: the adversary, in one seat of every env, learns
    to drop the baton, so the training return falls far below what the heroes reach together
    (they still pass when evaluated in every seat)."""
    cfg = relay_cfg("pure_adversarial", steps=12288)
    res = run_sweep(make_train(cfg))
    train_ret = np.asarray(res.metrics["train/return"])[:, -1]  # [members, streams] at the end
    assert np.all(train_ret < 3.0), train_ret
    assert np.all(np.asarray(res.final["team_return"]) > 5.0)


def test_four_seat_crossplay_pairs_runs_by_halves(tmp_path):
    """Four-seat runs save a hero per seat and cross-play pairs them by halves: entry (i, j)
    plays member i's heroes in seats 0-1 with member j's in seats 2-3, the same as playing those
    four saved agents directly."""
    from jsrpo import crossplay
    from jsrpo.cli import main
    runs = []
    for method in ("ippo", "self_play"):
        run = tmp_path / method
        main(["train", "--config", str(_write(tmp_path, relay_cfg(method, seats=4, steps=512))),
              "--out", str(run)])
        runs.append(run)
    res = crossplay.crossplay(runs, episodes=8, bootstrap_reps=50)
    assert load_run(runs[1]).meta.hero_seats == (0, 0, 0, 0)  # self-play: one network
    assert load_run(runs[0]).meta.hero_seats == (0, 1, 2, 3)  # ippo: a network per seat
    team = np.asarray(res["team_return"])
    assert team.shape == (4, 4) and np.asarray(res["return"]).shape == (4, 4, 4)
    ippo, sp = load_run(runs[0]), load_run(runs[1])
    i, j = 1, 2  # ippo member 1 (seats 0-1) with self-play member 0 (seats 2-3)
    agents = [ippo.hero(1, 0), ippo.hero(1, 1), sp.hero(0, 2), sp.hero(0, 3)]
    venv = VecEnv(envs.make("relay", num_agents=4, length=6))
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    tot = jax.vmap(lambda k: play_seats(venv, agents, [a.params for a in agents], k))(keys)
    np.testing.assert_allclose(team[i, j], np.asarray(tot.ret).mean(), rtol=1e-6)


def test_format_one_run_meta_still_reads():
    meta = {"format_version": 1, "network": {"num_actions": 2, "obs_ndim": 1,
                                             "hidden_sizes": [8], "activation": "tanh"},
            "obs_shape": [1], "env": {"name": "collab_defect"},
            "learners": {"hero_pair": [0, 1], "num_learners": 2},
            "members": [{"member": 0, "method": "ippo", "tau": 0, "eps": 0.1, "seed": 0}]}
    assert RunMeta.from_json(meta).hero_seats == (0, 1)
    meta["format_version"] = 2
    with pytest.raises(Exception, match="learners.*hero_seats"):
        RunMeta.from_json(meta)


def _write(tmp_path, cfg):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg)))
    return path
