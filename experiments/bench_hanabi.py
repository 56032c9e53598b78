"""Hanabi throughput: the raw env ceiling (random legal moves, no network) and the env steps per
second of IPPO and SRPO training at 2 and 4 players, with SRPO's ratio to IPPO.

    python experiments/bench_hanabi.py [--players 2 4] [--updates 20] [--repeats 3]
        [--seeds 1] [--json experiments/results/bench_hanabi/results.json]

Training uses the shipped configs (``configs/hanabi/<N>p_{ippo,srpo}.yaml``) cut to
``--updates`` updates; compile time is reported apart from run time. IPPO and SRPO runs are
interleaved (IPPO, SRPO, IPPO, SRPO, ...) so a shared machine's load hits both alike; the ratio
is the median over repeats of each repeat's SRPO / IPPO pair. The env ceiling steps
``--envs`` environments with uniformly random legal moves inside one ``lax.scan``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import envs
from jsrpo import config
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train
from jsrpo.vec_env import MASKED_LOGIT, VecEnv

ROOT = Path(__file__).resolve().parent.parent


def env_ceiling(players: int, num_envs: int, steps: int) -> dict:
    """Env steps per second of ``num_envs`` Hanabi games with random legal moves."""
    cfg = config.load(ROOT / "configs" / "hanabi" / f"{players}p_ippo.yaml")
    venv = VecEnv(envs.make("hanabi", **cfg.env.base_kwargs))

    @jax.jit
    def run(key):
        _, state = venv.reset(key, num_envs)

        def step(state, k):
            k_act, k_env = jax.random.split(k)
            logits = jnp.where(state.legal, 0.0, MASKED_LOGIT)
            _, state, out = venv.step(k_env, state, jax.random.categorical(k_act, logits))
            return state, out.done.sum()

        _, done = jax.lax.scan(step, state, jax.random.split(key, steps))
        return done.sum()

    t0 = time.perf_counter()
    run(jax.random.PRNGKey(0)).block_until_ready()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    episodes = int(run(jax.random.PRNGKey(1)))
    run_s = time.perf_counter() - t0
    return {"envs": num_envs, "steps": steps, "episodes": episodes, "compile_s": compile_s,
            "run_s": run_s, "env_steps_per_s": num_envs * steps / run_s}


def training(players: int, method: str, updates: int, seeds: int) -> dict:
    path = ROOT / "configs" / "hanabi" / f"{players}p_{method}.yaml"
    base = config.load(path)
    per_update = base.train.num_envs * base.train.num_steps
    cfg = config.load(path, [f"num_seeds={seeds}", f"train.total_env_steps={updates * per_update}",
                             f"log.interval={updates}", "log.progress=false",
                             "log.eval_envs=16", "log.final_eval_envs=16",
                             "checkpoint.every_updates=0"])
    res = run_sweep(make_train(cfg))
    steps = res.env_steps * len(res.members)
    return {"compile_s": res.compile_seconds, "run_s": res.run_seconds, "env_steps": steps,
            "env_steps_per_s": steps / res.run_seconds}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--players", nargs="+", type=int, default=[2, 4], choices=[2, 3, 4, 5])
    ap.add_argument("--updates", type=int, default=20, help="updates per timed training run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved IPPO/SRPO pairs")
    ap.add_argument("--seeds", type=int, default=1, help="members per training run")
    ap.add_argument("--envs", type=int, default=1024, help="games of the env ceiling")
    ap.add_argument("--env-steps", type=int, default=500, help="steps of the env ceiling")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    dev = jax.devices()
    out: dict = {"commit": commit(), "device_kind": dev[0].device_kind, "devices": len(dev),
                 "command": " ".join(["python experiments/bench_hanabi.py"]
                                     + list(sys.argv[1:] if argv is None else argv)),
                 "players": {}}
    for n in args.players:
        row: dict = {"env": env_ceiling(n, args.envs, args.env_steps), "ippo": [], "srpo": []}
        print(f"{n} players: env ceiling {row['env']['env_steps_per_s']:,.0f} env steps/s "
              f"({args.envs} games, random legal moves)", flush=True)
        for rep in range(args.repeats):
            for method in ("ippo", "srpo"):
                r = training(n, method, args.updates, args.seeds)
                row[method].append(r)
                print(f"  [{rep}] {method:4s}: {r['env_steps_per_s']:>9,.0f} env steps/s "
                      f"(run {r['run_s']:.1f}s, compile {r['compile_s']:.1f}s)", flush=True)
        ratios = [s["env_steps_per_s"] / i["env_steps_per_s"]
                  for i, s in zip(row["ippo"], row["srpo"])]
        row["srpo_over_ippo"] = {"median": statistics.median(ratios), "per_repeat": ratios}
        print(f"  SRPO / IPPO: {row['srpo_over_ippo']['median']:.3f} (median of "
              f"{[round(r, 3) for r in ratios]})", flush=True)
        out["players"][str(n)] = row
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
