"""The environment contract every learner and the evaluator rely on.

JaxMARL's ``MultiAgentEnv`` (per-agent dicts, ``"__all__"`` done flag, auto-reset) extended with
gymnax-style parameters: ``reset(key, params)`` and ``step(key, state, actions, params)`` take an
optional params pytree (payoffs, costs, ...) so variants of one environment can be vmapped.

Every environment also reports, per step, ``infos["private_cost"]`` of shape ``[num_agents]``
(the cost each seat paid this step, >= 0) and the per-seat contribution counters named in
``contribution_keys`` (each ``[num_agents]``); free-riding is measured from these.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Tuple

import jax
from jaxmarl.environments.multi_agent_env import MultiAgentEnv


class ParamEnv(MultiAgentEnv):
    """A ``MultiAgentEnv`` whose dynamics read a params pytree (``default_params`` if None)."""

    #: names of per-seat contribution counters in ``infos`` (each ``[num_agents]``).
    contribution_keys: Tuple[str, ...] = ()
    #: longest possible episode; evaluation runs this many steps.
    max_steps: int = 1
    #: the registry name, set by ``envs.make`` (absent on envs constructed directly).
    registry_name: str

    @property
    def default_params(self) -> Any:
        raise NotImplementedError

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        return self.reset_env(key, params)

    @partial(jax.jit, static_argnums=(0,))
    def step(self, key, state, actions, params=None):
        """One step with auto-reset when ``dones["__all__"]``; the returned obs is the reset one."""
        params = self.default_params if params is None else params
        key, key_reset = jax.random.split(key)
        obs_st, state_st, rewards, dones, infos = self.step_env(key, state, actions, params)
        obs_re, state_re = self.reset_env(key_reset, params)
        done = dones["__all__"]
        state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), state_re, state_st)
        obs = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), obs_re, obs_st)
        return obs, state, rewards, dones, infos

    def reset_env(self, key, params):
        raise NotImplementedError

    def step_env(self, key, state, actions, params):
        raise NotImplementedError
