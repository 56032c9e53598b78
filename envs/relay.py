"""Relay: the smallest turn-based team game with any number of seats (tests and examples of the
N-seat, turn-based learner).

``num_agents`` seats hold a baton in turn, starting from a random seat. Only the seat holding it
acts; every other seat's only legal action is the no-op (action 0). The holder may *pass* (the
team earns 1 and the baton goes to the next seat) or *drop* it (the team earns nothing and the
episode ends). An episode lasts at most ``length`` steps, so the team's best return is ``length``
(always pass) and a single drop at the start gives 0. Each seat observes, ego-centrically, the
baton's position relative to itself (one-hot over seats) and the share of the episode done.
"""
from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jaxmarl.environments import spaces

from envs.base import ParamEnv, check_int

NOOP, PASS, DROP = 0, 1, 2


@struct.dataclass
class RelayState:
    holder: chex.Array  # [] int32, the seat that holds the baton
    step: chex.Array  # [] int32
    done: chex.Array  # [] bool


@struct.dataclass
class RelayParams:
    pass_reward: chex.Array  # [] float32


class Relay(ParamEnv):
    """Turn-based relay for ``num_agents`` seats (see the module docstring)."""

    has_legal_moves = True
    contribution_keys = ("passes",)
    action_names = ("noop", "pass", "drop")

    def __init__(self, num_agents: int = 2, length: int = 8):
        super().__init__(num_agents=num_agents)
        self.length = length
        self.max_steps = length
        self.agents = [f"agent_{i}" for i in range(num_agents)]
        obs_size = num_agents + 1
        self.observation_spaces = {a: spaces.Box(0.0, 1.0, (obs_size,)) for a in self.agents}
        self.action_spaces = {a: spaces.Discrete(3) for a in self.agents}

    @property
    def default_params(self) -> RelayParams:
        return RelayParams(pass_reward=jnp.float32(1.0))

    def get_obs(self, state):
        P = self.num_agents
        frac = jnp.asarray(state.step, jnp.float32)[None] / self.length
        return {a: jnp.concatenate([jax.nn.one_hot((state.holder - i) % P, P), frac])
                for i, a in enumerate(self.agents)}

    def legal_moves(self, state, params) -> jax.Array:
        holds = jnp.arange(self.num_agents) == state.holder  # [P]
        return jnp.stack([~holds, holds, holds], axis=1)  # [P, 3]: noop | pass, drop

    def reset_env(self, key, params):
        holder = jax.random.randint(key, (), 0, self.num_agents)
        state = RelayState(holder=holder.astype(jnp.int32), step=jnp.zeros((), jnp.int32),
                           done=jnp.zeros((), bool))
        return self.get_obs(state), state

    def step_env(self, key, state, actions, params):
        act = jnp.stack([actions[a] for a in self.agents])[state.holder]
        passed = act == PASS
        step = state.step + 1
        done = (act == DROP) | (step >= self.length)
        reward = jnp.where(passed, params.pass_reward, 0.0)
        holds = jnp.arange(self.num_agents) == state.holder
        state = dataclasses.replace(
            state, holder=jnp.where(passed, (state.holder + 1) % self.num_agents, state.holder),
            step=step, done=done)
        rewards = {a: reward for a in self.agents}
        dones = {a: done for a in self.agents} | {"__all__": done}
        infos = {"private_cost": jnp.zeros((self.num_agents,), jnp.float32),
                 "passes": (holds & passed).astype(jnp.float32)}
        return self.get_obs(state), state, rewards, dones, infos


def make_relay(num_agents: int = 2, length: int = 8) -> Relay:
    return Relay(check_int("num_agents", num_agents, 2, 16), check_int("length", length, 1, 1000))
