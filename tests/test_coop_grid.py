"""Rules of the reference coop grid (docs/environments.md), checked on constructed states.

Single-agent rules go through the pure ``act`` helper, order effects through ``act_in_order``
(and through ``step_env`` over many keys), statistics through vmapped ``step_env``/``reset``.
Every jitted function is built once at module level so the file compiles only a handful of times.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.coop_grid import (
    ONION_SOURCES,
    STARTS,
    CoopGrid,
    CoopGridParams,
    CoopGridState,
    act,
    act_in_order,
    make_coop_grid,
)

UP, DOWN, LEFT, RIGHT, STAY = range(5)
N = 20000  # samples for the statistical tests

env = make_coop_grid()
P = env.default_params
P_NO_RESPAWN = P.replace(respawn_prob=jnp.float32(0.0))

act_j = jax.jit(act)
order_j = jax.jit(act_in_order)
step_env_j = jax.jit(env.step_env)
step_env_batch = jax.jit(jax.vmap(env.step_env, in_axes=(0, None, None, None)))
reset_batch = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))


def mk(p0, p1, has=(False, False), avail=(True, True), step=0):
    return CoopGridState(
        positions=jnp.array([p0, p1], jnp.int32),
        has_onion=jnp.array(has, bool),
        onion_available=jnp.array(avail, bool),
        step=jnp.int32(step),
        done=jnp.bool_(False),
    )


def acts(a0, a1):
    return {"agent_0": jnp.int32(a0), "agent_1": jnp.int32(a1)}


def act1(state, actor, action, params=P):
    """One agent's action; returns numpy-friendly (state, shared, cost, picked, delivered)."""
    return act_j(state, jnp.int32(actor), jnp.int32(action), params)


def pos(state, i):
    return tuple(int(x) for x in state.positions[i])


# ---------------------------------------------------------------- construction, spaces, obs


def test_registry_and_spaces():
    e = envs.make("coop_grid", respawn_prob=0.5, move_cost=0.1)
    assert isinstance(e, CoopGrid) and e.agents == ["agent_0", "agent_1"]
    assert float(e.default_params.respawn_prob) == 0.5
    assert float(e.default_params.move_cost) == pytest.approx(0.1)
    assert e.contribution_keys == ("onions_picked", "deliveries")
    for a in e.agents:
        assert e.action_spaces[a].n == 5
        assert e.observation_spaces[a].shape == (8,)
    assert isinstance(P, CoopGridParams)
    assert env.episode_length == 50


def test_observation_layout():
    s = mk((3, 1), (0, 4), has=(True, False), avail=(False, True))
    obs = env.get_obs(s)
    expected = np.array([3, 1, 1, 0, 4, 0, 0, 1], np.float32)
    for a in env.agents:
        assert obs[a].dtype == jnp.float32 and obs[a].shape == (8,)
        np.testing.assert_array_equal(obs[a], expected)


# ---------------------------------------------------------------- movement and move cost


@pytest.mark.parametrize("action,target", [(UP, (0, 1)), (DOWN, (2, 1)), (LEFT, (1, 0)),
                                           (RIGHT, (1, 2)), (STAY, (1, 1))])
