"""Playing episodes with an agent in every seat, no learning: the one place that does it.

Training-time evaluation (``train``), cross-play (``crossplay``) and rendering (``render``) all
play their episodes through ``play_seats`` (``play_episode`` for two seats), so they measure the
same thing: sampled actions, ``venv.max_steps`` steps without auto-reset, totals counted up to
the first episode end. ``play_sides`` plays every pair of teams on the two halves of the seats
(``play_pairs``: every seat-0 agent with every seat-1 agent) over shared episode keys as one
compiled call.
"""
from __future__ import annotations

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
    ``actions``, ``rewards``: ``[T, P]``.
    """

    states: Any
    actions: jax.Array
    rewards: jax.Array


def play_episode(venv: VecEnv, agent0: Agent, agent1: Agent, params0, params1, key,
                 record: bool = False):
    """One episode of ``agent0`` (seat 0, reading ``params0``) with ``agent1`` (seat 1): the
    two-seat case of ``play_seats``."""
    return play_seats(venv, (agent0, agent1), (params0, params1), key, record)


def play_seats(venv: VecEnv, agents: Sequence[Agent], params: Sequence[Any], key,
               record: bool = False):
    """One episode with ``agents[i]`` (reading ``params[i]``) in seat i, for every seat.

    Sampled actions for ``venv.max_steps`` steps with ``env.step_env`` (no auto-reset); totals
    stop at the first episode end. ``agents[i].params`` is not read (so the agents may carry
    stacked params); pass one member's. Actions a seat does not have, or may not take in the
    current state (envs with legal moves), are masked out.

    Returns ``EpisodeTotals`` (``ret``, ``cost`` and each contribution ``[P]``, ``length []``);
    with ``record=True``, ``(totals, Recording)``.
    """
    env, seats = venv.env, venv.agents
    P = len(seats)
    if len(agents) != P or len(params) != P:
        name = getattr(env, "registry_name", type(env).__name__)
        raise ValueError(f"play_seats: {name} "
                         f"has {P} seats; got {len(agents)} agents and {len(params)} params")
    mask = None if venv.action_mask is None else jnp.asarray(venv.action_mask)
    k_reset, *k_init, k_run = jax.random.split(key, P + 2)
    obs, state = env.reset(k_reset, venv.params)
    agent_states = tuple(a.init_state(k) for a, k in zip(agents, k_init))

    def step(carry, key):
        state, obs, agent_states, alive, tot = carry
        *k_seat, k_env = jax.random.split(key, P + 1)
        legal = env.legal_moves(state, venv.params) if venv.has_legal_moves else None
        actions, new_states = [], []
        for i in range(P):
            logits, s_i = agents[i].policy(params[i], agent_states[i], obs[seats[i]], k_seat[i])
            if mask is not None:
                logits = jnp.where(mask[i], logits, MASKED_LOGIT)
            if legal is not None:
                logits = jnp.where(legal[i], logits, MASKED_LOGIT)
            actions.append(jax.random.categorical(k_seat[i], logits))
            new_states.append(s_i)
        obs, state, rew, dones, infos = env.step_env(
            k_env, state, {a: actions[i] for i, a in enumerate(seats)}, venv.params)
        live = alive.astype(jnp.float32)  # steps after the first episode end are not counted
        reward = jnp.stack([rew[a] for a in seats]).astype(jnp.float32)
        tot = EpisodeTotals(
            ret=tot.ret + live * reward,
            cost=tot.cost + live * infos["private_cost"].astype(jnp.float32),
            contrib={k: v + live * infos[k].astype(jnp.float32) for k, v in tot.contrib.items()},
            length=tot.length + alive.astype(jnp.int32))
        out = (state, jnp.stack(actions), reward) if record else None
        return (state, obs, tuple(new_states), alive & ~dones["__all__"], tot), out

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


def seat_halves(num_seats: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The two sides cross-play pairs: the first ``num_seats // 2`` seats and the rest (two
    players: seat 0 and seat 1; four: seats 0-1 and seats 2-3, as the SRPO paper pairs them)."""
    half = num_seats // 2
    return tuple(range(half)), tuple(range(half, num_seats))


def play_sides(venv: VecEnv, side0: Sequence[Agent], side1: Sequence[Agent],
               keys, per_member: bool = False) -> EpisodeTotals:
    """Every pair (i, j) of a first-side team i and a second-side team j (``seat_halves``) over
    the same episodes, ONE compiled call.

    Args:
      side0: one ``Agent`` per seat of the first side, each of one kind with params stacked
        ``[I, ...]`` (``stack_agents``): team i plays ``side0[k]`` with params ``[i]`` in the
        side's seat k.
      side1: the same for the second side, stacked ``[J, ...]``.
      keys: ``[N]`` episode keys, shared by every pair (common random numbers).
      per_member: params stacked ``[M, I, ...]`` and ``[M, J, ...]`` instead: every pair within
        each of M independent groups (a PSRO member's meta-game), still one compiled call.
    Returns:
      EpisodeTotals of numpy arrays with leading axes ``[I, J, N]`` (``ret``: ``[I, J, N, P]``),
      ``[M, I, J, N]`` with ``per_member``.
    """
    first, second = seat_halves(venv.num_seats)
    if len(side0) != len(first) or len(side1) != len(second):
        raise ValueError(f"play_sides: {venv.num_seats} seats split into {len(first)} + "
                         f"{len(second)}; got {len(side0)} + {len(side1)} agents")
    agents = list(side0) + list(side1)

    def episode(params0, params1, key):
        return play_seats(venv, agents, list(params0) + list(params1), key)

    over_episodes = jax.vmap(episode, in_axes=(None, None, 0))
    over_j = jax.vmap(over_episodes, in_axes=(None, 0, None))
    over_i = jax.vmap(over_j, in_axes=(0, None, None))
    if per_member:
        over_i = jax.vmap(over_i, in_axes=(0, 0, None))
    return jax.device_get(jax.jit(over_i)(tuple(a.params for a in side0),
                                          tuple(a.params for a in side1), keys))


def play_pairs(venv: VecEnv, agent0: Agent, agent1: Agent, keys) -> EpisodeTotals:
    """Every pair of a seat-0 stack ``[I]`` and a seat-1 stack ``[J]`` of a two-seat env over the
    same episodes (``play_sides`` with one seat per side): leading axes ``[I, J, N]``."""
    return play_sides(venv, [agent0], [agent1], keys)


def play_recorded(venv: VecEnv, agent0: Agent, agent1: Agent, key):
    """One recorded episode of two agents' own params (compiled), as numpy:
    ``(EpisodeTotals, Recording)``."""
    return play_recorded_seats(venv, (agent0, agent1), key)


def play_recorded_seats(venv: VecEnv, agents: Sequence[Agent], key):
    """One recorded episode with ``agents[i]`` (its own params) in seat i, compiled, as numpy:
    ``(EpisodeTotals, Recording)``."""
    agents = tuple(agents)
    run = jax.jit(lambda k: play_seats(venv, agents, [a.params for a in agents], k,
                                       record=True))
    return jax.tree.map(np.asarray, run(key))
