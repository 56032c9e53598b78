"""JaxMARL Overcooked v1/v2 wrappers (envs/overcooked.py).

Kept fast: one env per version (cramped_room, max_steps=50) and two compiled rollouts per
version, both of fixed length T; costs are passed as params so they do not recompile.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import overcooked as oc

VERSIONS = ("overcooked", "overcooked_v2")
MAX_STEPS = 50
T = 110  # > 2 episodes
MOVE, COLL, INTER = 0.1, 0.5, 0.03
PARAMS = oc.OvercookedParams(move_cost=jnp.float32(MOVE), collision_cost=jnp.float32(COLL),
                             interact_cost=jnp.float32(INTER))


@functools.lru_cache(maxsize=None)
def get_env(version):
    return envs.make(version, layout="cramped_room", max_steps=MAX_STEPS)


def _act(a):
    return {"agent_0": a[0], "agent_1": a[1]}


@functools.lru_cache(maxsize=None)
def rollout_fn(version):
    """jit(key, actions [T, 2], params) -> (reset obs, reset state, final state, per-step
    outputs of env.step (auto-reset), per-step outputs of JaxMARL's own step_env applied to the
    same state, key and actions). One compiled program per version."""
    env = get_env(version)

    # A few hundred steps run in milliseconds: compile time dominates, so skip LLVM's heavy passes.
    @functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
    def run(key, actions, params):
        key, k0 = jax.random.split(key)
        obs0, s0 = env.reset(k0, params)

        def body(s, x):
            k, a = x
            k_step, _ = jax.random.split(k)  # the key ParamEnv.step hands to step_env
            o2, _, r2, d2, i2 = env.raw_env.step_env(k_step, s, _act(a))
            obs, s, r, d, info = env.step(k, s, _act(a), params)
            return s, ((obs, r, d, info, s.step), (o2, r2, d2, i2["shaped_reward"]))

        s_end, (out, raw) = jax.lax.scan(body, s0, (jax.random.split(key, T), actions))
        return obs0, s0, s_end, out, raw

    return run


def random_actions(seed):
    return jax.random.randint(jax.random.PRNGKey(seed), (T, 2), 0, 6)


# A soup on cramped_room. "L" is the agent starting at (x=1, y=1), "R" the one at (3, 1):
# L puts three onions in the pot (2, 0); R fetches a plate from (1, 3), waits at the pot,
# plates the soup and delivers it at (3, 3). Delivery happens at step 40 (index 39).
_L = ["left", "interact", "right", "up", "interact"] * 3 + ["left"]
_R = (["down", "left", "left", "down", "interact"] + ["stay"] * 10 + ["right", "up", "up"]
      + ["stay"] * 17 + ["interact", "down", "right", "down", "interact"])
DELIVERY_STEP = 39


def scripted_actions(version, left_seat):
    idx = oc.ACTION_INDEX[version]
    pad = lambda names: [idx[n] for n in names] + [idx["stay"]] * (T - len(names))
    left, right = pad(_L), pad(_R)
    cols = (left, right) if left_seat == 0 else (right, left)
    return jnp.asarray(np.stack(cols, axis=1), jnp.int32)


def left_seat(version):
    """Seat of the agent starting at (1, 1) (v1 and v2 order the seats differently)."""
    starts = get_env(version).start_positions
    assert sorted(starts) == [(1, 1), (3, 1)]
    return starts.index((1, 1))


# ------------------------------------------------------------------------------------------

def test_registry_and_api():
    assert {"overcooked", "overcooked_v2"} <= set(envs.registered())
    for v in VERSIONS:
        assert envs.env_kwargs(v) == ("layout", "move_cost", "collision_cost", "interact_cost",
                                      "max_steps")
        env = envs.make(v, move_cost=0.25, collision_cost=1, interact_cost=0.5)
        assert env.name == v and env.max_steps == 400 and env.num_agents == 2
        assert tuple(env.agents) == ("agent_0", "agent_1")
        assert env.contribution_keys == ("onions_in_pot", "plates_picked", "soups_picked",
                                         "deliveries")
        p = env.default_params
        assert [float(p.move_cost), float(p.collision_cost),
                float(p.interact_cost)] == [0.25, 1, .5]
        assert env.action_space("agent_1").n == 6
        assert env.action_names[oc.STAY] == "stay" and env.action_names[oc.INTERACT] == "interact"
    assert oc.V1_ACTION_NAMES == ("up", "down", "right", "left", "stay", "interact")
    assert oc.V2_ACTION_NAMES == ("right", "down", "left", "up", "stay", "interact")
    assert (oc.V1_UP, oc.V1_RIGHT, oc.V2_UP, oc.V2_RIGHT) == (0, 2, 3, 0)


@pytest.mark.parametrize("layout,hw", [("cramped_room", (4, 5)), ("asymm_advantages", (5, 9)),
                                       ("coord_ring", (5, 5)), ("forced_coord", (5, 5)),
                                       ("counter_circuit", (5, 8))])
def test_observation_shapes(layout, hw):
    made = {}
    for v, channels in (("overcooked", 26), ("overcooked_v2", 30)):
        env = made[v] = envs.make(v, layout=layout)
        # obs_shape is read off JaxMARL's reset arrays (jax.eval_shape); the rollout tests check
        # the wrapper's actual uint8 arrays against JaxMARL's on cramped_room.
        assert env.obs_shape == hw + (channels,)
        for a in env.agents:
            assert env.observation_space(a).shape == hw + (channels,)
            assert env.observation_space(a).dtype == jnp.uint8
    # The pitfall this wrapper guards against: JaxMARL v1 declares (W, H, 26).
    v1 = made["overcooked"].raw_env
    assert tuple(v1.observation_space("agent_0").shape) == hw[::-1] + (26,)


def test_v2_other_layouts():
    env = envs.make("overcooked_v2", layout="two_rooms")
    obs, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    assert obs["agent_0"].shape == env.observation_space("agent_0").shape


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_raw_env(version):
    """Rewards = JaxMARL sparse reward - own cost; obs, dones and shaped reward unchanged."""
    run = rollout_fn(version)
    seat = left_seat(version)
    for actions in (random_actions(1), scripted_actions(version, seat)):
        obs0, s0, _, (o1, r1, d1, i1, _), (o2, r2, d2, sh2) = run(
            jax.random.PRNGKey(3), actions, PARAMS)
        assert [tuple(p) for p in np.asarray(get_env(version).agent_positions(s0))] == list(
            get_env(version).start_positions)
        done = np.asarray(d1["__all__"])
        np.testing.assert_array_equal(done, np.asarray(d2["__all__"]))
        for a in ("agent_0", "agent_1"):
            assert o1[a].dtype == jnp.uint8
            # Same obs except where auto-reset replaced the terminal one; compared as int64 so
            # a raw value outside the byte range (which uint8 would wrap) fails.
            np.testing.assert_array_equal(np.asarray(o1[a], np.int64)[~done],
                                          np.asarray(o2[a], np.int64)[~done])
        cost = np.asarray(i1["private_cost"])
        assert cost.shape == (T, 2) and cost.dtype == np.float32 and (cost >= 0).all()
        for i, a in enumerate(("agent_0", "agent_1")):
            np.testing.assert_allclose(np.asarray(r1[a]), np.asarray(r2[a]) - cost[:, i],
                                       atol=1e-6)
            assert i1["shaped_reward"].dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(i1["shaped_reward"][:, i]),
                                          np.asarray(sh2[a], np.float32))
        for k in get_env(version).contribution_keys:
            c = np.asarray(i1[k])
            assert c.shape == (T, 2) and c.dtype == np.float32 and set(np.unique(c)) <= {0, 1}
        sparse = np.asarray(r2["agent_0"])
        np.testing.assert_allclose(20 * np.asarray(i1["deliveries"]).sum(1), sparse)


@pytest.mark.parametrize("version", VERSIONS)
def test_scripted_soup(version):
    seat = left_seat(version)
    other = 1 - seat
    _, _, _, (obs, r, d, info, _), _ = rollout_fn(version)(
        jax.random.PRNGKey(0), scripted_actions(version, seat), PARAMS)
    r = np.stack([np.asarray(r["agent_0"]), np.asarray(r["agent_1"])], axis=1)
    cost = np.asarray(info["private_cost"])
    sparse = r + cost
    expect = np.zeros((T, 2))
    expect[DELIVERY_STEP] = 20.0
    np.testing.assert_allclose(sparse, expect, atol=1e-5)
    tot = {k: np.asarray(info[k]).sum(0) for k in get_env(version).contribution_keys}
    want = {"onions_in_pot": (3, 0), "plates_picked": (0, 1), "soups_picked": (0, 1),
            "deliveries": (0, 1)}
    for k, (lw, rw) in want.items():
        assert tot[k][seat] == lw and tot[k][other] == rw, (k, tot[k])
    assert np.asarray(info["deliveries"])[DELIVERY_STEP, other] == 1
    # Shaped: 3 per onion placed, 5 for plating the soup, and 3 for R's plate pickup only in v1:
    # it happens on the step L puts the first onion in, and interacts resolve agent_0 first,
    # which is L in v1 (pot no longer empty -> pickup "useful") and R in v2.
    shaped = np.asarray(info["shaped_reward"]).sum(0)
    assert shaped[seat] == 9 and shaped[other] == (8 if version == "overcooked" else 5)
    # Hand-checked private costs. Step 1: L walks into the onion pile (move + collision), R moves.
    # Step 2: L interacts, R moves. Step 6: L moves (free cell), R stays.
    for t, (lc, rc) in {0: (MOVE + COLL, MOVE), 1: (INTER, MOVE), 5: (MOVE, 0.0),
                        3: (MOVE + COLL, MOVE + COLL)}.items():
        np.testing.assert_allclose(cost[t, [seat, other]], [lc, rc], atol=1e-6)
    # Totals from the script: L 4 blocked moves, 6 free moves, 6 interacts;
    # R 3 blocked moves, 7 free moves, 3 interacts.
    np.testing.assert_allclose(cost.sum(0)[[seat, other]], [3.18, 2.59], atol=1e-5)
    # Nothing else happens after the delivery (everyone stays): zero cost from step 41 on.
    assert (cost[DELIVERY_STEP + 1:] == 0).all()


@pytest.mark.parametrize("version", VERSIONS)
def test_episode_length_and_autoreset(version):
    obs0, s0, s_end, (obs, r, d, info, step), _ = rollout_fn(version)(
        jax.random.PRNGKey(7), random_actions(2), PARAMS)
    done = np.asarray(d["__all__"])
    assert np.flatnonzero(done).tolist() == [MAX_STEPS - 1, 2 * MAX_STEPS - 1]
    for a in ("agent_0", "agent_1"):
        np.testing.assert_array_equal(np.asarray(d[a]), done)
    step = np.asarray(step)
    assert step[MAX_STEPS - 1] == 0 and step[MAX_STEPS - 2] == MAX_STEPS - 1  # reset on done
    assert int(s_end.step) == T - 2 * MAX_STEPS
    # The obs after a done is a reset obs (agents back at their start cells).
    np.testing.assert_array_equal(np.asarray(obs["agent_0"][MAX_STEPS - 1][..., 0]),
                                  np.asarray(obs0["agent_0"][..., 0]))
    assert obs["agent_0"].shape == (T,) + get_env(version).obs_shape
    # Random-rollout bookkeeping: sparse = 20 * deliveries, costs >= 0 and bounded.
    rew = np.stack([np.asarray(r["agent_0"]), np.asarray(r["agent_1"])], axis=1)
    cost = np.asarray(info["private_cost"])
    sparse = rew + cost
    np.testing.assert_allclose(sparse[:, 0], sparse[:, 1], atol=1e-6)
    np.testing.assert_allclose(sparse[:, 0], 20 * np.asarray(info["deliveries"]).sum(1),
                               atol=1e-5)
    assert (cost >= 0).all() and (cost <= MOVE + COLL + 1e-6).all()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kwargs,field", [
    (dict(layout="cramped"), "layout"), (dict(layout=3), "layout"),
    (dict(move_cost=-0.1), "move_cost"), (dict(collision_cost=float("nan")), "collision_cost"),
    (dict(interact_cost="a"), "interact_cost"), (dict(interact_cost=float("inf")), "interact_cost"),
    (dict(max_steps=0), "max_steps"), (dict(max_steps=2.5), "max_steps"),
    (dict(max_steps=True), "max_steps")])
def test_bad_kwargs(version, kwargs, field):
    with pytest.raises(ValueError, match=rf"^env\.kwargs\.{field}:"):
        envs.make(version, **kwargs)


def test_layout_error_lists_names():
    with pytest.raises(ValueError) as e:
        envs.make("overcooked", layout="cramped")
    msg = str(e.value)
    assert "did you mean 'cramped_room'" in msg and "counter_circuit" in msg
    with pytest.raises(ValueError, match=r"^env\.kwargs\.layout:.*two_rooms"):
        envs.make("overcooked", layout="two_rooms")  # v2-only layout
    with pytest.raises(ValueError, match=r"^env\.kwargs\.layout:"):
        envs.make("overcooked_v2", layout="long_room")  # one agent
