"""Scripted Overcooked partners do what their names say, on JaxMARL's own Overcooked and
through jsrpo's cross-play on the wrapped envs.

Compiles dominate, so there are few programs: one rollout of a whole batch of partner pairs on
JaxMARL's v1 cramped_room (the ``cramped`` fixture, one jitted episode looped over pairs), one
jitted policy call (``LOGITS``) shared by every logits test, and one jitted cross-play episode
per extra layout/version.
"""
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import jaxmarl
import numpy as np
import pytest
from jaxmarl.environments.overcooked import overcooked_layouts
from jaxmarl.environments.overcooked.common import OBJECT_TO_INDEX

import envs
from jsrpo import partners
from jsrpo.episodes import play_episode, stack_agents
from jsrpo.partners.overcooked import (
    DEFAULT_PARTNERS,
    NUM_ACTIONS,
    PARTNER_NAMES,
    STAY,
    overcooked_partner,
)
from jsrpo.vec_env import VecEnv

KEY = jax.random.PRNGKey(0)
STEPS = 400
# Seat-0 and seat-1 partner of every pair rolled out on cramped_room (v1).
PAIRS = [("onion", "dish"), ("dish", "onion"), ("onion", "stay"), ("stay", "onion"),
         ("dish", "stay")]
SEEDS = 2

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    ENV = jaxmarl.make("overcooked", layout=overcooked_layouts["cramped_room"])

RESET = jax.jit(ENV.reset)
_PROBE = overcooked_partner("stay", 0)
LOGITS = jax.jit(lambda params, obs: _PROBE.policy(params, _PROBE.init_state(KEY), obs, KEY)[0])


def _rollout(policy, init_state, p0, p1, key):
    """One 400-step v1 episode; per step: sparse reward, shaped rewards [2], agent positions
    [2, 2] and inventories [2] after the step; and the final pot status."""
    obs, state = ENV.reset(key)

    def step(carry, k):
        obs, state, s0, s1 = carry
        k0, k1, k_env = jax.random.split(k, 3)
        l0, s0 = policy(p0, s0, obs["agent_0"].astype(jnp.float32), k0)
        l1, s1 = policy(p1, s1, obs["agent_1"].astype(jnp.float32), k1)
        acts = {"agent_0": jax.random.categorical(k0, l0),
                "agent_1": jax.random.categorical(k1, l1)}
        obs, state, rew, _, info = ENV.step_env(k_env, state, acts)
        shaped = jnp.stack([info["shaped_reward"]["agent_0"], info["shaped_reward"]["agent_1"]])
        return (obs, state, s0, s1), (rew["agent_0"], shaped, state.agent_pos, state.agent_inv)

    carry = (obs, state, init_state(key), init_state(key))
    (_, state, _, _), per_step = jax.lax.scan(step, carry, jax.random.split(key, STEPS))
    pad = (state.maze_map.shape[0] - ENV.height) // 2
    pot = state.pot_pos[0]
    return per_step + (state.maze_map[pad + pot[1], pad + pot[0], 2],)


@pytest.fixture(scope="module")
def cramped():
    """Every pair of ``PAIRS`` for ``SEEDS`` episodes. Arrays [pair, seed, ...].

    One compiled episode serves every pair (partners differ only in params values); a Python
    loop over pairs and seeds compiles far less than vmapping the JaxMARL step over them."""
    rollout = jax.jit(lambda p0, p1, k: _rollout(_PROBE.policy, _PROBE.init_state, p0, p1, k))
    runs = [[jax.device_get(rollout(overcooked_partner(n0, 0).params,
                                    overcooked_partner(n1, 1).params, k))
             for k in jax.random.split(KEY, SEEDS)] for n0, n1 in PAIRS]
    names = ("reward", "shaped", "pos", "inv", "pot_status")
    return {n: np.stack([np.stack([run[f] for run in pair]) for pair in runs])
            for f, n in enumerate(names)}


def _pair(name0, name1):
    return PAIRS.index((name0, name1))


def _seats(name):
    """(pair index, seat) of every rolled-out seat played by ``name``."""
    return [(i, s) for i, pair in enumerate(PAIRS) for s in (0, 1) if pair[s] == name]


# ---------------------------------------------------------------- behaviour on cramped_room v1

@pytest.mark.parametrize("pair", [("onion", "dish"), ("dish", "onion")])
def test_onion_and_dish_deliver_together(cramped, pair):
    deliveries = (cramped["reward"][_pair(*pair)] == 20).sum(-1)  # [seeds]
    assert np.all(deliveries >= 1), deliveries
    # The full cycle repeats: 11 soups per 400 steps on cramped_room (3 onions each).
    assert np.all(deliveries >= 8), deliveries