def test_free_moves_and_cost(action, target):
    s, shared, cost, picked, delivered = act1(mk((1, 1), (4, 0)), 0, action)
    assert pos(s, 0) == target and pos(s, 1) == (4, 0)
    assert float(shared) == 0.0
    np.testing.assert_allclose(cost, [0.0 if action == STAY else 0.2, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(picked, [0, 0])
    np.testing.assert_array_equal(delivered, [0, 0])


@pytest.mark.parametrize("start,action", [((0, 1), UP), ((4, 1), DOWN), ((1, 0), LEFT),
                                          ((1, 4), RIGHT), ((0, 0), UP), ((0, 0), LEFT)])
def test_walls_clip_and_still_cost(start, action):
    # agent_1 acts here; agent_0 is parked out of the way.
    s, shared, cost, _, _ = act1(mk((4, 4), start), 1, action)
    assert pos(s, 1) == start and pos(s, 0) == (4, 4)
    assert float(shared) == 0.0
    np.testing.assert_allclose(cost, [0.0, 0.2], rtol=1e-6)


@pytest.mark.parametrize("start,action", [((1, 2), DOWN), ((3, 2), UP), ((2, 1), RIGHT),
                                          ((2, 3), LEFT)])
def test_pot_is_solid_without_onion(start, action):
    s, shared, cost, _, delivered = act1(mk(start, (0, 0)), 0, action)
    assert pos(s, 0) == start
    assert float(shared) == 0.0 and not bool(s.has_onion[0])
    np.testing.assert_allclose(cost, [0.2, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(delivered, [0, 0])


@pytest.mark.parametrize("start,action", [((1, 2), DOWN), ((3, 2), UP), ((2, 1), RIGHT),
                                          ((2, 3), LEFT)])
def test_delivery_from_each_side(start, action):
    s, shared, cost, picked, delivered = act1(mk((0, 0), start, has=(True, True)), 1, action)
    assert pos(s, 1) == start  # the agent stays next to the pot
    np.testing.assert_array_equal(s.has_onion, [True, False])  # only the actor's onion is dropped
    assert float(shared) == 10.0
    np.testing.assert_allclose(cost, [0.0, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(delivered, [0, 1])
    np.testing.assert_array_equal(picked, [0, 0])


def test_collision_penalty_mover_only_and_mover_stays():
    s, shared, cost, _, _ = act1(mk((1, 1), (1, 2)), 0, RIGHT)
    assert pos(s, 0) == (1, 1) and pos(s, 1) == (1, 2)
    assert float(shared) == 0.0
    np.testing.assert_allclose(cost, [2.2, 0.0], rtol=1e-6)  # move cost + collision penalty
    # Through step_env: the partner stays, so the order does not matter; rewards per seat.
    _, s, r, _, info = step_env_j(jax.random.PRNGKey(0), mk((1, 1), (1, 2)), acts(RIGHT, STAY),
                                  P_NO_RESPAWN)
    assert pos(s, 0) == (1, 1)
    assert float(r["agent_0"]) == pytest.approx(-2.2) and float(r["agent_1"]) == 0.0
    np.testing.assert_allclose(info["private_cost"], [2.2, 0.0], rtol=1e-6)


# ---------------------------------------------------------------- onions


@pytest.mark.parametrize("src", [0, 1])
def test_pickup(src):
    start, action = [((2, 4), DOWN), ((4, 2), RIGHT)][src]
    s, shared, cost, picked, _ = act1(mk((0, 0), start), 1, action)
    assert pos(s, 1) == ONION_SOURCES[src]
    np.testing.assert_array_equal(s.has_onion, [False, True])
    avail = [True, True]
    avail[src] = False
    np.testing.assert_array_equal(s.onion_available, avail)
    assert float(shared) == 1.0
    np.testing.assert_array_equal(picked, [0, 1])
    np.testing.assert_allclose(cost, [0.0, 0.2], rtol=1e-6)


def test_no_pickup_when_carrying_or_unavailable():
    s, shared, _, picked, _ = act1(mk((2, 4), (0, 0), has=(True, False)), 0, DOWN)
    assert pos(s, 0) == (3, 4) and bool(s.has_onion[0])
    np.testing.assert_array_equal(s.onion_available, [True, True])
    assert float(shared) == 0.0 and int(picked.sum()) == 0
    s, shared, _, picked, _ = act1(mk((2, 4), (0, 0), avail=(False, True)), 0, DOWN)
    assert pos(s, 0) == (3, 4) and not bool(s.has_onion[0])
    assert float(shared) == 0.0 and int(picked.sum()) == 0


def test_pickup_when_staying_on_a_respawned_source():
    # "if then not carrying and on an available onion" applies after any action, stay included.
    s, shared, cost, picked, _ = act1(mk((0, 0), (4, 3)), 1, STAY)
    assert bool(s.has_onion[1]) and float(shared) == 1.0
    np.testing.assert_array_equal(s.onion_available, [True, False])
    np.testing.assert_array_equal(cost, [0.0, 0.0])


def test_step_env_rewards_and_infos_for_pickup_and_delivery():
    # agent_0 delivers, agent_1 picks up onion 1: shared = 10 + 1 for both, each pays its move.
    s0 = mk((2, 1), (4, 2), has=(True, False))
    _, s, r, d, info = step_env_j(jax.random.PRNGKey(1), s0, acts(RIGHT, RIGHT), P_NO_RESPAWN)
    assert float(r["agent_0"]) == pytest.approx(10.8) and float(r["agent_1"]) == pytest.approx(10.8)
    np.testing.assert_allclose(info["private_cost"], [0.2, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(info["onions_picked"], [0, 1])
    np.testing.assert_array_equal(info["deliveries"], [1, 0])
    for k in ("private_cost", "onions_picked", "deliveries"):
        assert info[k].shape == (2,)
    np.testing.assert_array_equal(s.has_onion, [False, True])
    np.testing.assert_array_equal(s.onion_available, [True, False])
    assert int(s.step) == 1 and set(d) == {"agent_0", "agent_1", "__all__"}
    # Sweepable rewards come from params, not from the class.
    p = P_NO_RESPAWN.replace(delivery_reward=jnp.float32(3.0), pickup_reward=jnp.float32(0.5),
                             move_cost=jnp.float32(0.0))
    _, _, r, _, _ = step_env_j(jax.random.PRNGKey(1), s0, acts(RIGHT, RIGHT), p)
    assert float(r["agent_0"]) == 3.5 and float(r["agent_1"]) == 3.5


# ---------------------------------------------------------------- acting order


def test_order_same_target_cell():
    s0 = mk((1, 1), (1, 3))  # both move into (1, 2)
    a = jnp.array([RIGHT, LEFT], jnp.int32)
    s, shared, cost, _, _ = order_j(s0, a, jnp.int32(0), P)
    assert pos(s, 0) == (1, 2) and pos(s, 1) == (1, 3)
    np.testing.assert_allclose(cost, [0.2, 2.2], rtol=1e-6)
    s, shared, cost, _, _ = order_j(s0, a, jnp.int32(1), P)
    assert pos(s, 0) == (1, 1) and pos(s, 1) == (1, 2)
    np.testing.assert_allclose(cost, [2.2, 0.2], rtol=1e-6)


def test_order_following_agent():
    s0 = mk((1, 1), (1, 2))  # agent_0 follows agent_1 to the right
    a = jnp.array([RIGHT, RIGHT], jnp.int32)
    s, _, cost, _, _ = order_j(s0, a, jnp.int32(0), P)
    assert pos(s, 0) == (1, 1) and pos(s, 1) == (1, 3)  # agent_0 bumps into agent_1
    np.testing.assert_allclose(cost, [2.2, 0.2], rtol=1e-6)
    s, _, cost, _, _ = order_j(s0, a, jnp.int32(1), P)
    assert pos(s, 0) == (1, 2) and pos(s, 1) == (1, 3)  # agent_1 moved away first
    np.testing.assert_allclose(cost, [0.2, 0.2], rtol=1e-6)


def test_step_env_order_coin_is_fair_and_both_orders_occur():
    s0 = mk((1, 1), (1, 3))
    keys = jax.random.split(jax.random.PRNGKey(2), N)
    _, s, r, _, info = step_env_batch(keys, s0, acts(RIGHT, LEFT), P_NO_RESPAWN)
    a0_first = np.asarray(s.positions[:, 0, 1] == 2)
    a1_first = np.asarray(s.positions[:, 1, 1] == 2)
    assert np.all(a0_first ^ a1_first)  # exactly one of the two orders every time
    se = np.sqrt(0.25 / N)
    assert abs(a0_first.mean() - 0.5) < 4 * se
    cost = np.asarray(info["private_cost"])
    np.testing.assert_allclose(cost[a0_first], np.tile([0.2, 2.2], (a0_first.sum(), 1)), rtol=1e-6)
    np.testing.assert_allclose(cost[a1_first], np.tile([2.2, 0.2], (a1_first.sum(), 1)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(r["agent_0"]), -cost[:, 0], rtol=1e-6)
    # A key giving each order reproduces it unbatched.
    for mask, winner in ((a0_first, 0), (a1_first, 1)):
        k = keys[int(np.argmax(mask))]
        _, s1, _, _, _ = step_env_j(k, s0, acts(RIGHT, LEFT), P_NO_RESPAWN)
        assert pos(s1, winner) == (1, 2)


# ---------------------------------------------------------------- randomness: respawn, starts


def test_respawn_rate_and_independence():
    keys = jax.random.split(jax.random.PRNGKey(3), N)
    s0 = mk((0, 0), (0, 4), avail=(False, False))
    _, s, _, _, _ = step_env_batch(keys, s0, acts(STAY, STAY), P)
    av = np.asarray(s.onion_available)
    se = np.sqrt(0.2 * 0.8 / N)
    for j in range(2):
        assert abs(av[:, j].mean() - 0.2) < 4 * se
    both = (av[:, 0] & av[:, 1]).mean()
    assert abs(both - 0.04) < 4 * np.sqrt(0.04 * 0.96 / N)
    # An available onion never disappears by itself; p = 0 and p = 1 are deterministic.
    _, s, _, _, _ = step_env_batch(keys, mk((0, 0), (0, 4), avail=(True, False)),
                                   acts(STAY, STAY), P)
    assert np.all(np.asarray(s.onion_available[:, 0]))
    _, s, _, _, _ = step_env_batch(keys, s0, acts(STAY, STAY), P_NO_RESPAWN)
    assert not np.any(np.asarray(s.onion_available))
    _, s, _, _, _ = step_env_batch(keys, s0, acts(STAY, STAY),
                                   P.replace(respawn_prob=jnp.float32(1.0)))
    assert np.all(np.asarray(s.onion_available))


def test_onion_picked_this_step_can_respawn_at_its_end():
    # Respawn happens at the end of the step for every missing onion, just-picked ones included.
    s0 = mk((2, 4), (0, 0))
    _, s, _, _, info = step_env_j(jax.random.PRNGKey(4), s0, acts(DOWN, STAY),
                                  P.replace(respawn_prob=jnp.float32(1.0)))
    assert bool(s.has_onion[0]) and np.all(np.asarray(s.onion_available))
    np.testing.assert_array_equal(info["onions_picked"], [1, 0])


def test_reset_start_coin_is_fair():
    keys = jax.random.split(jax.random.PRNGKey(5), N)
    obs, s = reset_batch(keys, P)
    p = np.asarray(s.positions)
    straight = np.all(p == np.array(STARTS), axis=(1, 2))
    swapped = np.all(p == np.array(STARTS)[::-1], axis=(1, 2))
    assert np.all(straight ^ swapped)
    assert abs(straight.mean() - 0.5) < 4 * np.sqrt(0.25 / N)
    assert not np.any(np.asarray(s.has_onion)) and np.all(np.asarray(s.onion_available))
    assert np.all(np.asarray(s.step) == 0) and not np.any(np.asarray(s.done))
    o = np.asarray(obs["agent_0"])
    np.testing.assert_array_equal(o, np.asarray(obs["agent_1"]))
    np.testing.assert_array_equal(o[:, [0, 1, 3, 4]], p.reshape(N, 4).astype(np.float32))


# ---------------------------------------------------------------- episodes, jit, vmap


def _rollout(key, params, num_steps):
    """Random-action rollout through ``env.step`` (auto-reset) under scan."""
    obs, state = env.reset(key, params)

    def body(carry, k):
        state = carry
        k_act, k_step = jax.random.split(k)
        a = jax.random.randint(k_act, (2,), 0, 5)
        obs, new_state, r, d, info = env.step(k_step, state, acts(a[0], a[1]), params)
        out = dict(obs=obs["agent_0"], step=new_state.step, r0=r["agent_0"], r1=r["agent_1"],
                   done=d["__all__"], d0=d["agent_0"], d1=d["agent_1"], **info,
                   pos=new_state.positions, has=new_state.has_onion,
                   avail=new_state.onion_available)
        return new_state, out

    _, traj = jax.lax.scan(body, state, jax.random.split(key, num_steps))
    return traj


rollout_batch = jax.jit(jax.vmap(_rollout, in_axes=(0, None, None)), static_argnums=2)


def test_episode_ends_at_50_with_auto_reset_and_reward_identity():
    T, B = 120, 32
    tr = jax.tree.map(np.asarray, rollout_batch(jax.random.split(jax.random.PRNGKey(6), B), P, T))
    t = np.arange(1, T + 1)
    expect_done = (t % 50) == 0
    assert np.all(tr["done"] == expect_done) and np.all(tr["d0"] == tr["done"])
    assert np.all(tr["d1"] == tr["done"])
    # The state after a terminal step is the freshly reset one (step 0, starts, onions back).
    assert np.all(tr["step"] == np.where(expect_done, 0, t % 50))
    ends = tr["done"]
    assert not tr["has"][ends].any() and tr["avail"][ends].all()
    starts = np.array(STARTS)
    pe = tr["pos"][ends]
    assert np.all(np.all(pe == starts, axis=(1, 2)) | np.all(pe == starts[::-1], axis=(1, 2)))
    # Reward per seat = shared (10 per delivery + 1 per pickup, either seat) - own private cost.
    shared = 10.0 * tr["deliveries"].sum(-1) + 1.0 * tr["onions_picked"].sum(-1)
    np.testing.assert_allclose(tr["r0"], shared - tr["private_cost"][..., 0], atol=1e-5)
    np.testing.assert_allclose(tr["r1"], shared - tr["private_cost"][..., 1], atol=1e-5)
    # Private cost is a sum of 0.2 per move and 2 per collision; never negative.
    assert (tr["private_cost"] >= 0).all()
    # Obs always mirrors the returned state; positions stay on the grid and off the pot.
    np.testing.assert_array_equal(tr["obs"][..., [0, 1, 3, 4]],
                                  tr["pos"].reshape(B, T, 4).astype(np.float32))
    assert tr["pos"].min() >= 0 and tr["pos"].max() <= 4
    assert not np.any(np.all(tr["pos"] == 2, axis=-1))
    assert not np.any(np.all(tr["pos"][..., 0, :] == tr["pos"][..., 1, :], axis=-1))


def test_vmap_over_params():
    # A params pytree with a batch axis: respawn probability 0 vs 1 side by side.
    ps = jax.tree.map(lambda *x: jnp.stack(x), P_NO_RESPAWN, P.replace(respawn_prob=jnp.float32(1)))
    f = jax.jit(jax.vmap(env.step, in_axes=(None, None, None, 0)))
    _, s, r, _, _ = f(jax.random.PRNGKey(7), mk((0, 0), (0, 4), avail=(False, False)),
                      acts(STAY, STAY), ps)
    np.testing.assert_array_equal(s.onion_available, [[False, False], [True, True]])
    assert r["agent_0"].shape == (2,)
