"""One agent interface for every kind of partner: learned policies, scripted partners and noisy
wrappers all map ``(params, agent_state, obs, key)`` to ``(logits, agent_state)``.

An ``Agent`` is data plus two pure functions, so a pool of agents of one kind (same ``policy``
function, params stacked on a leading axis) can be evaluated with ``jax.vmap`` in one call.
Logits are unnormalised log-probabilities over the seat's actions; a deterministic partner puts
a large logit on its action.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

from jsrpo.networks import ActorCritic


@dataclass(frozen=True)
class Agent:
    """A policy for one seat.

    Attributes:
      name: label used in reports.
      params: pytree the policy reads (network weights, a seat index, a noise level...).
      policy: ``(params, agent_state, obs [*obs_shape], key) -> (logits [A], agent_state)``.
      init_state: ``(key) -> agent_state`` at the start of every episode (``()`` if stateless).
      kind: agents with equal ``kind`` share ``policy`` and can be stacked and vmapped together.
      obs_shape: the observation shape the policy reads (``None`` entries: any size), or None
        when it does not say; checked by ``check_agent`` before anything compiles.
      num_actions: size of the action space it plays, or None.
      envs: names of the environments it is written for (scripted partners), or None for any.
    """

    name: str
    params: Any
    policy: Callable
    init_state: Callable = field(default=lambda key: ())
    kind: str = "custom"
    obs_shape: Optional[tuple] = None
    num_actions: Optional[int] = None
    envs: Optional[tuple] = None


def check_agent(agent: Agent, env_name: str, obs_shape: Sequence[int], num_actions: int,
                role: str = "partner") -> None:
    """Raise ``ValueError`` naming the agent when it cannot play this environment's seat: made
    for another environment, another observation shape, or another number of actions."""
    where = f"{role} {agent.name!r}"
    if agent.envs is not None and env_name not in agent.envs:
        raise ValueError(f"{where} is made for {', '.join(agent.envs)}; this evaluation plays "
                         f"{env_name}")
    shape = tuple(obs_shape)
    if agent.obs_shape is not None:
        want = tuple(agent.obs_shape)
        if len(want) != len(shape) or any(w is not None and w != g for w, g in zip(want, shape)):
            show = tuple("any" if w is None else w for w in want)
            raise ValueError(f"{where} reads observations of shape {show}; {env_name} gives "
                             f"{shape}")
    if agent.num_actions is not None and agent.num_actions != num_actions:
        raise ValueError(f"{where} plays {agent.num_actions} actions; {env_name} has "
                         f"{num_actions}")


def network_agent(name: str, network: ActorCritic, params: Any, seat_id=None,
                  obs_shape: Optional[tuple] = None, num_seats: int = 2) -> Agent:
    """A learned actor (critic unused) as an ``Agent``; rebuilt from the saved network config.

    ``seat_id``: for self-play networks, the seat whose one-hot id is appended to the
    observation (as in training); None for networks trained without it. ``obs_shape``: the
    environment observation it was trained on (without the seat id), if known; ``num_seats``:
    the length of the one-hot seat id (the env's number of seats).
    """
    if seat_id is None:
        def policy(p, state, obs, key):
            return network.apply(p["net"], obs, method=ActorCritic.policy), state
        params = {"net": params}
    else:
        def policy(p, state, obs, key):
            obs = jnp.concatenate([obs.astype(jnp.float32), p["seat_id"]], axis=-1)
            return network.apply(p["net"], obs, method=ActorCritic.policy), state
        params = {"net": params, "seat_id": jax.nn.one_hot(seat_id, num_seats)}
    kind = f"network:{network!r}:seat_id={seat_id is not None}"
    return Agent(name=name, params=params, policy=policy, kind=kind,
                 obs_shape=None if obs_shape is None else tuple(obs_shape),
                 num_actions=network.num_actions)


def deterministic_logits(action, num_actions: int) -> jax.Array:
    """Logits that pick ``action`` with probability 1 (to float precision)."""
    return jnp.where(jnp.arange(num_actions) == action, 0.0, -1e9)


def epsilon_noisy(agent: Agent, epsilon: float, num_actions: int) -> Agent:
    """``agent`` that instead plays uniformly at random with probability ``epsilon``."""

    def policy(p, state, obs, key):
        logits, state = agent.policy(p["inner"], state, obs, key)
        probs = (1 - p["epsilon"]) * jax.nn.softmax(logits) + p["epsilon"] / num_actions
        return jnp.log(probs), state

    return Agent(name=f"{agent.name}+eps{epsilon:g}",
                 params={"inner": agent.params, "epsilon": jnp.float32(epsilon)},
                 policy=policy, init_state=agent.init_state, kind=f"noisy:{agent.kind}",
                 obs_shape=agent.obs_shape, num_actions=agent.num_actions, envs=agent.envs)


def mixture_agent(name: str, agents: Sequence[Agent], weights: Sequence[float]) -> Agent:
    """A mixed strategy over whole policies (a population's meta-strategy): each episode plays
    one of ``agents``, drawn by ``weights``. The agents must be stateless; they may be of
    several kinds. Its state is the episode's uniform draw, so mixtures of one structure
    (same kinds in the same order) stack and vmap like any agent, with their own weights."""
    kinds = list(dict.fromkeys(a.kind for a in agents))
    firsts = [next(a for a in agents if a.kind == k) for k in kinds]
    stacks = tuple(jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]),
                                *[a.params for a in agents if a.kind == k]) for k in kinds)
    index = [sum(b.kind == a.kind for b in agents[:i]) for i, a in enumerate(agents)]
    w = jnp.asarray(weights, jnp.float32)
    params = {"pools": stacks, "kind": jnp.asarray([kinds.index(a.kind) for a in agents]),
              "index": jnp.asarray(index), "cdf": jnp.cumsum(w / jnp.sum(w))}

    def policy(p, u, obs, key):
        k = jnp.minimum(jnp.searchsorted(p["cdf"], u, side="right"), len(agents) - 1)

        def branch(b):
            def run(_):
                q = jax.tree.map(lambda x: x[p["index"][k]], p["pools"][b])
                return firsts[b].policy(q, (), obs, key)[0].astype(jnp.float32)
            return run

        return jax.lax.switch(p["kind"][k], [branch(b) for b in range(len(kinds))], None), u

    return Agent(name=name, params=params, policy=policy,
                 init_state=lambda key: jax.random.uniform(key),
                 kind=f"mixture:{len(agents)}:{'|'.join(kinds)}",
                 obs_shape=firsts[0].obs_shape, num_actions=firsts[0].num_actions,
                 envs=firsts[0].envs)
