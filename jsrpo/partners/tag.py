"""Scripted agents for MPE Tag (``envs.mpe_tag``): held-out runners and chaser partners.

- ``flee`` (the runner's seat): move away from the nearest chaser, turned back from the arena's
  edge (MPE penalises a runner that leaves it);
- ``chase`` (a chaser's seat): move straight towards the runner;
- ``random`` (any seat): uniformly random moves.

Each takes ``epsilon`` (that share of uniformly random moves). All of them are one agent kind
whose params say which rule plays, so any mixture of them stacks into one pool (a frozen runner
drawn per episode, ``jsrpo.frozen``).
"""
from __future__ import annotations

from typing import Mapping, Optional

import jax
import jax.numpy as jnp

from envs.mpe_tag import MOVES, NUM_CHASERS, make_tag
from jsrpo.agents import Agent, deterministic_logits
from jsrpo.partners.registry import PartnerSet

NAMES = ("random", "flee", "chase")
#: the seats each agent may play (None: any)
RUNNER_ONLY, CHASER_ONLY = ("flee",), ("chase",)
#: the runner turns back when a coordinate's magnitude passes this (MPE's penalty starts at 0.9)
EDGE = 0.8


def _unit(v):
    return v / jnp.maximum(jnp.linalg.norm(v), 1e-6)


def tag_agent(name: str, others_at: int, epsilon: float = 0.0) -> Agent:
    """The scripted Tag agent ``name`` for observations whose other agents' relative positions
    start at index ``others_at`` (``Tag.others_at``)."""
    if name not in NAMES:
        raise ValueError(f"unknown tag partner {name!r}; allowed: {', '.join(NAMES)}")
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"partner {name!r}: epsilon got {epsilon!r}; allowed: a number in "
                         "[0, 1]")
    moves = jnp.asarray(MOVES)
    num_actions = len(MOVES)

    def policy(p, state, obs, key):
        pos = obs[2:4]
        others = obs[others_at:others_at + 2 * NUM_CHASERS].reshape(NUM_CHASERS, 2)
        nearest = others[jnp.argmin(jnp.linalg.norm(others, axis=-1))]
        flee = _unit(-_unit(nearest) - 2.0 * pos * (jnp.abs(pos) > EDGE))
        chase = _unit(others[1])  # a chaser's second "other" is the runner
        want = jnp.where(p["rule"] == NAMES.index("flee"), flee, chase)
        greedy = deterministic_logits(jnp.argmax(moves[1:] @ want) + 1, num_actions)
        logits = jnp.where(p["rule"] == NAMES.index("random"), 0.0, greedy)
        probs = (1 - p["epsilon"]) * jax.nn.softmax(logits) + p["epsilon"] / num_actions
        return jnp.log(probs), state

    label = name if epsilon == 0 else f"{name}+eps{epsilon:g}"
    return Agent(name=label, params={"rule": jnp.int32(NAMES.index(name)),
                                     "epsilon": jnp.float32(epsilon)},
                 policy=policy, kind=f"tag:{others_at}",
                 obs_shape=(others_at + 2 * NUM_CHASERS + 2,),
                 num_actions=num_actions, envs=("tag",))


def _make(env_name: str, name: str, seat: int, epsilon: float = 0.0,
          env_kwargs: Optional[Mapping] = None) -> Agent:
    env = make_tag(**dict(env_kwargs or {}))
    runner = seat == env.num_agents - 1
    if name in RUNNER_ONLY and not runner or name in CHASER_ONLY and runner:
        allowed = [n for n in NAMES if n not in (CHASER_ONLY if runner else RUNNER_ONLY)]
        raise ValueError(f"tag partner {name!r} cannot play seat {seat} "
                         f"({'the runner' if runner else 'a chaser'}); allowed there: "
                         f"{', '.join(allowed)}")
    return tag_agent(name, env.others_at, epsilon)


PARTNERS = PartnerSet(
    envs=("tag",),
    args={name: () for name in NAMES},
    defaults=("random",),
    make=_make,
    env_kwargs=True,
)
