"""A random-search sweep as one compiled program against the same members run one by one.

    python experiments/bench_sweep.py [--envs coop_grid cramped_room] [--counts 1 4 16 64]
        [--serial K] [--out DIR]

The sweep is SRPO with a random search over ``train.lr`` (log-uniform), ``train.clip_eps``,
``eps`` (uniform) and ``tau`` (log-uniform): 16 draws x 4 seeds = 64 members (a count M takes
the first M of them: M/4 draws x 4 seeds). For each environment and member count M, one process
compiles and trains the M members as one program and reports compile time, training time,
total env steps/s and peak memory (RSS); memory per member is the growth of the peak from 1 to
M members divided by M - 1.

"Serial" trains members one after another, each alone as ``jsrpo train`` would (its own config
with the member's values as constants, its own trainer and program), in one process, so
Python's start-up is not counted against it. The persistent compilation cache is on (in a fresh
directory), as it is for users: the first member compiles, the others load the same program
shape from the cache, so serial pays tracing and loading, not XLA, per member. ``--serial K``
times K members spread over the 64 and scales their mean to 64 (K = 64: all of them).

Writes (or adds its environments to) DIR/results.json and prints a table per environment.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@BENCH_SWEEP "
TOTAL_MEMBERS = 64
SEEDS = 4
RANDOM = {"train.lr": {"log_uniform": [1.0e-4, 3.0e-3]},
          "train.clip_eps": {"uniform": [0.1, 0.3]},
          "eps": {"uniform": [0.01, 0.2]},
          "tau": {"log_uniform": [0.5, 20.0]}}
# Per environment: the base config and its per-member budget (a short but real run).
ENVS = {
    "coop_grid": {"config": "configs/coop_grid_srpo.yaml",
                  "over": {"train": {"total_env_steps": 102_400},
                           "log": {"interval": 10, "eval_envs": 8, "final_eval_envs": 32}}},
    # (ippo_warmup 0: the shipped IPPO warm-up is longer than this budget; the benchmark
    # measures SRPO's program)
    "cramped_room": {"config": "configs/overcooked/cramped_room_srpo.yaml",
                     "over": {"train": {"total_env_steps": 204_800}, "srpo": {"ippo_warmup": 0},
                              "log": {"interval": 25, "eval_envs": 4, "final_eval_envs": 16}}},
}


def sweep_config(env: str, members: int) -> dict:
    """The plain config of the first ``members`` members of the 64-member random search."""
    import yaml

    raw = yaml.safe_load((ROOT / ENVS[env]["config"]).read_text())
    for section, values in ENVS[env]["over"].items():
        raw[section] = {**raw.get(section, {}), **values}
    raw["log"]["progress"] = False
    raw["checkpoint"] = {"every_updates": 0, "snapshots": []}
    raw.update(seed=0, num_seeds=min(members, SEEDS), tau=1.0, eps=0.01)
    raw["sweep"] = {"random": {"members": max(1, members // SEEDS), "seed": 0, "params": RANDOM}}
    return raw


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def use_fresh_cache(tmp: str) -> None:
    os.environ["JSRPO_COMPILE_CACHE"] = tmp
    from jsrpo import compile_cache
    compile_cache.enable()


# ============================================================================ workers

def worker_program(spec: dict) -> dict:
    from jsrpo import config
    from jsrpo.sweep import run_sweep
    from jsrpo.train import make_train

    use_fresh_cache(spec["cache"])
    t0 = time.perf_counter()
    cfg = config.from_dict(sweep_config(spec["env"], spec["members"]))
    res = run_sweep(make_train(cfg), host_loop=True)
    wall = time.perf_counter() - t0
    m = len(res.members)
    return {"members": m, "wall_s": wall, "compile_s": res.compile_seconds,
            "train_s": res.run_seconds, "env_steps_per_member": res.env_steps,
            "total_env_steps_per_s": res.env_steps * m / res.run_seconds,
            "team_return": [float(x) for x in res.final["team_return"]]}


def worker_serial(spec: dict) -> dict:
    from jsrpo import config
    from jsrpo.sweep import members, run_sweep
    from jsrpo.train import make_train

    use_fresh_cache(spec["cache"])
    raw = sweep_config(spec["env"], TOTAL_MEMBERS)
    cfg = config.from_dict(raw)
    ms = members(cfg)
    runs = []
    for i in spec["indices"]:
        m = ms[i]
        alone = copy.deepcopy({k: v for k, v in raw.items() if k != "sweep"})
        for key, value in m.swept(cfg.swept()).items():
            config.set_value(alone, key, value)
        alone.update(seed=m.seed, num_seeds=1)
        t0 = time.perf_counter()
        res = run_sweep(make_train(config.from_dict(alone)), host_loop=True)
        runs.append({"member": i, "wall_s": time.perf_counter() - t0,
                     "compile_s": res.compile_seconds, "train_s": res.run_seconds,
                     "cache_hits": res.compile_stats.cache_hits,
                     "team_return": float(res.final["team_return"][0])})
    return {"runs": runs}


WORKERS = {"program": worker_program, "serial": worker_serial}


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    res = WORKERS[spec["kind"]](spec)
    res["peak_rss_mb"] = peak_mb()
    print(MARK + json.dumps(res), flush=True)


def run_worker(spec: dict) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    for k in [k for k in env if k.startswith("JAX_COMPILATION_CACHE")]:
        del env[k]
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                        json.dumps(spec)], capture_output=True, text=True, env=env, cwd=ROOT)
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"worker {spec} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")


# ============================================================================ orchestration

def device_info() -> dict:
    import jax

    d = jax.devices()
    return {"platform": d[0].platform, "device_kind": d[0].device_kind, "device_count": len(d),
            "host_cpus": os.cpu_count(), "jax": jax.__version__}


def bench_env(env: str, counts: list, serial: int) -> dict:
    out: dict = {"config": ENVS[env]["config"], "overrides": ENVS[env]["over"],
                 "random": RANDOM, "program": {}}
    for m in counts:
        with tempfile.TemporaryDirectory() as cache:
            r = run_worker({"kind": "program", "env": env, "members": m, "cache": cache})
        out["program"][str(m)] = r
        print(f"  {env}: {m:3d} members in one program: compile {r['compile_s']:.1f} s, train "
              f"{r['train_s']:.1f} s, {r['total_env_steps_per_s']:,.0f} env steps/s, peak "
              f"{r['peak_rss_mb']:,.0f} MB", flush=True)
    k = min(serial, TOTAL_MEMBERS)
    indices = sorted({round(i * (TOTAL_MEMBERS - 1) / max(k - 1, 1)) for i in range(k)})
    with tempfile.TemporaryDirectory() as cache:
        s = run_worker({"kind": "serial", "env": env, "indices": indices, "cache": cache})
    walls = [r["wall_s"] for r in s["runs"]]
    s["measured"] = len(walls)
    s["per_member_wall_s"] = statistics.mean(walls)
    s["wall_64_s"] = sum(walls) if len(walls) == TOTAL_MEMBERS else (
        statistics.mean(walls) * TOTAL_MEMBERS)
    out["serial"] = s
    print(f"  {env}: serial, {len(walls)} of {TOTAL_MEMBERS} members timed: "
          f"{s['per_member_wall_s']:.1f} s per member -> {s['wall_64_s']:.0f} s for 64",
          flush=True)
    return out


def summarise(env: str, r: dict) -> list[str]:
    prog = r["program"]
    one = prog.get("1")
    lines = [f"{env} ({r['config']}, {prog[next(iter(prog))]['env_steps_per_member']:,} env "
             "steps per member)",
             "| members | compile s | train s | wall s | total env steps/s | x 1 member | "
             "peak RSS MB | MB per member |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, p in prog.items():
        speed = p["total_env_steps_per_s"] / one["total_env_steps_per_s"] if one else float("nan")
        per = ((p["peak_rss_mb"] - one["peak_rss_mb"]) / (int(m) - 1)
               if one and int(m) > 1 else float("nan"))
        lines.append(f"| {m} | {p['compile_s']:.1f} | {p['train_s']:.1f} | {p['wall_s']:.1f} | "
                     f"{p['total_env_steps_per_s']:,.0f} | {speed:.1f} | "
                     f"{p['peak_rss_mb']:,.0f} | {per:.1f} |")
    s = r["serial"]
    if str(TOTAL_MEMBERS) in prog:
        full = prog[str(TOTAL_MEMBERS)]["wall_s"]
        lines.append(f"serial: {s['per_member_wall_s']:.1f} s per member ({s['measured']} timed) "
                     f"-> {s['wall_64_s']:.0f} s for 64; one program {full:.0f} s: "
                     f"{s['wall_64_s'] / full:.1f}x cheaper")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    ap.add_argument("--counts", nargs="+", type=int, default=[1, 4, 16, 64])
    ap.add_argument("--serial", type=int, default=TOTAL_MEMBERS,
                    help="members timed serially (their mean is scaled to 64)")
    ap.add_argument("--out", default="experiments/results/bench_sweep")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker)
    bad = [c for c in args.counts if not (c == 1 or c % SEEDS == 0) or c > TOTAL_MEMBERS]
    if bad:
        raise SystemExit(f"--counts: got {bad}; allowed: 1 or multiples of {SEEDS} up to "
                         f"{TOTAL_MEMBERS}")
    if not 1 <= args.serial <= TOTAL_MEMBERS:
        raise SystemExit(f"--serial: got {args.serial}; allowed: 1 to {TOTAL_MEMBERS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    # Environments measured by separate commands share the file (each keeps its command).
    results = json.loads(path.read_text()) if path.exists() else {"envs": {}}
    results["device"] = device_info()
    for env in args.envs:
        results["envs"][env] = bench_env(env, sorted(args.counts), args.serial)
        results["envs"][env]["command"] = (
            f"python experiments/bench_sweep.py --envs {env} --counts "
            f"{' '.join(map(str, sorted(args.counts)))} --serial {args.serial}")
        path.write_text(json.dumps(results, indent=1))
    for env, r in results["envs"].items():
        print("\n".join(summarise(env, r)) + "\n")


if __name__ == "__main__":
    main()
