"""Scripted Overcooked partners on the one ``Agent`` interface (held-out partners for cross-play).

The partners read the raw JaxMARL per-agent observation (float32) and play the JaxMARL env's
own action indices, so they work with JaxMARL's ``overcooked`` (version 1) and
``overcooked_v2`` (version 2, default full-grid observation) directly and through jsrpo's
wrappers, which pass those observations and actions through unchanged.

Partners, by registry name:
  stay    never moves (the stay action);
  random  uniform over the six actions;
  onion   onion-only: fetches onions from an onion pile and puts them into a pot that accepts
          one, forever; never takes a plate or dish, never delivers. While no pot accepts
          (cooking or full) it waits next to an onion pile, holding its onion;
  dish    plate/dish-only: fetches a plate from the plate pile, waits next to a cooking (or
          full) pot facing it and interacting until the soup is ready, picks the soup up and
          delivers it. Never touches onions. While no pot is cooking it waits next to the
          plate pile, holding its plate (so it does not stand in the onion carrier's way).
Any of them takes ``epsilon``: the probability of a uniform action (``agents.epsilon_noisy``).
If noise (epsilon) made ``onion`` or ``dish`` pick up something it never wants, it puts that
down on the nearest empty counter first.

Navigation is computed in JAX from the observation alone: own cell, facing and inventory, and
the layout (walkable floor, counters, piles, pots, delivery) are decoded from the channels;
shortest-path lengths to the free cells next to the current targets come from H*W rounds of
min-plus relaxation over the 4 neighbours (``lax.fori_loop``) with the other agent's cell
blocked; the partner steps to a neighbour of smaller distance, and once next to a target turns
to face it (a move into a non-floor cell only turns the agent, in both versions) and interacts.
With no target reachable (e.g. the other agent stands in the only corridor), or when its last
walking move left it where it was (both agents stepped into the same cell), it moves or stays
uniformly at random for that step; this breaks the symmetric deadlocks two deterministic agents
would otherwise fall into. That "last walking move" is the partner's only memory (its
``agent_state``, reset every episode by ``init_state``).

Every partner is one policy per version reading its index and epsilon from ``params``: any set
of partners for one version (any names, seats, epsilons) stacks and vmaps together. No Python
branching on traced values; layouts of different sizes are different programs.
"""
from __future__ import annotations

import dataclasses
import difflib
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jsrpo.agents import Agent, deterministic_logits, epsilon_noisy
from jsrpo.partners.registry import PartnerSet

NUM_ACTIONS = 6
STAY, INTERACT = 4, 5  # the same indices in both versions
#: action index of a move in direction UP, DOWN, RIGHT, LEFT (JaxMARL's direction order), per
#: version: v1 ``OvercookedActions`` is up, down, right, left, stay, interact; v2
#: ``OvercookedActionsEnum`` is right, down, left, up, stay, interact.
MOVE_ACTIONS = {1: (0, 1, 2, 3), 2: (3, 1, 0, 2)}
VERSIONS = tuple(MOVE_ACTIONS)
#: jsrpo env name -> the ``version`` its observations and actions follow.
ENV_VERSIONS = {"overcooked": 1, "overcooked_v2": 2}
_FAR = 1e4  # distance of an unreachable cell (finite so min-plus arithmetic stays exact)

PARTNER_NAMES = ("stay", "random", "onion", "dish")
#: held-out partners evaluated by default, as ``jsrpo.partners.parse`` spec strings.
DEFAULT_PARTNERS = ("stay", "random", "onion", "dish")


class Scene(NamedTuple):
    """What a partner needs from one observation. Masks are ``[H, W]`` bool."""

    own: jax.Array  # [2] int32 (row, col)
    facing: jax.Array  # [] int32 in UP, DOWN, RIGHT, LEFT order
    walkable: jax.Array  # floor cells (both agents' cells included)
    other: jax.Array  # the other agent's cell
    holds_onion: jax.Array  # [] bool
    holds_plate: jax.Array  # [] bool, an empty plate
    holds_dish: jax.Array  # [] bool, a plated soup
    holds_any: jax.Array  # [] bool, anything at all
    onion_pile: jax.Array
    plate_pile: jax.Array
    goal: jax.Array  # delivery cells
    empty_counter: jax.Array
    pot_open: jax.Array  # pots that accept an onion now
    pot_busy: jax.Array  # pots cooking, full or ready (a plate will be useful there)
    pot_ready: jax.Array  # pots with a finished soup


