"""The reference 5x5 cooperative grid world ("coop grid", SRPO paper App. D.2).

Rules in docs/environments.md.

Two agents fetch onions from two sources and deliver them to a solid pot. Deliveries and pickups
reward BOTH agents (shared), while moving and bumping into the partner cost only the actor
(private), so an agent can free-ride on its partner's work. Each step the agents act one after
the other in a random order; missing onions respawn at random at the end of the step.

Grid cells are (row, col); actions 0..4 = up (row-1), down (row+1), left (col-1), right (col+1),
stay. Observation (both seats, 8 float32): [a0_row, a0_col, a0_has, a1_row, a1_col, a1_has,
onion0_available, onion1_available], raw coordinates.
"""
from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jaxmarl.environments import spaces

from envs.base import ParamEnv, check_int, check_number

GRID_SIZE = 5
POT = (2, 2)
ONION_SOURCES = ((3, 4), (4, 3))
STARTS = ((1, 0), (0, 1))
STAY = 4
# Row/col displacement per action: up, down, left, right, stay.
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))


@struct.dataclass
class CoopGridParams:
    respawn_prob: chex.Array  # [] float32, per missing onion per step
    move_cost: chex.Array  # [] float32, paid by the actor for any non-stay action
    collision_penalty: chex.Array  # [] float32, paid by an agent moving into its partner
    delivery_reward: chex.Array  # [] float32, shared, per onion put in the pot
    pickup_reward: chex.Array  # [] float32, shared, per onion picked up


@struct.dataclass
class CoopGridState:
    positions: chex.Array  # [2, 2] int32, (row, col) per agent
    has_onion: chex.Array  # [2] bool
    onion_available: chex.Array  # [2] bool, per source in ONION_SOURCES order
    step: chex.Array  # [] int32, steps taken this episode
    done: chex.Array  # [] bool


def act(state: CoopGridState, actor, action, params: CoopGridParams):
    """Apply one agent's action (no respawn, no time step); pure, jit/vmap-safe.

    Args:
      state: current state.
      actor: [] int32 in {0, 1}, the agent acting.
      action: [] int32 in 0..4.
    Returns:
      (state, shared [] float32, private_cost [2] float32, picked [2] f32, delivered [2] f32):
      shared reward both agents get, and the per-seat terms incurred by ``actor``.
    """
    pos, has = state.positions[actor], state.has_onion[actor]
    other = state.positions[1 - actor]
    # Walls clip the target; a clipped move ends on the own cell and so just stays.
    target = jnp.clip(pos + jnp.asarray(MOVES, jnp.int32)[action], 0, GRID_SIZE - 1)
    into_pot = jnp.all(target == jnp.asarray(POT, jnp.int32))
    collide = jnp.all(target == other)  # never true for stay: agents never share a cell
    deliver = into_pot & has
    new_pos = jnp.where(into_pot | collide, pos, target)
    has = has & ~deliver
    # Pickup after the move, whatever the action was (stay included), if hands are free.
    on_source = jnp.all(new_pos[None, :] == jnp.asarray(ONION_SOURCES, jnp.int32), axis=1)  # [2]
    pick_src = on_source & state.onion_available & ~has  # [2], at most one true
    pick = jnp.any(pick_src)

    cost = params.move_cost * (action != STAY) + params.collision_penalty * collide
    seat = jnp.arange(2) == actor  # [2] one-hot of the actor
    state = dataclasses.replace(
        state,
        positions=state.positions.at[actor].set(new_pos),
        has_onion=state.has_onion.at[actor].set(has | pick),
        onion_available=state.onion_available & ~pick_src,
    )
    shared = params.delivery_reward * deliver + params.pickup_reward * pick
    f = lambda x: jnp.where(seat, x, 0.0).astype(jnp.float32)
    return state, shared.astype(jnp.float32), f(cost), f(pick), f(deliver)


def act_in_order(state: CoopGridState, actions, first, params: CoopGridParams):
    """Both agents act, ``first`` (in {0, 1}) before ``1 - first``; no respawn, no time step.

    Args:
      actions: [2] int32, per seat.
    Returns:
      (state, shared [] f32, private_cost [2] f32, onions_picked [2] f32, deliveries [2] f32).
    """
    state, s1, c1, p1, d1 = act(state, first, actions[first], params)
    second = 1 - first
    state, s2, c2, p2, d2 = act(state, second, actions[second], params)
    return state, s1 + s2, c1 + c2, p1 + p2, d1 + d2


