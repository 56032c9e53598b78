"""Scripted players of the matrix games (``envs.matrix_games``), one-shot or repeated: fixed
mixed strategies that ignore the history.

- ``mixed`` (``p``): the first action with probability ``p``, the others evenly (with two
  actions: Stag with probability p in the stag hunt);
- ``random``: every action evenly.

A fixed mixture is a start for population methods (PSRO's common first policy, the RAE paper's
starting belief) and a held-out partner. All of them are one agent kind.
"""
from __future__ import annotations

from typing import Mapping, Optional

import jax.numpy as jnp
import numpy as np

import envs
from jsrpo.agents import Agent
from jsrpo.partners.registry import PartnerSet

NAMES = ("mixed", "random")
GAMES = ("stag_hunt", "car_overtake", "collab_defect", "coordination")


def mixed_agent(probs: np.ndarray, epsilon: float = 0.0, label: str = "mixed") -> Agent:
    """The fixed mixed strategy ``probs`` ``[A]`` (with ``epsilon`` of uniform moves)."""
    n = len(probs)
    probs = (1 - epsilon) * np.asarray(probs, np.float64) + epsilon / n
    logits = np.log(np.maximum(probs, 1e-30)).astype(np.float32)

    def policy(p, state, obs, key):
        return p["logits"], state

    return Agent(name=label, params={"logits": jnp.asarray(logits)}, policy=policy,
                 kind=f"matrix:{n}", obs_shape=None, num_actions=n, envs=GAMES)


def _make(env_name: str, name: str, seat: int, epsilon: float = 0.0, p: float = 0.5,
          env_kwargs: Optional[Mapping] = None) -> Agent:
    game = envs.make(env_name, **dict(env_kwargs or {}))
    n = int(getattr(game.action_space(game.agents[seat]), "n"))
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"partner {name!r}: epsilon got {epsilon!r}; allowed: a number in "
                         "[0, 1]")
    if name == "random":
        return mixed_agent(np.full(n, 1.0 / n), epsilon, "random")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"partner 'mixed': p got {p!r}; allowed: a number in [0, 1]")
    probs = np.full(n, (1.0 - p) / max(n - 1, 1))
    probs[0] = p
    label = f"mixed:p={p:g}" + ("" if epsilon == 0 else f"+eps{epsilon:g}")
    return mixed_agent(probs, epsilon, label)


PARTNERS = PartnerSet(
    envs=GAMES,
    args={"mixed": ("p",), "random": ()},
    defaults=("random",),
    make=_make,
    env_kwargs=True,
)
