"""A batch of E environments with P seats seen as arrays: obs ``[E, P, *obs_shape]``, actions
``[E, P]``, and each seat's legal actions ``[E, P, A]`` for envs that have them (turn-based
games: a seat whose only legal action is a no-op is not acting).

Also keeps per-episode totals (return, private cost and contributions per seat) so the learner
and the evaluator can report them without knowing the environment.
"""
from __future__ import annotations

import copy
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

#: logit of an action a seat does not have (seats with fewer actions than the widest seat).
MASKED_LOGIT = -1e9


@struct.dataclass
class EpisodeTotals:
    ret: chex.Array  # [..., P] return per seat
    cost: chex.Array  # [..., P] private cost per seat (>= 0)
    contrib: dict  # name -> [..., P]
    length: chex.Array  # [...] int32


@struct.dataclass
class VecState:
    env_state: Any  # batched env state, leading axis E
    running: EpisodeTotals  # totals of the episodes in progress
    # [E, P, A] bool: each seat's legal actions in the current state (envs with
    # ``has_legal_moves``; None otherwise).
    legal: Any = None


@struct.dataclass
class StepOut:
    reward: chex.Array  # [E, P]
    shaped: chex.Array  # [E, P] the env's shaped reward (infos["shaped_reward"]; 0 if none)
    done: chex.Array  # [E] bool: an episode ended with this step (the obs is already reset)
    cost: chex.Array  # [E, P] private cost paid this step
    episode: EpisodeTotals  # [E, ...] totals of the episode that ended (valid where done)


class VecEnv:
    """Vectorised view of a ``ParamEnv`` with ``num_seats`` (P >= 1) agents.

    Args:
      env: a ``ParamEnv`` with at least one agent (one: the other seats of a game played by
        frozen policies, ``jsrpo.frozen``).
      params: env params pytree (``env.default_params`` if None).
      seat_id: append a one-hot seat id (P entries) to each seat's observation (a network
        shared by all seats needs it when the seats see the same observation).
    """

    def __init__(self, env, params=None, seat_id: bool = False):
        if env.num_agents < 1:
            raise ValueError(f"env.name: jsrpo trains at least one seat, "
                             f"{getattr(env, 'registry_name', env.name)} has {env.num_agents}")
        self.env = env
        self.num_seats = int(env.num_agents)
        self.has_legal_moves = bool(getattr(env, "has_legal_moves", False))
        self.params = env.default_params if params is None else params
        self.seat_id = seat_id
        self.agents = tuple(env.agents)
        self.contribution_keys = tuple(getattr(env, "contribution_keys", ()))
        ns = [env.action_space(a).n for a in self.agents]
        self.num_actions = max(ns)
        # Seats with fewer actions get their extra logits masked out.
        self.action_mask = None if len(set(ns)) == 1 else np.array(
            [[i < n for i in range(self.num_actions)] for n in ns])
        obs, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        shape = tuple(obs[self.agents[0]].shape)
        self.env_obs_shape = shape  # what the env gives a seat (``obs_shape`` adds the seat id)
        if seat_id:
            if len(shape) != 1:
                raise ValueError("seat_id observations need flat (1-D) observations")
            shape = (shape[0] + self.num_seats,)
        self.obs_shape = shape
        # Evaluation runs this many steps so every env finishes (at least) one episode.
        self.max_steps = int(env.max_steps)

    def with_params(self, params) -> "VecEnv":
        """This view with other env params (e.g. one sweep member's traced costs)."""
        out = copy.copy(self)
        out.params = params
        return out

    def _obs(self, obs_dict):
        """Per-agent dict of ``[E, *shape]`` -> ``[E, P, *shape]`` (plus seat id)."""
        obs = jnp.stack([obs_dict[a] for a in self.agents], axis=1)
        # Byte observations (Overcooked grids) stay bytes: rollouts store them at a quarter of the
        # size and the networks cast them; everything else becomes float32.
        if obs.dtype != jnp.uint8 or self.seat_id:
            obs = obs.astype(jnp.float32)
        if self.seat_id:
            P = self.num_seats
            eye = jnp.broadcast_to(jnp.eye(P, dtype=obs.dtype), obs.shape[:1] + (P, P))
            obs = jnp.concatenate([obs, eye], axis=-1)
        return obs

    def zero_totals(self, num_envs):
        """Empty ``EpisodeTotals`` for ``num_envs`` envs."""
        z = jnp.zeros((num_envs, self.num_seats), jnp.float32)
        return EpisodeTotals(ret=z, cost=z, contrib={k: z for k in self.contribution_keys},
                             length=jnp.zeros((num_envs,), jnp.int32))

    def legal(self, env_state):
        """Each seat's legal actions ``[E, P, A]`` bool in batched ``env_state`` (None for envs
        without legal moves)."""
        if not self.has_legal_moves:
            return None
        return jax.vmap(self.env.legal_moves, in_axes=(0, None))(env_state, self.params)

    def reset(self, key, num_envs: int):
        """-> (obs ``[E, P, *obs_shape]``, VecState)."""
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)
        return self._obs(obs), VecState(env_state=state, running=self.zero_totals(num_envs),
                                        legal=self.legal(state))

    def step(self, key, state: VecState, actions):
        """actions ``[E, P]`` int -> (obs ``[E, P, ...]``, VecState, StepOut)."""
        num_envs = actions.shape[0]
        keys = jax.random.split(key, num_envs)
        act = {a: actions[:, i] for i, a in enumerate(self.agents)}
        obs, env_state, rew, dones, infos = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            keys, state.env_state, act, self.params)
        reward = jnp.stack([rew[a] for a in self.agents], axis=1).astype(jnp.float32)
        done = dones["__all__"]
        cost = infos["private_cost"].astype(jnp.float32)
        shaped = (infos["shaped_reward"].astype(jnp.float32) if "shaped_reward" in infos
                  else jnp.zeros_like(reward))
        r = state.running
        totals = EpisodeTotals(
            ret=r.ret + reward,
            cost=r.cost + cost,
            contrib={k: r.contrib[k] + infos[k].astype(jnp.float32)
                     for k in self.contribution_keys},
            length=r.length + 1,
        )
        keep = lambda x: jnp.where(done.reshape(done.shape + (1,) * (x.ndim - 1)), 0, x)
        running = jax.tree.map(keep, totals)
        out = StepOut(reward=reward, shaped=shaped, done=done, cost=cost, episode=totals)
        return self._obs(obs), VecState(env_state=env_state, running=running,
                                        legal=self.legal(env_state)), out
