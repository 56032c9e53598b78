"""The environment contract every learner and the evaluator rely on.

JaxMARL's ``MultiAgentEnv`` (per-agent dicts, ``"__all__"`` done flag, auto-reset) extended with
gymnax-style parameters: ``reset(key, params)`` and ``step(key, state, actions, params)`` take an
optional params pytree (payoffs, costs, ...) so variants of one environment can be vmapped.

Every environment also reports, per step, ``infos["private_cost"]`` of shape ``[num_agents]``
(the cost each seat paid this step, >= 0) and the per-seat contribution counters named in
``contribution_keys`` (each ``[num_agents]``); free-riding is measured from these. Envs with
``has_legal_moves`` also give each seat's legal actions (``legal_moves``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Mapping, Optional, Tuple

import jax
import numpy as np
from jaxmarl.environments.multi_agent_env import MultiAgentEnv


class ParamEnv(MultiAgentEnv):
    """A ``MultiAgentEnv`` whose dynamics read a params pytree (``default_params`` if None)."""

    #: names of per-seat contribution counters in ``infos`` (each ``[num_agents]``).
    contribution_keys: Tuple[str, ...] = ()
    #: longest possible episode; evaluation runs this many steps.
    max_steps: int = 1
    #: the registry name, set by ``envs.make`` (absent on envs constructed directly).
    registry_name: str
    #: constructor arguments that only set numbers in the params pytree (costs, rewards): a
    #: sweep may give each member its own value in one compiled program (``params_with``).
    traced_kwargs: Tuple[str, ...] = ()
    #: turn-based games and games with state-dependent actions: ``legal_moves`` says which
    #: actions each seat may take (learners mask the rest; a seat whose only legal action is
    #: its no-op is not acting and its transitions do not train).
    has_legal_moves: bool = False

    def legal_moves(self, state, params) -> jax.Array:
        """``[num_agents, num_actions]`` bool: each seat's legal actions in ``state`` (envs with
        ``has_legal_moves``)."""
        raise NotImplementedError

    @property
    def default_params(self) -> Any:
        raise NotImplementedError

    def params_with(self, params, values: Mapping[str, Any]):
        """``params`` with the ``traced_kwargs`` in ``values`` set (values ``[]``, may be traced).

        By default each traced argument is the params field of the same name."""
        self.check_traced(values)
        return params.replace(**{k: jax.numpy.asarray(v, jax.numpy.float32)
                                 for k, v in values.items()})

    def check_traced(self, names) -> None:
        """Refuse names that are not ``traced_kwargs``, naming the allowed ones."""
        unknown = sorted(set(names) - set(self.traced_kwargs))
        if unknown:
            raise ValueError(f"env.kwargs.{unknown[0]}: cannot vary per member of "
                             f"{getattr(self, 'registry_name', type(self).__name__)}; allowed: "
                             f"{', '.join(self.traced_kwargs) or 'none'}")

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


# ---------------------------------------------------------------- checking env arguments
# Every factory checks its keyword arguments with these, so a bad ``env.kwargs`` value is
# refused with a message naming it (``env.kwargs.<name>: got ...; allowed: ...``) before
# anything is compiled or written.

def check_int(name: str, value, low: int = 1, high: int = 10**9) -> int:
    """An integer (or a float with an integer value) in ``[low, high]``."""
    ok = not isinstance(value, bool) and (
        isinstance(value, int) or isinstance(value, float) and value.is_integer())
    if not ok or not low <= value <= high:
        raise ValueError(f"env.kwargs.{name}: got {value!r}; allowed: an integer from {low} "
                         f"to {high}")
    return int(value)


def check_number(name: str, value, low: Optional[float] = None,
                 high: Optional[float] = None) -> float:
    """A finite number in ``[low, high]`` (either bound may be open-ended)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and (low is not None and value < low or high is not None and value > high):
        ok = False
    if not ok:
        bounds = ("any finite number" if low is None and high is None else
                  f"a number >= {low:g}" if high is None else
                  f"a number <= {high:g}" if low is None else f"a number in [{low:g}, {high:g}]")
        raise ValueError(f"env.kwargs.{name}: got {value!r}; allowed: {bounds}")
    return float(value)


def check_matrix(name: str, value, shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """A non-empty rectangular matrix (list of equal-length lists) of finite numbers."""
    rows = value if isinstance(value, (list, tuple, np.ndarray)) else None
    ok = rows is not None and len(rows) > 0 and all(
        isinstance(r, (list, tuple, np.ndarray)) and len(r) == len(rows[0]) > 0 for r in rows)
    if ok:
        try:
            m = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            ok = False
        else:
            ok = m.ndim == 2 and bool(np.all(np.isfinite(m)))
    if ok and shape is not None and m.shape != tuple(shape):
        raise ValueError(f"env.kwargs.{name}: got shape {m.shape}; allowed: shape {tuple(shape)}")
    if not ok:
        raise ValueError(f"env.kwargs.{name}: got {value!r}; allowed: a matrix of finite "
                         "numbers, rows of equal length, e.g. [[1, 0], [0, 1]]")
    return m
