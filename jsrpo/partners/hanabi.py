"""Scripted Hanabi partners on the one ``Agent`` interface (held-out partners for cross-play).

Both read JaxMARL's Hanabi observation (``Layout`` says where each feature sits for a given
game) and score every action; the env's legal moves then pick the best legal one (a seat that is
not on turn has only the no-op). Partners, by registry name:

  random  uniform over the legal moves;
  rule    plays a card it knows to be playable (its belief puts all mass on cards the fireworks
          accept), else hints a playable card in another hand (its rank if the holder does not
          know it, else its colour), else discards its oldest card; when none of these is legal
          (no info token to hint, or a full token stack forbids discarding) it gives any hint,
          else discards any card, and plays an unknown card only as a last resort.

Either takes ``epsilon``: the probability of a uniform action (masked to the legal ones).
The set is registered for ``hanabi`` in ``jsrpo.partners`` (``PARTNERS``); it builds the game
from the run's env kwargs to find the observation layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import jax.numpy as jnp

from envs.hanabi import make_hanabi
from jsrpo.agents import Agent, epsilon_noisy
from jsrpo.partners.registry import PartnerSet

PARTNER_NAMES = ("random", "rule")
DEFAULT_PARTNERS = ("random", "rule", "rule:epsilon=0.2")
#: scores: larger wins among the legal actions (scaled so the softmax is deterministic)
_PLAY_KNOWN, _HINT_PLAYABLE, _DISCARD_OLDEST = 60.0, 50.0, 40.0
_ANY_HINT, _ANY_DISCARD, _PLAY_UNKNOWN, _NOOP = 30.0, 20.0, 10.0, 0.0
_SCALE = 100.0


@dataclass(frozen=True)
class Layout:
    """Sizes and offsets of JaxMARL's Hanabi observation for one game."""

    num_agents: int
    num_colors: int
    num_ranks: int
    hand_size: int
    num_moves: int
    fireworks: int  # offset of the fireworks [C, R] (one-hot of the highest card per colour)
    info_tokens: int  # offset of the info-token thermometer
    max_info_tokens: int
    belief: int  # offset of the beliefs [N, H, C*R + C + R] (index 0: the observer)
    obs_size: int

    @classmethod
    def of(cls, game) -> "Layout":
        """From a JaxMARL ``HanabiEnv`` (``envs.hanabi.Hanabi.game``)."""
        n, h, c, r = game.num_agents, game.hand_size, game.num_colors, game.num_ranks
        deck_feats = game.deck_size - n * h
        fireworks = game.hands_n_feats + deck_feats
        return cls(num_agents=n, num_colors=c, num_ranks=r, hand_size=h,
                   num_moves=int(game.num_moves), fireworks=fireworks,
                   info_tokens=fireworks + c * r, max_info_tokens=game.max_info_tokens,
                   belief=game.obs_size - game.v0_belief_n_feats, obs_size=game.obs_size)


