"""A batch of E environments seen as arrays: obs ``[E, 2, *obs_shape]``, actions ``[E, 2]``.

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
    ret: chex.Array  # [..., 2] return per seat
    cost: chex.Array  # [..., 2] private cost per seat (>= 0)
    contrib: dict  # name -> [..., 2]
    length: chex.Array  # [...] int32


@struct.dataclass
class VecState:
    env_state: Any  # batched env state, leading axis E
    running: EpisodeTotals  # totals of the episodes in progress


@struct.dataclass
class StepOut:
    reward: chex.Array  # [E, 2]
    shaped: chex.Array  # [E, 2] the env's shaped reward (infos["shaped_reward"]; 0 if none)
    done: chex.Array  # [E] bool: an episode ended with this step (the obs is already reset)
    cost: chex.Array  # [E, 2] private cost paid this step
    episode: EpisodeTotals  # [E, ...] totals of the episode that ended (valid where done)


class VecEnv:
    """Vectorised two-seat view of a ``ParamEnv``.

    Args:
      env: a ``ParamEnv`` with two agents.
      params: env params pytree (``env.default_params`` if None).
      seat_id: append a one-hot seat id to each seat's observation (self-play needs it when
        both seats see the same observation).
    """

    def __init__(self, env, params=None, seat_id: bool = False):
        if env.num_agents != 2:
            raise ValueError(f"env.name: jsrpo trains two seats, {env.name} has {env.num_agents}")
        self.env = env
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
            shape = (shape[0] + 2,)
        self.obs_shape = shape
        # Evaluation runs this many steps so every env finishes (at least) one episode.
        self.max_steps = int(env.max_steps)

    def with_params(self, params) -> "VecEnv":
        """This view with other env params (e.g. one sweep member's traced costs)."""
        out = copy.copy(self)
        out.params = params
        return out

    def _obs(self, obs_dict):
        """Per-agent dict of ``[E, *shape]`` -> ``[E, 2, *shape]`` (plus seat id)."""
        obs = jnp.stack([obs_dict[a] for a in self.agents], axis=1)
        # Byte observations (Overcooked grids) stay bytes: rollouts store them at a quarter of the
        # size and the networks cast them; everything else becomes float32.
        if obs.dtype != jnp.uint8 or self.seat_id:
            obs = obs.astype(jnp.float32)
        if self.seat_id:
            eye = jnp.broadcast_to(jnp.eye(2, dtype=obs.dtype), obs.shape[:1] + (2, 2))
            obs = jnp.concatenate([obs, eye], axis=-1)
        return obs

    def zero_totals(self, num_envs):
        """Empty ``EpisodeTotals`` for ``num_envs`` envs."""
        z = jnp.zeros((num_envs, 2), jnp.float32)
        return EpisodeTotals(ret=z, cost=z, contrib={k: z for k in self.contribution_keys},
                             length=jnp.zeros((num_envs,), jnp.int32))

    def reset(self, key, num_envs: int):
        """-> (obs ``[E, 2, *obs_shape]``, VecState)."""
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)
        return self._obs(obs), VecState(env_state=state, running=self.zero_totals(num_envs))

    def step(self, key, state: VecState, actions):
        """actions ``[E, 2]`` int -> (obs ``[E, 2, ...]``, VecState, StepOut)."""
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
        return self._obs(obs), VecState(env_state=env_state, running=running), out
