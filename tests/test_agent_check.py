"""A partner or policy that cannot play an environment's seat fails with its name, before any
episode is compiled, instead of playing garbage."""
import jax
import jax.numpy as jnp
import pytest

import envs
from jsrpo.agents import Agent, check_agent, network_agent
from jsrpo.crossplay import evaluate_pairs, partner_agents
from jsrpo.networks import ActorCritic
from jsrpo.partners.coop_grid import coop_grid_partner
from jsrpo.partners.overcooked import overcooked_partner
from jsrpo.vec_env import VecEnv


def _net_agent(obs_shape, num_actions):
    net = ActorCritic(num_actions=num_actions, obs_ndim=len(obs_shape))
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1,) + obs_shape))
    return network_agent("saved-policy", net, params, obs_shape=obs_shape)


@pytest.mark.parametrize("agent, env, shape, actions, message", [
    (coop_grid_partner("delivering", 1), "collab_defect", (1,), 2,
     "partner 'delivering' is made for coop_grid; this evaluation plays collab_defect"),
    (overcooked_partner("onion", 0, version=1), "overcooked_v2", (4, 5, 30), 6,
     "partner 'onion' is made for overcooked; this evaluation plays overcooked_v2"),
    (_net_agent((8,), 5), "coop_grid_bigger", (10,), 5,
     "partner 'saved-policy' reads observations of shape (8,); coop_grid_bigger gives (10,)"),
    (_net_agent((4, 5, 26), 6), "overcooked", (5, 5, 26), 6,
     "reads observations of shape (4, 5, 26); overcooked gives (5, 5, 26)"),
    (_net_agent((8,), 4), "coop_grid", (8,), 5,
     "partner 'saved-policy' plays 4 actions; coop_grid has 5"),
])
def test_mismatched_agent_is_named(agent, env, shape, actions, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_agent(agent, env, shape, actions)


def test_matching_agents_pass():
    check_agent(overcooked_partner("dish", 1, epsilon=0.2, version=1), "overcooked",
                (5, 9, 26), 6)  # any layout size
    check_agent(coop_grid_partner("stay", 0), "coop_grid", (8,), 5)
    check_agent(Agent("custom", {}, lambda p, s, o, k: (o, s)), "anything", (3,), 7)


def test_evaluation_refuses_before_playing():
    venv = VecEnv(envs.make("collab_defect"))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="made for coop_grid"):
        evaluate_pairs(venv, [(coop_grid_partner("stay", 0),)], [(coop_grid_partner("stay", 1),)],
                       keys)


def test_partner_specs_dispatch_by_environment():
    assert [a[0].kind for a, _ in partner_agents("overcooked_v2", ["onion", "dish:epsilon=0.1"])] \
        == ["noisy:scripted:overcooked_v2"] * 2
    with pytest.raises(ValueError, match="--partners: .*relay has none"):
        partner_agents("relay", ["stay"])
    with pytest.raises(ValueError, match="--partners: unknown collab_defect partner 'stay'"):
        partner_agents("collab_defect", ["stay"])
    with pytest.raises(ValueError, match="--partners: .*did you mean 'onion'"):
        partner_agents("overcooked", ["onoin"])
