"""Throughput benchmark: env steps/s of IPPO and SRPO on coop_grid, and the batching efficiency
of a K-member sweep compiled as one program against K separate single-member runs.

    python experiments/bench_throughput.py [--updates 100] [--k 8] [--json out.json]

All timings exclude nothing silently: compile and run times are printed separately. Runs are
interleaved (IPPO, SRPO, ...) so a shared machine's load affects both alike; compare the ratios.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

from jsrpo import config
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def cfg_for(method: str, updates: int, seeds: int, seed: int = 0):
    steps = updates * 8 * 128
    return config.load(CONFIGS / f"coop_grid_{method}.yaml", [
        f"num_seeds={seeds}", f"seed={seed}", f"train.total_env_steps={steps}",
        f"log.interval={updates}", "log.progress=false", "log.final_eval_envs=32",
        "checkpoint.every_updates=0", "checkpoint.snapshots=[]"])


def timed(cfg) -> dict:
    res = run_sweep(make_train(cfg))
    steps = res.env_steps * len(res.members)
    return {"compile_s": res.compile_seconds, "run_s": res.run_seconds, "env_steps": steps,
            "env_steps_per_s": steps / res.run_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=100,
                    help="PPO updates per run (1024 env steps each)")
    ap.add_argument("--k", type=int, default=8, help="sweep members for the batching comparison")
    ap.add_argument("--repeats", type=int, default=2,
                    help="interleaved repetitions of the single-run timings")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print(f"devices: {jax.devices()}  updates/run: {args.updates} (x 1024 env steps)")
    out: dict = {"single": {}, "sweep": {}}

    # 1. Single-member throughput, IPPO and SRPO interleaved.
    for rep in range(args.repeats):
        for method in ("ippo", "srpo"):
            r = timed(cfg_for(method, args.updates, 1))
            out["single"].setdefault(method, []).append(r)
            print(f"[{rep}] {method:5s} 1 member : {r['env_steps_per_s']:>10,.0f} env steps/s "
                  f"(run {r['run_s']:.1f}s, compile {r['compile_s']:.1f}s)")
    best = {m: max(r["env_steps_per_s"] for r in rs) for m, rs in out["single"].items()}
    print(f"SRPO / IPPO throughput (best of {args.repeats}): {best['srpo'] / best['ippo']:.3f}")

    # 2. K members in one program vs K separate runs (each compiles, as separate jobs would).
    for method in ("ippo", "srpo"):
        sweep = timed(cfg_for(method, args.updates, args.k))
        sep = [timed(cfg_for(method, args.updates, 1, seed=s)) for s in range(args.k)]
        sep_run = sum(r["run_s"] for r in sep)
        sep_total = sum(r["run_s"] + r["compile_s"] for r in sep)
        one_total = sweep["run_s"] + sweep["compile_s"]
        out["sweep"][method] = {"one_program": sweep, "separate": sep,
                                "run_ratio": sep_run / sweep["run_s"],
                                "total_ratio": sep_total / one_total}
        print(f"{method:5s} K={args.k}: one program run {sweep['run_s']:.1f}s + compile "
              f"{sweep['compile_s']:.1f}s ({sweep['env_steps_per_s']:,.0f} env steps/s) | "
              f"separate runs {sep_run:.1f}s + compile {sep_total - sep_run:.1f}s | "
              f"speed-up run-only {sep_run / sweep['run_s']:.2f}x, with compile "
              f"{sep_total / one_total:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