class CoopGrid(ParamEnv):
    """The 5x5 coop grid on the ``ParamEnv`` contract (see module docstring)."""

    contribution_keys = ("onions_picked", "deliveries")
    traced_kwargs = ("respawn_prob", "move_cost", "collision_penalty", "delivery_reward",
                     "pickup_reward")

    def __init__(self, episode_length: int = 50, respawn_prob: float = 0.2,
                 move_cost: float = 0.2, collision_penalty: float = 2.0,
                 delivery_reward: float = 10.0, pickup_reward: float = 1.0):
        super().__init__(num_agents=2)
        # Static (fixes rollout lengths); the sweepable numbers live in CoopGridParams.
        self.episode_length = check_int("episode_length", episode_length, 1, 100_000)
        self.max_steps = self.episode_length  # episodes end by time limit only
        self._params = dict(respawn_prob=check_number("respawn_prob", respawn_prob, 0.0, 1.0),
                            move_cost=check_number("move_cost", move_cost, 0.0),
                            collision_penalty=check_number("collision_penalty",
                                                           collision_penalty, 0.0),
                            delivery_reward=check_number("delivery_reward", delivery_reward),
                            pickup_reward=check_number("pickup_reward", pickup_reward))
        self.action_names = ("up", "down", "left", "right", "stay")
        self.observation_spaces = {
            a: spaces.Box(0.0, float(GRID_SIZE - 1), (8,), jnp.float32) for a in self.agents
        }
        self.action_spaces = {a: spaces.Discrete(5) for a in self.agents}

    @property
    def default_params(self) -> CoopGridParams:
        return CoopGridParams(**{k: jnp.asarray(v, jnp.float32) for k, v in self._params.items()})

    # Every ParamEnv has its own state pytree, not a subclass of JaxMARL's ``State``.
    def get_obs(self, state: CoopGridState):  # type: ignore[override]
        """Same [8] float32 vector for both seats."""
        p, h = state.positions.astype(jnp.float32), state.has_onion.astype(jnp.float32)
        obs = jnp.concatenate([p[0], h[:1], p[1], h[1:], state.onion_available.astype(jnp.float32)])
        return {a: obs for a in self.agents}

    def reset_env(self, key, params):
        # Fair coin per episode: swap = True puts agent_0 on STARTS[1] and agent_1 on STARTS[0].
        swap = jax.random.bernoulli(key)
        starts = jnp.asarray(STARTS, jnp.int32)
        state = CoopGridState(
            positions=jnp.where(swap, starts[::-1], starts),
            has_onion=jnp.zeros((2,), bool),
            onion_available=jnp.ones((2,), bool),
            step=jnp.zeros((), jnp.int32),
            done=jnp.zeros((), bool),
        )
        return self.get_obs(state), state

    def step_env(self, key, state, actions, params):
        key_order, key_respawn = jax.random.split(key)
        acts = jnp.stack([jnp.asarray(actions[a], jnp.int32) for a in self.agents])  # [2]
        first = jax.random.bernoulli(key_order).astype(jnp.int32)  # fair coin: who acts first
        state, shared, cost, picked, delivered = act_in_order(state, acts, first, params)
        # End of step: each missing onion (including one just picked) respawns independently.
        respawn = jax.random.bernoulli(key_respawn, params.respawn_prob, (2,))
        t = state.step + 1
        done = t >= self.episode_length
        state = dataclasses.replace(state, onion_available=state.onion_available | respawn,
                                    step=t, done=done)
        rewards = {a: shared - cost[i] for i, a in enumerate(self.agents)}
        dones = {a: done for a in self.agents} | {"__all__": done}
        infos = {"private_cost": cost, "onions_picked": picked, "deliveries": delivered}
        return self.get_obs(state), state, rewards, dones, infos


def make_coop_grid(episode_length: int = 50, respawn_prob: float = 0.2, move_cost: float = 0.2,
                   collision_penalty: float = 2.0, delivery_reward: float = 10.0,
                   pickup_reward: float = 1.0) -> CoopGrid:
    return CoopGrid(episode_length, respawn_prob, move_cost, collision_penalty,
                    delivery_reward, pickup_reward)