@pytest.mark.parametrize("pair,seat", [(("onion", "stay"), 0), (("stay", "onion"), 1)])
def test_onion_alone_fills_the_pot_and_takes_no_dish(cramped, pair, seat):
    i = _pair(*pair)
    # 3 onions placed (3 shaped reward each), then the pot cooks and the soup sits ready.
    np.testing.assert_array_equal(cramped["shaped"][i, :, :, seat].sum(-1), 9.0)
    np.testing.assert_array_equal(cramped["pot_status"][i], 0)  # 0 = soup ready
    assert np.all(cramped["reward"][i] == 0)


def test_onion_never_holds_a_plate_or_dish_and_dish_never_holds_an_onion(cramped):
    inv = cramped["inv"]
    for i, s in _seats("onion"):
        assert not np.isin(inv[i, :, :, s], [OBJECT_TO_INDEX["plate"],
                                             OBJECT_TO_INDEX["dish"]]).any(), PAIRS[i]
        assert (inv[i, :, :, s] == OBJECT_TO_INDEX["onion"]).any(), PAIRS[i]
    for i, s in _seats("dish"):
        assert not (inv[i, :, :, s] == OBJECT_TO_INDEX["onion"]).any(), PAIRS[i]
        assert (inv[i, :, :, s] == OBJECT_TO_INDEX["plate"]).any(), PAIRS[i]


def test_dish_waits_with_its_plate_when_no_soup_is_coming(cramped):
    i = _pair("dish", "stay")
    assert np.all(cramped["reward"][i] == 0)
    assert np.all(cramped["inv"][i, :, -1, 0] == OBJECT_TO_INDEX["plate"])


def test_stay_never_moves(cramped):
    start = np.asarray(RESET(KEY)[1].agent_pos)
    for i, s in _seats("stay"):
        np.testing.assert_array_equal(cramped["pos"][i, :, :, s],
                                      np.broadcast_to(start[s], cramped["pos"][i, :, :, s].shape))


# ---------------------------------------------------------------- logits

def _obs(seat=0, key=KEY):
    return RESET(key)[0][f"agent_{seat}"].astype(jnp.float32)


def test_stay_logits_pick_stay():
    logits = np.asarray(LOGITS(overcooked_partner("stay", 1).params, _obs(1)))
    assert int(np.argmax(logits)) == STAY
    np.testing.assert_allclose(jax.nn.softmax(logits)[STAY], 1.0)


def test_random_logits_are_uniform():
    for seat in (0, 1):
        probs = jax.nn.softmax(LOGITS(overcooked_partner("random", seat).params, _obs(seat)))
        np.testing.assert_allclose(probs, np.full(NUM_ACTIONS, 1 / NUM_ACTIONS), rtol=1e-6)


def test_epsilon_mixes_in_uniform_actions():
    obs = _obs(0)
    exact = np.asarray(jax.nn.softmax(LOGITS(overcooked_partner("onion", 0).params, obs)))
    noisy = np.asarray(jax.nn.softmax(
        LOGITS(overcooked_partner("onion", 0, epsilon=0.3).params, obs)))
    assert exact.max() == pytest.approx(1.0)
    np.testing.assert_allclose(noisy, 0.7 * exact + 0.3 / NUM_ACTIONS, atol=1e-6)
    assert overcooked_partner("onion", 0, epsilon=0.3).name == "onion+eps0.3"


def test_onion_first_step_heads_for_the_onion_pile():
    # cramped_room v1: agent_0 starts at (x=1, y=1) next to the onion pile at (0, 1), on its
    # left (v1 action 3); it turns left (or interacts if it already faces the pile).
    for key in jax.random.split(KEY, 4):
        obs, state = RESET(key)
        action = int(np.argmax(LOGITS(overcooked_partner("onion", 0).params,
                                      obs["agent_0"].astype(jnp.float32))))
        facing_pile = int(state.agent_dir_idx[0]) == 3
        assert action == (5 if facing_pile else 3)


def test_stacked_partners_vmap_in_one_call():
    agents = [overcooked_partner("stay", 0), overcooked_partner("random", 1),
              overcooked_partner("onion", 0, epsilon=0.2), overcooked_partner("dish", 1),
              overcooked_partner("dish", 0, epsilon=0.5)]
    assert len({a.kind for a in agents}) == 1
    stacked = stack_agents(agents)
    obs = _obs(0)
    states = jax.vmap(stacked.init_state)(jax.random.split(KEY, len(agents)))
    logits, new_states = jax.jit(jax.vmap(stacked.policy, (0, 0, None, None)))(
        stacked.params, states, obs, KEY)
    assert logits.shape == (len(agents), NUM_ACTIONS)
    assert new_states["cell"].shape == (len(agents), 2)
    for row, agent in zip(np.asarray(logits), agents):
        np.testing.assert_allclose(jax.nn.softmax(row),
                                   jax.nn.softmax(LOGITS(agent.params, obs)), atol=1e-6)


