"""Learners against the exact solver: SRPO (sampled PPO updates) on collaborate/defect across a
tau grid, all taus and seeds trained in ONE compiled program, next to every exact RQE.

    python experiments/learners_vs_solvers.py [--seeds 2] [--out DIR]

Writes learners_vs_solvers.png (final P(C) of each hero against tau over the RQE branches) and
learners_vs_solvers.json (per member: tau, seed, P(C) per seat, distance to the nearest RQE).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from jsrpo import config
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train

ROOT = Path(__file__).resolve().parent.parent
TAUS = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
EPS = 0.2


def exact_rqe(taus):
    """P(C) of seat 0 and seat 1 of every RQE at each tau (float64)."""
    from jsrpo.equilibria import rqe
    from jsrpo.equilibria.games import get_game

    with jax.enable_x64(True):
        payoffs = get_game("collab_defect").payoffs
        sols = rqe.rqe_equilibria_grid(payoffs, list(taus), [EPS] * len(taus))
        return [[(float(e.x0[0]), float(e.x1[0])) for e in sol] for sol in sols]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "experiments" / "results" / "learners_vs_solvers")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg = config.load(ROOT / "configs" / "collab_defect_srpo.yaml", [
        f"tau={TAUS}", f"num_seeds={args.seeds}", f"eps={EPS}", "log.progress=false"])
    res = run_sweep(make_train(cfg))
    train_s = time.perf_counter() - t0
    grid = np.concatenate([[0.0], np.geomspace(0.01, 30, 120)])
    curve = exact_rqe(grid)
    at_members = exact_rqe(TAUS)
    rows = []
    for i, m in enumerate(res.members):
        p = res.final["action_probs"][i, :, 0]
        eqs = at_members[TAUS.index(m.tau)]
        dist = min(max(abs(p[0] - a), abs(p[1] - b)) for a, b in eqs)
        rows.append({"tau": m.tau, "seed": m.seed, "p_collab": p.tolist(),
                     "distance_to_nearest_rqe": float(dist), "rqe": eqs})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for tau, eqs in zip(grid, curve):
        for a, b in eqs:
            ax.plot([tau, tau], [a, b], ".", color="0.6", ms=2)
    for r in rows:
        ax.plot([r["tau"]] * 2, r["p_collab"], "o", mfc="none",
                color="C3" if r["tau"] else "C0", ms=6)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("tau")
    ax.set_ylabel("P(C) of each hero")
    ax.set_title(f"collab/defect, eps={EPS}: SRPO (circles, both seats) vs exact RQE (grey)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "learners_vs_solvers.png", dpi=120)
    data = {"eps": EPS, "members": rows, "train_seconds": train_s,
            "compile_seconds": res.compile_seconds, "env_steps_per_member": res.env_steps,
            "max_distance_tau_ge_1": max(r["distance_to_nearest_rqe"]
                                         for r in rows if r["tau"] >= 1)}
    (args.out / "learners_vs_solvers.json").write_text(json.dumps(data, indent=2))
    for r in rows:
        print(f"tau={r['tau']:<5g} seed={r['seed']} P(C)={np.round(r['p_collab'], 4)} "
              f"nearest-RQE distance {r['distance_to_nearest_rqe']:.4f}")
    print(f"max distance for tau >= 1: {data['max_distance_tau_ge_1']:.4f}; "
          f"wall {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
