"""Hanabi (JaxMARL's ``HanabiEnv``) on the ``ParamEnv`` contract, for 2 to 5 players.

The SRPO paper's setting is the small game of 3 colours x 3 ranks with cards per rank
``(3, 2, 1)`` (18 cards; a perfect game scores 9). Turn-based: only the current player has a
choice; every other seat's only legal move is the no-op (the last action), which
``legal_moves`` reports so learners mask illegal actions and train on acting turns only. The team
reward is the change in the fireworks' total (all points are lost when the last life token goes:
JaxMARL's "bomb-0" scoring), so an episode's return is its final score. Episodes also end after
``max_steps`` turns. Observations are JaxMARL's (each player's own view: the others' hands, the
board, the discards, the last action and its card beliefs), so one network can play any seat.

Per-seat contributions: ``plays`` (cards played onto the fireworks), ``misplays`` (plays that
cost a life token), ``hints`` and ``discards``.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxmarl.environments.hanabi.hanabi import HanabiEnv

from envs.base import ParamEnv, check_int


@struct.dataclass
class HanabiState:
    game: chex.ArrayTree  # JaxMARL's hanabi_game.State
    t: chex.Array  # [] int32 turns played in this episode


@struct.dataclass
class HanabiParams:
    """Hanabi has no traced numbers; the params pytree is empty."""


class Hanabi(ParamEnv):
    """JaxMARL Hanabi with explicit deck and hands (see the module docstring)."""

    has_legal_moves = True
    egocentric_obs = True
    contribution_keys = ("plays", "misplays", "hints", "discards")

    def __init__(self, num_agents: int = 2, num_colors: int = 3, num_ranks: int = 3,
                 num_cards_of_rank=(3, 2, 1), hand_size: int | None = None,
                 max_info_tokens: int = 8, max_life_tokens: int = 3, max_steps: int = 100):
        super().__init__(num_agents=num_agents)
        self.game = HanabiEnv(num_agents=num_agents, num_colors=num_colors, num_ranks=num_ranks,
                              hand_size=hand_size, max_info_tokens=max_info_tokens,
                              max_life_tokens=max_life_tokens,
                              num_cards_of_rank=np.asarray(num_cards_of_rank))
        self.agents = list(self.game.agents)
        self.num_colors, self.num_ranks = num_colors, num_ranks
        self.hand_size = self.game.hand_size
        self.num_moves = int(self.game.num_moves)
        self.noop = self.num_moves - 1
        self.max_score = num_colors * num_ranks
        self.max_steps = max_steps
        self.action_names = tuple(self.game.action_encoding[i] for i in range(self.num_moves))
        self.observation_spaces = self.game.observation_spaces
        self.action_spaces = self.game.action_spaces

    @property
    def default_params(self) -> HanabiParams:
        return HanabiParams()

    def legal_moves(self, state, params) -> jax.Array:
        legal = self.game.get_legal_moves(state.game)
        return jnp.stack([legal[a] for a in self.agents]).astype(bool)

    def current_seat(self, state) -> jax.Array:
        """The seat (agent index) whose turn it is, ``[]`` int32."""
        aidx = jnp.argmax(state.game.cur_player_idx)
        return state.game.seat_order[aidx].astype(jnp.int32)

    def reset_env(self, key, params):
        obs, game = self.game.reset(key)
        return obs, HanabiState(game=game, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state, actions, params):
        seat = self.current_seat(state)
        action = jnp.stack([actions[a] for a in self.agents])[seat]
        lives_before = jnp.sum(state.game.life_tokens)
        obs, game, rew, dones, _ = self.game.step_env(key, state.game, actions)
        t = state.t + 1
        done = dones["__all__"] | (t >= self.max_steps)
        reward = rew[self.agents[0]].astype(jnp.float32)
        hs = self.hand_size
        is_play = (action >= hs) & (action < 2 * hs)
        misplay = is_play & (jnp.sum(game.life_tokens) < lives_before)
        kinds = {"plays": is_play & ~misplay, "misplays": misplay,
                 "hints": (action >= 2 * hs) & (action < self.noop), "discards": action < hs}
        mine = jnp.arange(self.num_agents) == seat
        infos = {k: (mine & v).astype(jnp.float32) for k, v in kinds.items()}
        infos["private_cost"] = jnp.zeros((self.num_agents,), jnp.float32)
        rewards = {a: reward for a in self.agents}
        dones = {a: done for a in self.agents} | {"__all__": done}
        return obs, HanabiState(game=game, t=t), rewards, dones, infos


def make_hanabi(num_agents: int = 2, num_colors: int = 3, num_ranks: int = 3,
                num_cards_of_rank=(3, 2, 1), hand_size: int | None = None,
                max_info_tokens: int = 8, max_life_tokens: int = 3,
                max_steps: int = 100) -> Hanabi:
    num_agents = check_int("num_agents", num_agents, 2, 5)
    num_colors = check_int("num_colors", num_colors, 1, 5)
    num_ranks = check_int("num_ranks", num_ranks, 1, 5)
    counts = num_cards_of_rank
    if (not isinstance(counts, (list, tuple)) or len(counts) != num_ranks
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts)):
        raise ValueError(f"env.kwargs.num_cards_of_rank: got {counts!r}; allowed: a list of "
                         f"{num_ranks} positive integers (cards of each rank per colour)")
    if hand_size is None:
        hand_size = 5 if num_agents < 4 else 4
    hand_size = check_int("hand_size", hand_size, 1, 10)
    deck = num_colors * sum(counts)
    if num_agents * hand_size > deck:
        raise ValueError(f"env.kwargs.hand_size: got {hand_size}; allowed: at most "
                         f"{deck // num_agents} ({num_agents} hands from a deck of {deck})")
    return Hanabi(num_agents, num_colors, num_ranks, tuple(counts), hand_size,
                  check_int("max_info_tokens", max_info_tokens, 1, 100),
                  check_int("max_life_tokens", max_life_tokens, 1, 100),
                  check_int("max_steps", max_steps, 1, 10_000))
