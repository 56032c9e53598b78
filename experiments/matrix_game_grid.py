"""SRPO against the exact RQE on collaborate/defect over the full (private cost, tau, eps) grid.

For each private cost, every tau x eps x seed member is trained in ONE compiled program (tau and
eps are traced sweep axes), so the whole grid is one program per cost. Each member's final mixed
strategies are compared with every exact RQE of its own (cost, tau, eps); its distance is
max over seats of |P(C) - P(C) of the nearest RQE|.

    python experiments/matrix_game_grid.py [--config configs/collab_defect_srpo.yaml]
        [--seeds 3] [--costs 0.2 0.4 0.6 0.8] [--taus ...] [--epss ...] [--out DIR]
        [--jobs 2] [train.lr=1e-3 ...]           # dotted config overrides

``--jobs N`` runs up to N cost programs at once, each in its own process (writing to
DIR/cost_<c>/), and merges their results into DIR/results.json.

Writes DIR/results.json (per member: cost, tau, eps, seed, P(C) per seat, nearest RQE, distance,
its distance at each logging period and its late swing; the worst distance per eps, per
eps x tau and overall; the command, the config and the timings) and prints the worst distance
per eps and per eps x tau.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jsrpo import config
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train

ROOT = Path(__file__).resolve().parent.parent
COSTS = [0.2, 0.4, 0.6, 0.8]
TAUS = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
EPSS = [0.05, 0.1, 0.2, 0.5]
LATE = 0.25  # the last quarter of the logging periods is the "late" window


def exact_rqe(cost, taus, epss):
    """{(tau, eps): [(P(C) seat 0, P(C) seat 1), ...]} of every RQE at this cost (float64)."""
    from envs.matrix_games import collab_defect_payoffs
    from jsrpo.equilibria import rqe

    pairs = [(t, e) for t in taus for e in epss]
    with jax.enable_x64(True):
        payoffs, _ = collab_defect_payoffs(cost)
        sols = rqe.rqe_equilibria_grid(np.asarray(payoffs, np.float64),
                                       [t for t, _ in pairs], [e for _, e in pairs])
        return {p: [(float(q.x0[0]), float(q.x1[0])) for q in sol]
                for p, sol in zip(pairs, sols)}


def nearest(p, eqs):
    """(distance, equilibrium) of the RQE nearest to P(C) pair ``p`` in the max-over-seats norm."""
    d = [max(abs(p[0] - a), abs(p[1] - b)) for a, b in eqs]
    k = int(np.argmin(d))
    return float(d[k]), eqs[k]


def worst_tables(rows, epss, taus):
    per_eps = {str(e): max(r["distance"] for r in rows if r["eps"] == e) for e in epss}
    per_eps_tau = {str(e): {str(t): max(r["distance"] for r in rows
                                        if r["eps"] == e and r["tau"] == t) for t in taus}
                   for e in epss}
    return per_eps, per_eps_tau


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "collab_defect_srpo.yaml")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--costs", type=float, nargs="+", default=COSTS)
    ap.add_argument("--taus", type=float, nargs="+", default=TAUS)
    ap.add_argument("--epss", type=float, nargs="+", default=EPSS)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "experiments" / "results" / "matrix_game_grid")
    ap.add_argument("--jobs", type=int, default=1,
                    help="cost programs run at once, one process each (default 1: sequential)")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.lr=1e-3")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if args.jobs > 1 and len(args.costs) > 1:
        rows, programs, cfg = run_in_processes(args)
    else:
        rows, programs, cfg = run_here(args)
    report(args, rows, programs, cfg, t_start)


def run_in_processes(args):
    """One child process per cost (at most ``args.jobs`` at once); their results merged."""
    pending, running, done = list(args.costs), [], {}
    while pending or running:
        while pending and len(running) < args.jobs:
            cost = pending.pop(0)
            out = args.out / f"cost_{cost:g}"
            cmd = [sys.executable, __file__, "--config", str(args.config),
                   "--seeds", str(args.seeds), "--costs", str(cost),
                   "--taus", *map(str, args.taus), "--epss", *map(str, args.epss),
                   "--out", str(out), *args.overrides]
            print(f"cost={cost:g}: started in its own process (log {out / 'log.txt'})",
                  flush=True)
            out.mkdir(parents=True, exist_ok=True)
            log = open(out / "log.txt", "w")
            running.append((cost, out, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT),
                            log))
        time.sleep(5)
        for item in list(running):
            cost, out, proc, log = item
            if proc.poll() is None:
                continue
            log.close()
            running.remove(item)
            if proc.returncode != 0:
                raise SystemExit(f"cost={cost:g} failed (exit {proc.returncode}); "
                                 f"see {out / 'log.txt'}")
            done[cost] = json.loads((out / "results.json").read_text())
            print(f"cost={cost:g}: done, worst distance "
                  f"{done[cost]['worst_distance_overall']:.4f}", flush=True)
    rows = [r for c in args.costs for r in done[c]["members"]]
    programs = [p for c in args.costs for p in done[c]["programs"]]
    cfg = config.load(args.config, list(args.overrides) + sweep_overrides(args))
    return rows, programs, cfg


def sweep_overrides(args):
    return [f"tau={list(args.taus)}", f"eps={list(args.epss)}", f"num_seeds={args.seeds}",
            "log.progress=false"]


def run_here(args):
    sweep = sweep_overrides(args)
    rows, programs, cfg = [], [], None
    for ci, cost in enumerate(args.costs):
        cfg = config.load(args.config, list(args.overrides) + sweep + [f"env.kwargs.cost={cost}"])
        lay = cfg.layout
        size = len(args.taus) * len(args.epss) * args.seeds
        print(f"[{ci + 1}/{len(args.costs)}] cost={cost:g}: {size} members, "
              f"{lay.num_updates} updates of {lay.env_steps_per_update} env steps",
              flush=True)
        t0 = time.perf_counter()
        res = run_sweep(make_train(cfg))
        wall = time.perf_counter() - t0
        eqs = exact_rqe(cost, args.taus, args.epss)
        hist = res.evals["action_probs"][..., 0]  # [P, M, 2] P(C) at each logging period
        late = max(1, int(round(LATE * hist.shape[0])))
        cost_rows = []
        for i, m in enumerate(res.members):
            p = res.final["action_probs"][i, :, 0].tolist()
            e = eqs[(m.tau, m.eps)]
            dist, near = nearest(p, e)
            traj = hist[:, i]
            cost_rows.append({
                "cost": cost, "tau": m.tau, "eps": m.eps, "seed": m.seed,
                "p_collab": p, "nearest_rqe": list(near), "distance": dist,
                "all_rqe": [list(q) for q in e],
                "distance_per_period": [round(nearest(q.tolist(), e)[0], 4) for q in traj],
                # max over seats of the range of P(C) over the late periods: large = swinging
                "late_swing": float(np.max(traj[-late:].max(0) - traj[-late:].min(0))),
            })
        rows += cost_rows
        worst = max(cost_rows, key=lambda r: r["distance"])
        programs.append({"cost": cost, "wall_seconds": wall,
                         "compile_seconds": res.compile_seconds, "run_seconds": res.run_seconds,
                         "env_steps_per_member": res.env_steps})
        print(f"    compile {res.compile_seconds:.0f}s, run {res.run_seconds:.0f}s; worst "
              f"distance {worst['distance']:.4f} (tau={worst['tau']:g}, eps={worst['eps']:g}, "
              f"seed={worst['seed']}, P(C)={np.round(worst['p_collab'], 3).tolist()}, nearest "
              f"RQE {np.round(worst['nearest_rqe'], 3).tolist()})", flush=True)
    return rows, programs, cfg


def report(args, rows, programs, cfg, t_start):
    per_eps, per_eps_tau = worst_tables(rows, args.epss, args.taus)
    overall = max(r["distance"] for r in rows)
    data = {
        "command": " ".join(shlex.quote(a) for a in ["python"] + sys.argv),
        "config_file": str(args.config),
        "overrides": list(args.overrides),
        "config": dataclasses.asdict(cfg) | {"tau": list(args.taus), "eps": list(args.epss),
                                              "env": {"name": cfg.env.name,
                                                      "kwargs": {"cost": list(args.costs)}}},
        "costs": list(args.costs), "taus": list(args.taus), "epss": list(args.epss),
        "seeds": args.seeds,
        "distance": "max over seats of |P(C) - P(C) of the nearest exact RQE of the member's own"
                    " (cost, tau, eps)|",
        "worst_distance_overall": overall,
        "worst_distance_per_eps": per_eps,
        "worst_distance_per_eps_tau": per_eps_tau,
        "members_over_0.03": sum(r["distance"] > 0.03 for r in rows),
        "programs": programs,
        "jobs": args.jobs,
        "total_wall_seconds": time.perf_counter() - t_start,
        "members": rows,
    }
    (args.out / "results.json").write_text(json.dumps(data, indent=1))

    w = 8
    print("\nworst distance to the nearest exact RQE (over costs and seeds)")
    print("eps \\ tau " + "".join(f"{t:>{w}g}" for t in args.taus) + f"{'all':>{w}}")
    for e in args.epss:
        print(f"{e:<10g}" + "".join(f"{per_eps_tau[str(e)][str(t)]:>{w}.4f}" for t in args.taus)
              + f"{per_eps[str(e)]:>{w}.4f}")
    print(f"overall worst {overall:.4f}; members over 0.03: {data['members_over_0.03']}"
          f"/{len(rows)}; wall {data['total_wall_seconds']:.0f}s -> {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