def _own_cell(layer):
    """(row, col) ``[2]`` int32 of the single 1 in ``layer`` ``[H, W]``."""
    idx = jnp.argmax(layer.reshape(-1))
    return jnp.stack([idx // layer.shape[1], idx % layer.shape[1]]).astype(jnp.int32)


def _decode_v1(obs) -> Scene:
    """JaxMARL ``overcooked`` (v1) observation ``[H, W, 26]`` (channels documented in
    ``Overcooked.get_obs``: 0/1 own/other position, 2-5 own orientation, 10 pots, 11 empty
    counters, 12 onion piles, 13 tomato piles, 14 plate piles, 15 delivery, 16 onions in a pot
    not cooking, 18 onions in a cooking/done soup, 20 cooking time left, 21 soup ready (pots
    and dishes, also in an agent's hands), 22 plates, 23 onions, 24 tomatoes; loose items and
    an agent's inventory are marked at their cell)."""
    ch = lambda i: obs[..., i] > 0.5  # noqa: E731
    own_layer, other = ch(0), ch(1)
    own = _own_cell(own_layer)
    facing = jnp.argmax(jnp.sum(obs[..., 2:6], axis=(0, 1))).astype(jnp.int32)
    at_own = obs[own[0], own[1]]
    holds_onion, holds_plate, holds_dish = at_own[23] > 0.5, at_own[22] > 0.5, at_own[21] > 0.5
    agents = own_layer | other
    loose_items = (ch(21) | ch(22) | ch(23) | ch(24)) & ~agents  # items lying on counters
    pot = ch(10)
    static = pot | ch(11) | ch(12) | ch(13) | ch(14) | ch(15)
    in_pot, in_soup = obs[..., 16], obs[..., 18]
    return Scene(
        own=own, facing=facing, walkable=~(static | loose_items), other=other,
        holds_onion=holds_onion, holds_plate=holds_plate, holds_dish=holds_dish,
        holds_any=holds_onion | holds_plate | holds_dish | (at_own[24] > 0.5),
        onion_pile=ch(12), plate_pile=ch(14), goal=ch(15), empty_counter=ch(11),
        pot_open=pot & (in_pot < 2.5) & (in_soup < 0.5),
        pot_busy=pot & ((in_pot > 2.5) | (in_soup > 0.5)),
        pot_ready=pot & ch(21))


def _v2_num_ingredients(channels: int) -> int:
    """Ingredient count ``n`` of a v2 default observation with ``channels`` layers
    (25 + 5n, plus one with ``indicate_successful_delivery``)."""
    n, extra = divmod(channels - 25, 5)
    if n < 1 or extra not in (0, 1):
        raise ValueError(f"overcooked_v2 partner: observation has {channels} channels; expected "
                         "the default full-grid observation with 25 + 5 * num_ingredients "
                         "(+1) channels")
    return n


def _decode_v2(obs) -> Scene:
    """JaxMARL ``overcooked_v2`` default observation ``[H, W, 25 + 5n (+1)]``
    (``OvercookedV2.get_obs_default``): own agent block [pos, 4 directions, inventory: plate
    bit, cooked bit, n ingredient counts], the other agent's block, static layers [wall, goal,
    pot, recipe indicator, button indicator, plate pile], n ingredient piles, the grid's items
    [plate, cooked, n counts], the recipe [plate, cooked, n counts], pot timer. Ingredient 0 is
    the onion."""
    n = _v2_num_ingredients(obs.shape[-1])
    ch = lambda i: obs[..., i] > 0.5  # noqa: E731
    block = n + 7  # one agent's layers
    s0 = 2 * block  # static layers
    piles = s0 + 6
    items = piles + n  # plate, cooked, counts
    timer = 5 * n + 24
    own_layer, other = ch(0), ch(block)
    own = _own_cell(own_layer)
    facing = jnp.argmax(jnp.sum(obs[..., 1:5], axis=(0, 1))).astype(jnp.int32)
    inv = obs[own[0], own[1], 5:7 + n] > 0.5  # plate, cooked, ingredient counts
    holds_dish = inv[1]
    holds_plate = inv[0] & ~inv[1]
    holds_onion = inv[2] & ~inv[0]
    pot = ch(s0 + 2)
    count = jnp.sum(obs[..., items + 2:items + 2 + n], axis=-1)
    cooked = ch(items + 1)
    cooking = ch(timer)
    return Scene(
        own=own, facing=facing,
        walkable=~jnp.any(obs[..., s0:piles + n] > 0.5, axis=-1), other=other,
        holds_onion=holds_onion, holds_plate=holds_plate, holds_dish=holds_dish,
        holds_any=jnp.any(inv), onion_pile=ch(piles), plate_pile=ch(s0 + 5), goal=ch(s0 + 1),
        empty_counter=ch(s0) & ~jnp.any(obs[..., items:items + 2 + n] > 0.5, axis=-1),
        pot_open=pot & ~cooking & ~cooked & (count < 2.5),
        pot_busy=pot & (cooking | cooked | (count > 2.5)),
        pot_ready=pot & cooked)


_DECODERS = {1: _decode_v1, 2: _decode_v2}


def _choose(*cases):
    """``cases = ((condition, target mask, interact), ..., (target mask, interact))``: the
    first case whose condition holds, as (mask ``[H, W]``, interact ``[]``), without branching."""
    *conditional, (target, interact) = cases
    for cond, t, i in reversed(conditional):
        target = jnp.where(cond, t, target)
        interact = jnp.where(cond, i, interact)
    return target, jnp.asarray(interact)


def _onion_task(sc: Scene):
    """Target cells and whether to interact there, for the onion-only partner."""
    return _choose(
        (sc.holds_any & ~sc.holds_onion, sc.empty_counter, True),  # put the stray item down
        (sc.holds_onion & jnp.any(sc.pot_open), sc.pot_open, True),
        (sc.holds_onion, sc.onion_pile, False),  # every pot busy: wait out of the way
        (sc.onion_pile, True))


def _dish_task(sc: Scene):
    """Target cells and whether to interact there, for the plate/dish-only partner."""
    return _choose(
        (sc.holds_any & ~sc.holds_plate & ~sc.holds_dish, sc.empty_counter, True),
        (sc.holds_dish, sc.goal, True),
        (sc.holds_plate & jnp.any(sc.pot_ready), sc.pot_ready, True),
        (sc.holds_plate & jnp.any(sc.pot_busy), sc.pot_busy, True),  # wait facing it
        (sc.holds_plate, sc.plate_pile, False),  # no soup on the way: wait out of the way
        (sc.plate_pile, True))


def _neighbours(grid, fill):
    """``[4, H, W]``: each cell's neighbour value UP, DOWN, RIGHT, LEFT (``fill`` off-grid)."""
    p = jnp.pad(grid, 1, constant_values=fill)
    return jnp.stack([p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, 2:], p[1:-1, :-2]])


def distances(free, target):
    """Shortest-path lengths ``[H, W]`` over ``free`` cells (4-neighbour moves) to the free
    cells next to a ``target`` cell; ``_FAR`` where unreachable or not free."""
    height, width = free.shape
    start = jnp.where(free & jnp.any(_neighbours(target, False), axis=0), 0.0, _FAR)

    def relax(_, d):
        return jnp.where(free, jnp.minimum(d, jnp.min(_neighbours(d, _FAR), axis=0) + 1.0), _FAR)

    return jax.lax.fori_loop(0, height * width, relax, start)


def navigate(sc: Scene, target, interact, version: int, stuck=False):
    """Logits ``[6]`` that walk towards the cells next to ``target``, then face a target cell
    and interact (``interact``) or stay; and whether they walk (a move meant to change cell).

    Uniform over the four moves and stay when nothing is reachable or when ``stuck`` (the last
    walking move left the agent where it was: the other agent moved into the same cell)."""
    moves = jnp.asarray(MOVE_ACTIONS[version], jnp.int32)
    free = sc.walkable & ~sc.other
    dist = distances(free, target)
    r, c = sc.own[0], sc.own[1]
    here = dist[r, c]
    nb_dist = _neighbours(dist, _FAR)[:, r, c]  # [4]
    nb_target = _neighbours(target, False)[:, r, c]  # [4]
    at_target = (here < 0.5) & jnp.any(nb_target)
    facing_target = nb_target[sc.facing]
    arrived = jnp.where(facing_target, jnp.where(interact, INTERACT, STAY),
                        moves[jnp.argmax(nb_target)])  # a move into a target only turns
    action = jnp.where(at_target, arrived, moves[jnp.argmin(nb_dist)])
    wander = (here >= _FAR) | (stuck & ~at_target)
    lost = jnp.where(jnp.arange(NUM_ACTIONS) == INTERACT, -1e9, 0.0)
    logits = jnp.where(wander, lost, deterministic_logits(action, NUM_ACTIONS))
    return logits, ~wander & ~at_target


def _init_state(key):
    """Per-episode memory: the cell at the last decision and whether it was a walking move."""
    return {"cell": jnp.full((2,), -1, jnp.int32), "walking": jnp.bool_(False)}


def _make_policy(version: int):
    decode = _DECODERS[version]

    def policy(p, state, obs, key):
        """Every scripted Overcooked partner of this version, selected by ``p["partner"]``."""
        obs = jnp.asarray(obs, jnp.float32)
        if obs.ndim != 3 or (version == 1 and obs.shape[-1] != 26):
            raise ValueError(f"overcooked partner (version {version}): expected the JaxMARL "
                             f"per-agent grid observation [H, W, C], got shape {obs.shape}")
        sc = decode(obs)
        stuck = state["walking"] & jnp.all(state["cell"] == sc.own)
        (t_onion, i_onion), (t_dish, i_dish) = _onion_task(sc), _dish_task(sc)
        is_dish = p["partner"] == PARTNER_NAMES.index("dish")
        nav, walking = navigate(sc, jnp.where(is_dish, t_dish, t_onion),
                                jnp.where(is_dish, i_dish, i_onion), version, stuck)
        logits = jnp.stack([deterministic_logits(STAY, NUM_ACTIONS),
                            jnp.zeros(NUM_ACTIONS), nav, nav])
        return logits[p["partner"]], {"cell": sc.own, "walking": walking}

    return policy


_POLICIES = {v: _make_policy(v) for v in VERSIONS}


def _check_name(name) -> None:
    if name not in PARTNER_NAMES:
        close = difflib.get_close_matches(str(name), PARTNER_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown overcooked partner {name!r}{hint}; allowed: "
                         f"{', '.join(PARTNER_NAMES)}")


def overcooked_partner(name: str, seat: int, epsilon: float = 0.0, version: int = 1) -> Agent:
    """The scripted partner ``name`` playing ``seat`` (0 or 1) of Overcooked ``version``.

    Args:
      name: one of ``PARTNER_NAMES``.
      seat: the seat it plays (observations are ego-centric, so the policy does not read it).
      epsilon: probability of playing uniformly at random instead (``agents.epsilon_noisy``).
      version: 1 for JaxMARL ``overcooked``, 2 for ``overcooked_v2``.
    Returns:
      an ``Agent``; every scripted partner of one version (any name, seat, epsilon) has the same
      ``kind``, so any set of them stacks into one vmapped batch.
    """
    _check_name(name)
    if seat not in (0, 1):
        raise ValueError(f"seat: got {seat!r}; allowed: 0 or 1")
    if version not in VERSIONS:
        raise ValueError(f"overcooked version: got {version!r}; allowed: "
                         f"{', '.join(map(str, VERSIONS))}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) \
            or not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"partner {name!r}: epsilon got {epsilon!r}; allowed: a number in [0, 1]")
    params = {"seat": jnp.int32(seat), "partner": jnp.int32(PARTNER_NAMES.index(name))}
    env = "overcooked" if version == 1 else "overcooked_v2"
    exact = Agent(name=name, params=params, policy=_POLICIES[version], init_state=_init_state,
                  kind=f"scripted:overcooked_v{version}",
                  obs_shape=(None, None, 26) if version == 1 else (None, None, None),
                  num_actions=NUM_ACTIONS, envs=(env,))
    # Always wrapped (epsilon 0 is the exact partner) so noisy and exact partners share a kind.
    noisy = epsilon_noisy(exact, float(epsilon), NUM_ACTIONS)
    return dataclasses.replace(noisy, name=noisy.name if epsilon > 0 else name)


def _make(env_name: str, name: str, seat: int, epsilon: float = 0.0) -> Agent:
    return overcooked_partner(name, seat, epsilon, version=ENV_VERSIONS[env_name])


PARTNERS = PartnerSet(
    envs=tuple(ENV_VERSIONS),
    args={name: () for name in PARTNER_NAMES},
    defaults=DEFAULT_PARTNERS,
    make=_make,
)
