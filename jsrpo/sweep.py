"""A sweep (tau x eps x seeds) as one compiled program: ``scan`` over updates of ``vmap`` over
members, with the periodic hero-pair evaluation and a host callback for progress and logging.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jsrpo.config import Config
from jsrpo.train import Hyper, Trainer


@dataclass(frozen=True)
class Member:
    index: int
    tau: float
    eps: float
    seed: int


def members(cfg: Config) -> list[Member]:
    """Every (tau, eps, seed) combination, seeds ``cfg.seed .. cfg.seed + num_seeds - 1``."""
    combos = itertools.product(cfg.taus, cfg.epss, range(cfg.seed, cfg.seed + cfg.num_seeds))
    return [Member(i, tau, eps, seed) for i, (tau, eps, seed) in enumerate(combos)]


def member_inputs(ms: list[Member]):
    """Keys ``[M, 2]`` and ``Hyper`` with ``[M]`` leaves. A member's key depends only on its seed,
    so a member trains the same whether run alone or inside any sweep."""
    keys = jnp.stack([jax.random.PRNGKey(m.seed) for m in ms])
    hyper = Hyper(tau=jnp.array([m.tau for m in ms], jnp.float32),
                  eps=jnp.array([m.eps for m in ms], jnp.float32))
    return keys, hyper


def build_run(trainer: Trainer, on_period: Optional[Callable] = None):
    """The whole sweep as one function of ``(keys [M], hyper [M])`` to jit.

    Returns ``(final states, period metrics, period evals, final eval)``; period outputs have a
    leading axis of ``ceil(num_updates / log.interval)`` periods, then members. The last period
    may be partial: its missing updates are skipped by a ``cond`` (so the update is compiled
    once). ``on_period(update, metrics, evals)`` is called on the host after every period.
    """
    cfg = trainer.config
    interval = min(cfg.log.interval, cfg.num_updates)
    num_periods = -(-cfg.num_updates // interval)

    def run(keys, hyper):
        states = jax.vmap(trainer.init)(keys, hyper)
        m_shape = jax.eval_shape(jax.vmap(trainer.update), states, hyper)[1]
        skipped = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), m_shape)

        def one_update(states, _):
            active = states.update[0] < cfg.num_updates
            states, m = jax.lax.cond(
                active, lambda s: jax.vmap(trainer.update)(s, hyper), lambda s: (s, skipped),
                states)
            return states, (m, active)

        def period(states, _):
            states, (m, active) = jax.lax.scan(one_update, states, None, length=interval)
            n = jnp.maximum(active.sum(), 1)
            episodes = m.pop("train/episodes").sum(0)
            ret = m.pop("train/return_sum").sum(0) / jnp.maximum(episodes, 1)
            m = jax.tree.map(lambda x: x.sum(0) / n, m)
            m["train/return"] = jnp.where(episodes > 0, ret, jnp.nan)
            states, ev = jax.vmap(lambda s: trainer.evaluate(s, cfg.log.eval_envs))(states)
            if on_period is not None:
                jax.debug.callback(on_period, states.update[0], m, ev)
            return states, (m, ev)

        states, (metrics, evals) = jax.lax.scan(period, states, None, length=num_periods)
        states, final = jax.vmap(lambda s: trainer.evaluate(s, cfg.log.final_eval_envs))(states)
        return states, metrics, evals, final

    return run


@dataclass
class SweepResult:
    members: list
    states: object
    metrics: dict  # name -> [P, M, ...]
    evals: dict  # name -> [P, M, ...]
    final: dict  # name -> [M, ...]
    period_updates: np.ndarray  # [P] update count at the end of each period
    compile_seconds: float
    run_seconds: float
    env_steps: int  # per member


def run_sweep(trainer: Trainer, on_period: Optional[Callable] = None, ms=None,
              on_compiled: Optional[Callable] = None) -> SweepResult:
    """Compile and run every member of ``trainer.config``'s sweep in one program.

    ``on_compiled()`` is called between compilation and the run (e.g. to start a clock).
    """
    cfg = trainer.config
    ms = members(cfg) if ms is None else ms
    keys, hyper = member_inputs(ms)
    t0 = time.perf_counter()
    compiled = jax.jit(build_run(trainer, on_period)).lower(keys, hyper).compile()
    if on_compiled is not None:
        on_compiled()
    t1 = time.perf_counter()
    states, metrics, evals, final = jax.block_until_ready(compiled(keys, hyper))
    t2 = time.perf_counter()
    interval = min(cfg.log.interval, cfg.num_updates)
    periods = np.minimum(np.arange(1, -(-cfg.num_updates // interval) + 1) * interval,
                         cfg.num_updates)
    to_np = lambda tree: jax.tree.map(np.asarray, tree)
    return SweepResult(
        members=ms, states=states, metrics=to_np(metrics), evals=to_np(evals),
        final=to_np(final), period_updates=periods, compile_seconds=t1 - t0,
        run_seconds=t2 - t1, env_steps=cfg.num_updates * cfg.env_steps_per_update)
