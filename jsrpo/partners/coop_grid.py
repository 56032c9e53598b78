"""Scripted coop_grid partners on the one ``Agent`` interface (held-out partners for cross-play).

Every partner reads its own seat's position and carry flag from the shared 8-float observation
``[a0_row, a0_col, a0_has, a1_row, a1_col, a1_has, onion0_avail, onion1_avail]`` and plays
actions 0..4 = up, down, left, right, stay (docs/environments.md). The seat, the partner's name, its
onion source and its epsilon are data in ``params``, so every scripted partner is one ``kind``:
any set of them stacks and vmaps together. Paths are table look-ups and ``jnp.where``: no Python
branching on traced values.

Partners, by registry name:
  stay          always stays (the ultimate free-rider: never pays a move cost);
  random        uniform over the five actions;
  fetcher       walks to the nearest available onion, then wanders at random while carrying
                without ever moving into the pot (picks up, never delivers);
  single_source fetches only from onion source ``source`` (0 = (3,4), 1 = (4,3)) and delivers;
  delivering    greedy and competent: nearest available onion, then the pot.
Any of them takes ``epsilon``: the probability of a uniform action (``agents.epsilon_noisy``).
The set is registered for ``coop_grid`` in ``jsrpo.partners`` (``PARTNERS``).
"""
from __future__ import annotations

import dataclasses
import difflib
from collections import deque

import jax.numpy as jnp
import numpy as np

from envs.coop_grid import GRID_SIZE, MOVES, ONION_SOURCES, POT, STAY
from jsrpo.agents import Agent, deterministic_logits, epsilon_noisy
from jsrpo.partners.registry import PartnerSet

NUM_ACTIONS = len(MOVES)
_UNREACHABLE = 1000.0  # finite, so an all-unreachable argmin still lands on the stay bonus
_TARGETS = ONION_SOURCES + (POT,)  # target index 0, 1: onion sources; 2: the pot
_TO_POT = len(ONION_SOURCES)


def _distance_table() -> np.ndarray:
    """Shortest-path lengths ``[target 3, partner cell 25, cell 25]`` (float32, unreachable =
    ``_UNREACHABLE``) on the 5x5 grid where the pot and the partner's cell are solid.

    The pot is solid except as a target: "reaching" it means moving into it from a neighbour.
    The partner's cell is solid because walking into the partner costs -2 and does not move.
    """
    n = GRID_SIZE * GRID_SIZE
    table = np.full((len(_TARGETS), n, n), _UNREACHABLE, np.float32)
    pot = POT[0] * GRID_SIZE + POT[1]
    for t, (tr, tc) in enumerate(_TARGETS):
        for partner in range(n):
            target = tr * GRID_SIZE + tc
            if partner == target:
                continue  # the partner stands on the target: unreachable from everywhere
            table[t, partner, target] = 0.0
            queue = deque([target])
            while queue:
                cell = queue.popleft()
                r, c = divmod(cell, GRID_SIZE)
                for dr, dc in MOVES[:STAY]:
                    nr, nc = r + dr, c + dc
                    nxt = nr * GRID_SIZE + nc
                    if (0 <= nr < GRID_SIZE and 0 <= nc < GRID_SIZE and nxt not in (pot, partner)
                            and table[t, partner, nxt] == _UNREACHABLE):
                        table[t, partner, nxt] = table[t, partner, cell] + 1.0
                        queue.append(nxt)
    return table


# numpy constants (made device arrays inside the traced functions): importing this module must
# not start a JAX backend, which ``jax.distributed`` has to start first in multi-host runs.
_DIST = _distance_table()
_MOVES = np.asarray(MOVES, np.int32)


def _self_and_partner(obs, seat):
    """obs ``[8]`` -> own (row, col) ``[2]`` int32, own carry flag ``[]`` bool, and the
    partner's cell index ``[]`` (row * 5 + col)."""
    obs = jnp.asarray(obs, jnp.float32)
    own = jnp.round(jnp.where(seat == 0, obs[0:2], obs[3:5])).astype(jnp.int32)
    partner = jnp.round(jnp.where(seat == 0, obs[3:5], obs[0:2])).astype(jnp.int32)
    has = jnp.where(seat == 0, obs[2], obs[5]) > 0.5
    return own, has, partner[0] * GRID_SIZE + partner[1]


def _cell(rc):
    return rc[0] * GRID_SIZE + rc[1]


def _step_towards(own, partner_cell, target):
    """Action ``[]`` int32 that takes one step along a shortest path to ``_TARGETS[target]``.

    Stays when already there or when the target is unreachable (e.g. the partner stands on it);
    moving into the pot is allowed only when the pot is the target (that is the delivery).
    """
    dist = jnp.asarray(_DIST)[target, partner_cell]  # [25]
    nxt = jnp.clip(own[None, :] + jnp.asarray(_MOVES), 0, GRID_SIZE - 1)  # [5, 2]; stay = own cell
    # Ties go to stay (cheaper); a wall-clipped move scores like stay but costs a move.
    score = dist[_cell(nxt.T)] + 1e-3 * (jnp.arange(NUM_ACTIONS) != STAY)
    return jnp.argmin(score).astype(jnp.int32)