def rule_scores(obs, lay: Layout):
    """``obs [obs_size]`` -> a score per action ``[num_moves]`` (see the module docstring)."""
    n, h, c, r = lay.num_agents, lay.hand_size, lay.num_colors, lay.num_ranks
    obs = jnp.asarray(obs, jnp.float32)
    fire = obs[lay.fireworks:lay.fireworks + c * r].reshape(c, r)
    level = jnp.sum(fire * (jnp.arange(r) + 1), axis=1)  # [C] cards played per colour
    playable = (jnp.arange(r)[None, :] == level[:, None]).astype(jnp.float32)  # [C, R]
    per_card = c * r + c + r
    belief = obs[lay.belief:lay.belief + n * h * per_card].reshape(n, h, per_card)
    mine = belief[0, :, :c * r].reshape(h, c, r)
    present = jnp.sum(mine, axis=(1, 2)) > 0
    known_playable = present & (jnp.sum(mine * playable, axis=(1, 2)) > 1 - 1e-4)  # [H]
    others = obs[:(n - 1) * h * c * r].reshape(n - 1, h, c, r)
    other_playable = jnp.sum(others * playable, axis=(2, 3)) > 0.5  # [N-1, H]
    card_color = jnp.argmax(jnp.sum(others, axis=3), axis=2)  # [N-1, H]
    card_rank = jnp.argmax(jnp.sum(others, axis=2), axis=2)
    color_known = jnp.sum(belief[1:, :, c * r:c * r + c], axis=2) > 0  # [N-1, H]
    rank_known = jnp.sum(belief[1:, :, c * r + c:], axis=2) > 0

    scores = jnp.zeros(lay.num_moves)
    idx = jnp.arange(h)
    # discards 0..H-1 (0: the oldest card), plays H..2H-1
    scores = scores.at[idx].set(jnp.where(idx == 0, _DISCARD_OLDEST, _ANY_DISCARD))
    scores = scores.at[h + idx].set(jnp.where(known_playable, _PLAY_KNOWN - idx * 0.1,
                                              _PLAY_UNKNOWN))
    # hints: colour to relative player p (1..N-1) at 2H + (p-1) C + colour, then rank at
    # 2H + (N-1) C + (p-1) R + rank; a playable card's rank first, its colour once the rank is
    # known, the nearest player and lowest card first.
    color_base, rank_base = 2 * h, 2 * h + (n - 1) * c
    scores = scores.at[color_base:color_base + (n - 1) * (c + r)].set(_ANY_HINT)
    p_idx = jnp.arange(n - 1)[:, None]
    order = -(p_idx * h + idx[None, :]) * 0.01  # [N-1, H] tie-break
    want_rank = other_playable & ~rank_known
    want_color = other_playable & rank_known & ~color_known
    rank_act = rank_base + p_idx * r + card_rank
    color_act = color_base + p_idx * c + card_color
    rank_score = jnp.where(want_rank, _HINT_PLAYABLE + order, -jnp.inf)
    color_score = jnp.where(want_color, _HINT_PLAYABLE + order, -jnp.inf)
    scores = scores.at[rank_act.ravel()].max(rank_score.ravel())
    scores = scores.at[color_act.ravel()].max(color_score.ravel())
    return scores.at[lay.num_moves - 1].set(_NOOP)


def hanabi_partner(name: str, lay: Layout, epsilon: float = 0.0) -> Agent:
    """The scripted partner ``name`` (``PARTNER_NAMES``) for the game of ``lay``."""
    if name not in PARTNER_NAMES:
        raise ValueError(f"unknown hanabi partner {name!r}; allowed: {', '.join(PARTNER_NAMES)}")
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"partner {name!r}: epsilon got {epsilon!r}; allowed: a number in "
                         "[0, 1]")

    def policy(p, state, obs, key):
        rule = rule_scores(obs, lay) * _SCALE
        return jnp.where(p["partner"] == PARTNER_NAMES.index("rule"), rule,
                         jnp.zeros_like(rule)), state

    agent = Agent(name=name, params={"partner": jnp.int32(PARTNER_NAMES.index(name))},
                  policy=policy, kind=f"hanabi:{lay!r}", obs_shape=(lay.obs_size,),
                  num_actions=lay.num_moves, envs=("hanabi",))
    return epsilon_noisy(agent, epsilon, lay.num_moves) if epsilon > 0 else agent


def _make(env_name: str, name: str, seat: int, epsilon: float = 0.0,
          env_kwargs: Optional[Mapping] = None) -> Agent:
    return hanabi_partner(name, Layout.of(make_hanabi(**dict(env_kwargs or {})).game), epsilon)


PARTNERS = PartnerSet(
    envs=("hanabi",),
    args={name: () for name in PARTNER_NAMES},
    defaults=DEFAULT_PARTNERS,
    make=_make,
    env_kwargs=True,
)