# ---------------------------------------------------------------- names and arguments

def test_registry_and_specs():
    assert PARTNER_NAMES == ("stay", "random", "onion", "dish")
    for spec in DEFAULT_PARTNERS:
        assert partners.parse("overcooked", spec, 0).name == spec
    agent = partners.parse("overcooked_v2", " dish:epsilon=0.25 ", 1)
    assert agent.name == "dish+eps0.25" and agent.kind == "noisy:scripted:overcooked_v2"
    assert float(agent.params["epsilon"]) == 0.25
    assert int(agent.params["inner"]["seat"]) == 1
    assert partners.parse("overcooked", "onion", 0).kind != agent.kind  # versions differ


@pytest.mark.parametrize("call, message", [
    (lambda: partners.parse("overcooked", "onoin", 0), "did you mean 'onion'"),
    (lambda: partners.parse("overcooked", "chef", 0), "allowed: stay, random, onion, dish"),
    (lambda: partners.parse("overcooked", "onion:source=1", 0),
     "partner 'onion': unknown argument 'source'; allowed: epsilon"),
    (lambda: partners.parse("overcooked", "dish:epsilon=high", 0),
     "epsilon got 'high'; expected a number"),
    (lambda: partners.parse("overcooked", "dish:epsilon=1.5", 0),
     "partner 'dish': epsilon got 1.5; allowed: a number in [0, 1]"),
    (lambda: partners.parse("overcooked", "dish:epsilon", 0), "expected name[:key=value]"),
    (lambda: overcooked_partner("onion", 2), "seat: got 2; allowed: 0 or 1"),
    (lambda: overcooked_partner("onion", 0, version=3), "version: got 3; allowed: 1, 2"),
    (lambda: overcooked_partner("onion", 0, epsilon="0.1"), "epsilon got '0.1'"),
])
def test_bad_partner_names_and_arguments(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_wrong_observation_is_refused():
    with pytest.raises(ValueError, match="expected the JaxMARL per-agent grid observation"):
        _PROBE.policy(_PROBE.params, _PROBE.init_state(KEY), jnp.zeros(8), KEY)


# ---------------------------------------------------------------- other layouts, jsrpo's envs

@pytest.mark.parametrize("env_name,layout,version", [
    ("overcooked", "coord_ring", 1), ("overcooked_v2", "cramped_room", 2)])
def test_partners_deliver_through_crossplay_episodes(env_name, layout, version):
    """Through ``envs.make`` and cross-play's own episode loop (jitted once, looped over pairs:
    vmapping the env over pairs would compile several times longer)."""
    if env_name not in envs.registered():
        pytest.skip(f"{env_name} is not registered in envs")
    venv = VecEnv(envs.make(env_name, layout=layout))
    probe = overcooked_partner("stay", 0, version=version)
    episode = jax.jit(partial(play_episode, venv, probe, probe))
    names = ("onion", "dish")
    tot = {(n0, n1): jax.device_get(episode(overcooked_partner(n0, 0, version=version).params,
                                            overcooked_partner(n1, 1, version=version).params,
                                            KEY))
           for n0 in names for n1 in names}
    for (n0, n1), t in tot.items():
        c = {k: np.asarray(v) for k, v in t.contrib.items()}
        deliveries = c["deliveries"].sum()
        np.testing.assert_allclose(t.ret, [20 * deliveries] * 2)
        assert int(t.length) == STEPS
        for seat, name in enumerate((n0, n1)):
            if name == "onion":
                assert c["plates_picked"][seat] == 0 and c["soups_picked"][seat] == 0
                assert c["deliveries"][seat] == 0
            else:
                assert c["onions_in_pot"][seat] == 0
        if n0 != n1:  # onion with dish: the whole cycle, repeatedly
            assert deliveries >= 3, (layout, n0, n1, c)
            assert c["onions_in_pot"].sum() >= 3 * deliveries
        elif n0 == "onion":  # two onion carriers fill the pot(s) but never serve
            assert deliveries == 0 and c["onions_in_pot"].sum() >= 3
        else:  # two dish carriers: nothing to serve
            assert deliveries == 0 and c["soups_picked"].sum() == 0
