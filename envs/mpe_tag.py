"""MPE Tag (JaxMARL's ``SimpleTagMPE``) on the ``ParamEnv`` contract: two chasers and a runner.

The SRPO paper's setting: 2 chasers (MPE's "adversaries"), 1 runner (MPE's "agent"), 2
obstacles, discrete actions (0 no-op, 1 -x, 2 +x, 3 -y, 4 +y) and episodes of ``max_steps``
steps. Rewards are MPE's times ``reward_scale`` (0.1): each chaser gets +1 per catch (any chaser
touching the runner, shared), the runner the negative plus MPE's penalty for leaving the arena.
Seats: ``adversary_0``, ``adversary_1`` (the chasers), ``agent_0`` (the runner). Three learning
seats make the runner's pre-training an ordinary run; chasers then train against a frozen runner
(``env.frozen`` in a config: ``jsrpo.frozen``), which makes the game collaborative.

Observations are MPE's, ``[vel 2, pos 2, obstacles 2x2, others 2x2]`` plus, for chasers, the
runner's velocity; the runner's 12 values are padded with two zeros so every seat reads 14
(JaxMARL declares 16 and 14, its default of 3 chasers; the arrays are 14 and 12).

Per-seat contributions: ``catches`` (a chaser touching the runner this step; for the runner, how
many chasers touch it) and ``distance`` (how far the seat moved).
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jaxmarl.environments.mpe.simple_tag import SimpleTagMPE
from jaxmarl.environments.spaces import Box

from envs.base import ParamEnv, check_int, check_number

NUM_CHASERS = 2
#: discrete action -> unit direction (no-op, -x, +x, -y, +y)
MOVES = ((0.0, 0.0), (-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))


@struct.dataclass
class TagState:
    world: chex.ArrayTree  # JaxMARL's MPE State
    t: chex.Array  # [] int32 steps played in this episode


@struct.dataclass
class TagParams:
    """Tag has no traced numbers; the params pytree is empty."""


class Tag(ParamEnv):
    """Two chasers and a runner on JaxMARL's MPE Tag (see the module docstring)."""

    contribution_keys = ("catches", "distance")

    def __init__(self, num_obstacles: int = 2, max_steps: int = 100, reward_scale: float = 0.1):
        self.world = SimpleTagMPE(num_good_agents=1, num_adversaries=NUM_CHASERS,
                                  num_obs=num_obstacles, max_steps=10**9)
        super().__init__(num_agents=self.world.num_agents)
        self.agents = list(self.world.agents)
        self.num_obstacles = num_obstacles
        self.max_steps = max_steps
        self.reward_scale = reward_scale
        #: where the other agents' relative positions start in an observation (after the
        #: seat's velocity, position and the obstacles' relative positions): a chaser sees the
        #: other chaser, then the runner; the runner sees the two chasers
        self.others_at = 4 + 2 * num_obstacles
        self.obs_size = self.others_at + 2 * (self.num_agents - 1) + 2
        self.observation_spaces = {a: Box(-jnp.inf, jnp.inf, (self.obs_size,))
                                   for a in self.agents}
        self.action_spaces = self.world.action_spaces

    @property
    def default_params(self) -> TagParams:
        return TagParams()

    def _obs(self, obs):
        """The runner's observation padded to the chasers' size."""
        return {a: jnp.pad(o, (0, self.obs_size - o.shape[0])) for a, o in obs.items()}

    def reset_env(self, key, params):
        obs, world = self.world.reset(key)
        return self._obs(obs), TagState(world=world, t=jnp.zeros((), jnp.int32))

    def catches(self, world) -> jax.Array:
        """``[num_agents]``: whether each chaser touches the runner; for the runner, how many do."""
        runner = self.num_agents - 1
        touch = jax.vmap(lambda c: self.world.is_collision(c, jnp.int32(runner), world))(
            jnp.arange(NUM_CHASERS)).astype(jnp.float32)
        return jnp.concatenate([touch, touch.sum(keepdims=True)])

    def step_env(self, key, state, actions, params):
        obs, world, rew, _, _ = self.world.step_env(key, state.world, actions)
        t = state.t + 1
        done = t >= self.max_steps
        rewards = {a: (self.reward_scale * rew[a]).astype(jnp.float32) for a in self.agents}
        moved = jnp.linalg.norm(world.p_pos[:self.num_agents]
                                - state.world.p_pos[:self.num_agents], axis=-1)
        infos = {"catches": self.catches(world), "distance": moved.astype(jnp.float32),
                 "private_cost": jnp.zeros((self.num_agents,), jnp.float32)}
        dones = {a: done for a in self.agents} | {"__all__": done}
        return self._obs(obs), TagState(world=world, t=t), rewards, dones, infos


def make_tag(num_obstacles: int = 2, max_steps: int = 100, reward_scale: float = 0.1) -> Tag:
    return Tag(check_int("num_obstacles", num_obstacles, 0, 10),
               check_int("max_steps", max_steps, 1, 100_000),
               check_number("reward_scale", reward_scale, low=0.0))