def _nearest_onion(own, partner_cell, avail):
    """Index ``[]`` of the available onion source closest to ``own`` (by path length); the
    closest source overall when none is available (wait there for the respawn)."""
    d = jnp.asarray(_DIST)[:_TO_POT, partner_cell, _cell(own)]  # [2]
    d_avail = jnp.where(avail, d, _UNREACHABLE + d)
    return jnp.argmin(d_avail).astype(jnp.int32)


def _stay(p, obs):
    return deterministic_logits(STAY, NUM_ACTIONS)


def _random(p, obs):
    return jnp.zeros((NUM_ACTIONS,))


def _fetcher(p, obs):
    own, has, partner = _self_and_partner(obs, p["seat"])
    onion = _nearest_onion(own, partner, obs[6:8] > 0.5)
    fetch = deterministic_logits(_step_towards(own, partner, onion), NUM_ACTIONS)
    # While carrying: uniform over every action except the one that would enter the pot
    # (a carrying agent moving into the pot delivers).
    into_pot = jnp.all(
        jnp.clip(own[None, :] + jnp.asarray(_MOVES), 0, GRID_SIZE - 1) == jnp.asarray(POT),
        axis=1)
    wander = jnp.where(into_pot, -1e9, 0.0)
    return jnp.where(has, wander, fetch)


def _single_source(p, obs):
    own, has, partner = _self_and_partner(obs, p["seat"])
    target = jnp.where(has, _TO_POT, p["source"])
    return deterministic_logits(_step_towards(own, partner, target), NUM_ACTIONS)


def _delivering(p, obs):
    own, has, partner = _self_and_partner(obs, p["seat"])
    target = jnp.where(has, _TO_POT, _nearest_onion(own, partner, obs[6:8] > 0.5))
    return deterministic_logits(_step_towards(own, partner, target), NUM_ACTIONS)


# name -> (logits function, extra keyword arguments with their allowed values; first = default)
_PARTNERS = {
    "stay": (_stay, {}),
    "random": (_random, {}),
    "fetcher": (_fetcher, {}),
    "single_source": (_single_source, {"source": (0, 1)}),
    "delivering": (_delivering, {}),
}
PARTNER_NAMES = tuple(_PARTNERS)
#: held-out partners evaluated by default, as ``parse_partner_spec`` strings.
DEFAULT_PARTNERS = ("stay", "random", "fetcher", "single_source:source=0",
                    "single_source:source=1", "delivering", "delivering:epsilon=0.3")


def _scripted_policy(p, state, obs, key):
    """Every scripted partner is this one policy with its index in ``p["partner"]``: all of
    them share one ``kind``, so a whole set of partners is stacked and evaluated in one compiled
    call instead of one compilation per partner. The branches are a few table look-ups each."""
    logits = jnp.stack([f(p, obs) for f, _ in _PARTNERS.values()])  # [num partners, A]
    return logits[p["partner"]], state


def coop_grid_partner(name: str, seat: int, epsilon: float = 0.0, **kw) -> Agent:
    """The scripted partner ``name`` playing ``seat`` (0 or 1) of coop_grid.

    Args:
      name: one of ``PARTNER_NAMES``.
      seat: the seat it plays; it reads its own position from that seat's slots of the obs.
      epsilon: probability of playing uniformly at random instead (``agents.epsilon_noisy``).
      **kw: ``source=0|1`` for ``single_source``.
    Returns:
      an ``Agent``; every scripted partner (any name, seat, source, epsilon) has the same
      ``kind``, so any set of them stacks into one vmapped batch.
    """
    if name not in _PARTNERS:
        close = difflib.get_close_matches(str(name), PARTNER_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown coop_grid partner {name!r}{hint}; allowed: "
                         f"{', '.join(PARTNER_NAMES)}")
    if seat not in (0, 1):
        raise ValueError(f"seat: got {seat!r}; allowed: 0 or 1")
    allowed = _PARTNERS[name][1]
    for k, v in kw.items():
        if k not in allowed:
            raise ValueError(f"partner {name!r}: unknown argument {k!r}; allowed: "
                             f"{', '.join(['epsilon', *allowed])}")
        if v not in allowed[k]:
            raise ValueError(f"partner {name!r}: {k} got {v!r}; allowed: "
                             f"{', '.join(map(str, allowed[k]))}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"partner {name!r}: epsilon got {epsilon!r}; allowed: a number in [0, 1]")
    source = kw.get("source", 0)
    params = {"seat": jnp.int32(seat), "source": jnp.int32(source),
              "partner": jnp.int32(PARTNER_NAMES.index(name))}
    label = name + (str(source) if "source" in allowed else "")
    exact = Agent(name=label, params=params, policy=_scripted_policy, kind="scripted:coop_grid",
                  obs_shape=(8,), num_actions=NUM_ACTIONS, envs=("coop_grid",))
    # Always wrapped (epsilon 0 is the exact partner) so noisy and exact partners share a kind.
    noisy = epsilon_noisy(exact, epsilon, NUM_ACTIONS)
    return dataclasses.replace(noisy, name=noisy.name if epsilon > 0 else label)


def _make(env_name: str, name: str, seat: int, epsilon: float = 0.0, **kw) -> Agent:
    del env_name  # coop_grid only
    return coop_grid_partner(name, seat, epsilon, **kw)


PARTNERS = PartnerSet(
    envs=("coop_grid",),
    args={name: tuple(kw) for name, (_, kw) in _PARTNERS.items()},
    defaults=DEFAULT_PARTNERS,
    make=_make,
)
