"""Playing episodes with two agents, no learning: the one place that does it.

Training-time evaluation (``train``), cross-play (``crossplay``) and rendering (``render``)
all play their episodes through ``play_episode``, so they measure the same thing: sampled
actions, ``venv.max_steps`` steps without auto-reset, totals counted up to the first episode
end. ``play_pairs`` plays every (seat-0 agent, seat-1 agent) pair of two stacks over shared
episode keys as one compiled call.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jsrpo.agents import Agent
from jsrpo.vec_env import MASKED_LOGIT, EpisodeTotals, VecEnv


@struct.dataclass
class Recording:
    """Every state of one episode (``record=True``), leading axis over time.

    ``states``: the env states ``[T + 1, ...]`` (index 0 = the reset state);
    ``actions``, ``rewards``: ``[T, 2]``.
    """

    states: Any
    actions: jax.Array
    rewards: jax.Array


def play_episode(venv: VecEnv, agent0: Agent, agent1: Agent, params0, params1, key,
                 record: bool = False):
    """One episode of ``agent0`` (seat 0, reading ``params0``) with ``agent1`` (seat 1).

    Sampled actions for ``venv.max_steps`` steps with ``env.step_env`` (no auto-reset); totals
    stop at the first episode end. ``agentX.params`` is not read (so the agents may carry
    stacked params); pass one member's. Actions a seat does not have are masked out.

    Returns ``EpisodeTotals`` (``ret``, ``cost`` and each contribution ``[2]``, ``length []``);
    with ``record=True``, ``(totals, Recording)``.
    """
    env, seats = venv.env, venv.agents
    mask = None if venv.action_mask is None else jnp.asarray(venv.action_mask)
    k_reset, k_init0, k_init1, k_run = jax.random.split(key, 4)
    obs, state = env.reset(k_reset, venv.params)
    agent_states = (agent0.init_state(k_init0), agent1.init_state(k_init1))

    def step(carry, key):
        state, obs, (s0, s1), alive, tot = carry
        k0, k1, k_env = jax.random.split(key, 3)
        l0, s0 = agent0.policy(params0, s0, obs[seats[0]], k0)
        l1, s1 = agent1.policy(params1, s1, obs[seats[1]], k1)
        if mask is not None:
            l0, l1 = jnp.where(mask[0], l0, MASKED_LOGIT), jnp.where(mask[1], l1, MASKED_LOGIT)
        a0, a1 = jax.random.categorical(k0, l0), jax.random.categorical(k1, l1)
        obs, state, rew, dones, infos = env.step_env(k_env, state, {seats[0]: a0, seats[1]: a1},
                                                     venv.params)
        live = alive.astype(jnp.float32)  # steps after the first episode end are not counted
        reward = jnp.stack([rew[a] for a in seats]).astype(jnp.float32)
        tot = EpisodeTotals(
            ret=tot.ret + live * reward,
            cost=tot.cost + live * infos["private_cost"].astype(jnp.float32),
            contrib={k: v + live * infos[k].astype(jnp.float32) for k, v in tot.contrib.items()},
            length=tot.length + alive.astype(jnp.int32))
        out = (state, jnp.stack([a0, a1]), reward) if record else None
        return (state, obs, (s0, s1), alive & ~dones["__all__"], tot), out

    zeros = jax.tree.map(lambda x: x[0], venv.zero_totals(1))
    carry = (state, obs, agent_states, jnp.ones((), bool), zeros)
    (_, _, _, _, tot), out = jax.lax.scan(step, carry, jax.random.split(k_run, venv.max_steps))
    if not record:
        return tot
    states, actions, rewards = out
    states = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), state, states)
    return tot, Recording(states=states, actions=actions, rewards=rewards)


def stack_agents(agents: Sequence[Agent]) -> Agent:
    """Agents of one ``kind`` as one ``Agent`` whose params have a leading axis ``[len]``."""
    kinds = {a.kind for a in agents}
    if len(kinds) != 1:
        raise ValueError(f"stack_agents: agents of different kinds {sorted(kinds)}")
    # Host-side stack: eager jnp.stack would compile one small XLA program per leaf shape.
    params = jax.tree.map(lambda *x: np.stack(x), *[a.params for a in agents])
    return Agent(name=f"{len(agents)} x {agents[0].kind}", params=params, policy=agents[0].policy,
                 init_state=agents[0].init_state, kind=agents[0].kind,
                 obs_shape=agents[0].obs_shape, num_actions=agents[0].num_actions,
                 envs=agents[0].envs)


def play_pairs(venv: VecEnv, agent0: Agent, agent1: Agent, keys) -> EpisodeTotals:
    """Every pair of a seat-0 stack and a seat-1 stack over the same episodes, ONE compiled call.

    Args:
      agent0: seat-0 agents of one kind, params stacked ``[I, ...]`` (see ``stack_agents``).
      agent1: seat-1 agents of one kind, params stacked ``[J, ...]``.
      keys: ``[N]`` episode keys, shared by every pair (common random numbers).
    Returns:
      EpisodeTotals of numpy arrays with leading axes ``[I, J, N]`` (``ret``: ``[I, J, N, 2]``).
    """
    episode = partial(play_episode, venv, agent0, agent1)
    over_episodes = jax.vmap(episode, in_axes=(None, None, 0))
    over_j = jax.vmap(over_episodes, in_axes=(None, 0, None))
    over_i = jax.vmap(over_j, in_axes=(0, None, None))
    return jax.device_get(jax.jit(over_i)(agent0.params, agent1.params, keys))


def play_recorded(venv: VecEnv, agent0: Agent, agent1: Agent, key):
    """One recorded episode of the agents' own params (compiled), as numpy:
    ``(EpisodeTotals, Recording)``."""
    run = jax.jit(lambda k: play_episode(venv, agent0, agent1, agent0.params, agent1.params, k,
                                         record=True))
    return jax.tree.map(np.asarray, run(key))
