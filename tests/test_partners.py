"""Scripted coop_grid partners do what their names say, on constructed observations and in
rollouts of the real environment.

Every scripted partner is one policy function reading its params, so ``LOGITS`` (jitted once)
serves all of them; the rollouts go through ``episodes.play_pairs`` (one compile for
every pair of partners).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.coop_grid import CoopGridState, act
from jsrpo import partners
from jsrpo.episodes import play_pairs, stack_agents
from jsrpo.partners.coop_grid import DEFAULT_PARTNERS, PARTNER_NAMES, coop_grid_partner
from jsrpo.vec_env import VecEnv

UP, DOWN, LEFT, RIGHT, STAY = range(5)
POT = (2, 2)
KEY = jax.random.PRNGKey(0)
LOGITS = jax.jit(lambda agent_params, obs: coop_grid_partner("stay", 0).policy(
    agent_params, (), obs, KEY)[0])
ACT = jax.jit(act)
ENV = envs.make("coop_grid")


def parse_spec(spec, seat):
    return partners.parse("coop_grid", spec, seat)


def obs_for(seat, own, has=False, other=(0, 0), other_has=False, avail=(True, True)):
    """The 8-float observation with the partner under test in ``seat``."""
    me, them = [*own, float(has)], [*other, float(other_has)]
    slots = me + them if seat == 0 else them + me
    return jnp.asarray(slots + [float(a) for a in avail], jnp.float32)


def action(agent, obs):
    logits = np.asarray(LOGITS(agent.params, obs))
    assert np.sum(logits == logits.max()) == 1, f"not deterministic: {logits}"
    return int(np.argmax(logits))


def walk(agent, seat, own, other, avail=(True, True), steps=12):
    """Let ``agent`` act alone (the other agent stands still) with the env's own ``act`` rule;
    returns the cells it occupies and the steps at which it picked up and delivered."""
    pos = [list(own), list(other)] if seat == 0 else [list(other), list(own)]
    state = CoopGridState(positions=jnp.array(pos, jnp.int32), has_onion=jnp.zeros(2, bool),
                          onion_available=jnp.array(avail), step=jnp.int32(0),
                          done=jnp.bool_(False))
    cells, picked, delivered = [], [], []
    for t in range(1, steps + 1):
        p, h, a = np.asarray(state.positions), np.asarray(state.has_onion), state.onion_available
        obs = jnp.asarray([*p[0], h[0], *p[1], h[1], *np.asarray(a)], jnp.float32)
        state, _, _, pick, deliver = ACT(state, jnp.int32(seat), jnp.int32(action(agent, obs)),
                                         ENV.default_params)
        cells.append(tuple(int(v) for v in state.positions[seat]))
        picked += [t] if pick[seat] else []
        delivered += [t] if deliver[seat] else []
    return cells, picked, delivered


@pytest.mark.parametrize("seat", [0, 1])
def test_stay_always_stays_and_random_is_uniform(seat):
    obs = jax.random.uniform(KEY, (64, 8), maxval=4.0).round()
    stay = coop_grid_partner("stay", seat)
    rand = coop_grid_partner("random", seat)
    assert np.all(np.argmax(jax.vmap(LOGITS, (None, 0))(stay.params, obs), -1) == STAY)
    np.testing.assert_allclose(jax.nn.softmax(jax.vmap(LOGITS, (None, 0))(rand.params, obs)), 0.2,
                               rtol=1e-6)


@pytest.mark.parametrize("seat", [0, 1])
def test_single_source_0_heads_to_its_source_then_to_the_pot(seat):
    agent = coop_grid_partner("single_source", seat, source=0)
    cells, picked, delivered = walk(agent, seat, own=(0, 1), other=(1, 0))
    # Shortest path (0,1) -> (3,4) is 6 moves; then (3,4) -> next to the pot -> into it is 3.
    assert cells[5] == (3, 4) and picked == [6]
    assert delivered == [9] and POT not in cells
    # With both onions still available it ignores the other source, (4,3).
    assert (4, 3) not in cells


def test_single_source_1_reads_its_own_seat_and_waits_at_its_source():
    agent = coop_grid_partner("single_source", 1, source=1)
    cells, picked, _ = walk(agent, 1, own=(1, 0), other=(0, 1), avail=(True, False), steps=9)
    # Its source is empty: it walks to (4, 3) (6 moves) and waits there, never taking onion 0.
    assert cells[5:] == [(4, 3)] * 4 and picked == []
    # Constructed observations: seat-0 slots say "carrying, next to the pot"; seat 1 must not
    # read them. Seat 1 at (4, 2) empty-handed steps right to its source (4, 3).
    obs = obs_for(1, own=(4, 2), other=(2, 1), other_has=True)
    assert action(agent, obs) == RIGHT
    assert action(agent, obs_for(1, own=(2, 3), has=True, other=(4, 4))) == LEFT  # into the pot


def test_routes_avoid_the_partner_instead_of_bumping_into_it():
    agent = coop_grid_partner("single_source", 0, source=0)
    # At (3,3) the source (3,4) is one step right, but the partner stands on it: wait (stay).
    assert action(agent, obs_for(0, own=(3, 3), other=(3, 4))) == STAY
    # Carrying at (2,4) with the partner on (2,3): go round through (1,4) -> (1,3) -> (1,2).
    assert action(agent, obs_for(0, own=(2, 4), has=True, other=(2, 3))) == UP


def test_delivering_takes_the_nearest_available_onion():
    agent = coop_grid_partner("delivering", 0)
    assert action(agent, obs_for(0, own=(4, 1), other=(0, 0))) == RIGHT  # (4,3) is 2 away
    assert action(agent, obs_for(0, own=(4, 1), other=(0, 0), avail=(True, False))) in (UP, RIGHT)
    cells, picked, delivered = walk(agent, 0, own=(4, 1), other=(0, 0), avail=(True, False),
                                    steps=14)
    assert picked and cells[picked[0] - 1] == (3, 4) and delivered == [picked[0] + 3]


def test_fetcher_never_moves_into_the_pot_while_carrying():
    agent = coop_grid_partner("fetcher", 0)
    into_pot = {(1, 2): DOWN, (3, 2): UP, (2, 1): RIGHT, (2, 3): LEFT}
    for own, a in into_pot.items():
        probs = jax.nn.softmax(LOGITS(agent.params, obs_for(0, own=own, has=True, other=(0, 0))))
        assert probs[a] == 0.0 and probs.sum() == pytest.approx(1.0)
    # Not carrying: fetches like the delivering partner does.
    assert action(agent, obs_for(0, own=(3, 3), other=(0, 0))) == RIGHT


def test_partners_in_long_rollouts():
    """Every partner in seat 0 with `stay` or `delivering` in seat 1, 4 episodes of 200 steps."""
    venv = VecEnv(envs.make("coop_grid", episode_length=200))
    names = ["fetcher", "delivering", "single_source:source=0", "single_source:source=1", "stay"]
    seat0 = stack_agents([parse_spec(n, 0) for n in names])
    seat1 = stack_agents([coop_grid_partner("stay", 1), coop_grid_partner("delivering", 1)])
    tot = play_pairs(venv, seat0, seat1, jax.random.split(KEY, 4))
    picked, delivered = tot.contrib["onions_picked"], tot.contrib["deliveries"]  # [5, 2, 4, 2]
    fetcher, delivering, src0, src1, stay = range(5)
    assert np.all(delivered[fetcher, :, :, 0] == 0) and np.all(picked[fetcher, :, :, 0] >= 1)
    for i in (delivering, src0, src1):
        assert np.all(delivered[i, 0, :, 0] >= 10)  # a competent worker with an idle partner
    # The greedy partner is the best worker alone; two greedy partners never deadlock.
    assert delivered[delivering, 0].mean() > delivered[src0, 0].mean()
    assert np.all(delivered[delivering, 1] >= 5)
    assert np.all(tot.cost[stay, :, :, 0] == 0.0) and np.all(picked[stay, 0] == 0)


def test_epsilon_noise_and_shared_kind():
    noisy = coop_grid_partner("stay", 0, epsilon=0.5)
    probs = jax.nn.softmax(LOGITS(noisy.params, obs_for(0, own=(0, 1))))
    np.testing.assert_allclose(probs, [0.1, 0.1, 0.1, 0.1, 0.6], rtol=1e-6)
    assert noisy.name == "stay+eps0.5" and parse_spec("delivering:epsilon=0.3", 1).name \
        == "delivering+eps0.3"
    agents = [parse_spec(s, seat) for s in DEFAULT_PARTNERS for seat in (0, 1)]
    assert len({a.kind for a in agents}) == 1
    # Stacked and vmapped, each partner gives its own logits.
    obs = obs_for(0, own=(3, 3), other=(0, 0))
    batched = jax.vmap(LOGITS, (0, None))(stack_agents(agents).params, obs)
    for a, logits in zip(agents, batched):
        np.testing.assert_array_equal(logits, LOGITS(a.params, obs))


@pytest.mark.parametrize("call, message", [
    (lambda: coop_grid_partner("deliver", 0),
     "unknown coop_grid partner 'deliver' (did you mean "
     "'delivering'?); allowed: " + ", ".join(PARTNER_NAMES)),
    (lambda: coop_grid_partner("stay", 2), "seat: got 2; allowed: 0 or 1"),
    (lambda: coop_grid_partner("single_source", 0, source=2), "source got 2; allowed: 0, 1"),
    (lambda: coop_grid_partner("stay", 0, source=1), "unknown argument 'source'; allowed: epsilon"),
    (lambda: coop_grid_partner("stay", 0, epsilon=1.5), "epsilon got 1.5"),
    (lambda: parse_spec("single_source:1", 0), "expected name[:key=value]"),
    (lambda: parse_spec("single_source:source=a", 0), "source got 'a'"),
])
def test_registry_errors_name_the_allowed_values(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)
