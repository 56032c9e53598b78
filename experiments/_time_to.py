"""Time to a return: wall time and env steps until each seed's training return first reaches a
threshold, for JaxMARL's stock IPPO and for jsrpo configs (``bench_vs_jaxmarl.py --time-to``).

Each system trains S seeds as one compiled program, as each is normally run (JaxMARL: ``jit``
of ``vmap`` of its ``make_train`` over seed keys, as its ``main`` does; jsrpo: ``num_seeds``
members). The curve is cut into windows of W updates. The statistic is the training return as
each system logs it, with sparse (delivery) reward only on both sides:

- JaxMARL: ``returned_episode_returns`` of its ``LogWrapper``, which its script averages over
  an update's steps and actors (every env reports the return of its last finished episode), then
  the mean over the window's updates;
- jsrpo ``ippo``/``self_play``: ``train/return``, the mean return of the episodes that ended
  within the window (the hero streams; all of them are heroes);
- jsrpo ``srpo``: its training streams include the adversaries, so the statistic is the hero
  pair's periodic evaluation (``log.eval_envs`` episodes with sampled actions after each window).

Wall time to window p is the compile time plus the fraction (p + 1) / P of the training run time
(every update is the same compiled computation, so the run time is spread evenly; imports are
not counted on either side). A seed that never reaches the threshold is reported as not reached.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np


def jaxmarl_curves(repo, layout: str, env_steps: int, seeds: int, window: int) -> dict:
    """JaxMARL's IPPO, ``seeds`` seeds in one program: per-window training return ``[P, S]``."""
    import _jaxmarl_runner as jm
    import jax

    mod = jm.import_script(repo)
    config = jm.run_config(jm.load_config(repo), layout, env_steps, 0)
    config["ENV_KWARGS"]["layout"] = mod.overcooked_layouts[layout]
    rngs = jax.random.split(jax.random.PRNGKey(config["SEED"]), seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(mod.make_train(config))).lower(rngs).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(rngs))
    t2 = time.perf_counter()
    per_update = np.asarray(out["metrics"]["returned_episode_returns"])  # [S, U]
    U = per_update.shape[1]
    P = U // window
    curves = per_update[:, :P * window].reshape(seeds, P, window).mean(-1).T  # [P, S]
    steps_per_update = int(config["NUM_STEPS"]) * int(config["NUM_ENVS"])
    return {"compile_s": t1 - t0, "run_s": (t2 - t1) * P * window / U, "curves": curves.tolist(),
            "env_steps_per_window": steps_per_update * window, "statistic": "train"}


def jsrpo_curves(overrides: list, statistic: str) -> dict:
    """A jsrpo config (``overrides`` of the defaults): per-window return ``[P, S]``."""
    import jax

    from jsrpo import config
    from jsrpo.sweep import build_pieces, env_keys, member_inputs, members
    from jsrpo.train import make_train

    cfg = config.load(None, overrides)
    trainer = make_train(cfg)
    init, periods, _ = build_pieces(trainer)
    P = cfg.layout.num_periods
    keys, hyper = member_inputs(members(cfg), env_keys(cfg))
    t0 = time.perf_counter()
    compiled = jax.jit(lambda k, h: periods(init(k, h), h, P)).lower(keys, hyper).compile()
    t1 = time.perf_counter()
    _, (metrics, evals) = jax.block_until_ready(compiled(keys, hyper))
    t2 = time.perf_counter()
    if statistic == "train":
        curves = np.nanmean(np.asarray(metrics["train/return"]), axis=-1)  # [P, M]
    else:
        curves = np.asarray(evals["team_return"])  # [P, M]
    lay = cfg.layout
    complete = lay.num_updates // lay.log_interval  # a partial last window is dropped
    return {"compile_s": t1 - t0, "run_s": (t2 - t1) * complete * lay.log_interval
            / lay.num_updates, "curves": curves[:complete].tolist(),
            "env_steps_per_window": lay.env_steps_per_update * lay.log_interval,
            "statistic": statistic}


def crossings(res: dict, threshold: float) -> list:
    """Per seed: ``{"env_steps", "wall_s"}`` at the first window whose return is at least
    ``threshold``, or None when no window reaches it."""
    curves = np.asarray(res["curves"], float)  # [P, S]
    P = curves.shape[0]
    out = []
    for s in range(curves.shape[1]):
        hit = np.nonzero(curves[:, s] >= threshold)[0]
        if hit.size == 0:
            out.append(None)
            continue
        p = int(hit[0])
        out.append({"env_steps": (p + 1) * res["env_steps_per_window"],
                    "wall_s": res["compile_s"] + res["run_s"] * (p + 1) / P})
    return out


def summary(hits: list) -> dict:
    """Median and range over all seeds, a seed that never reached the threshold counting as
    infinitely late (so the median is infinite when fewer than half reached it), and how many
    reached it."""
    out: dict = {"reached": sum(h is not None for h in hits), "seeds": len(hits)}
    for k in ("env_steps", "wall_s"):
        vals = [math.inf if h is None else h[k] for h in hits]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    return out
