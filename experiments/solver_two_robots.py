"""Two robots pushing an object: the Gaussian RQE against tau * eps (paper Example 4.1).

Solves the game of means numerically (jsrpo.equilibria.aggregative.gaussian_rqe), checks it
against the closed form mean = target / (3 - tau eps / 2), variance = eps / 2, and plots the
expected shared reward and per-player utility against tau * eps for several eps. Writes
two_robots.png and two_robots.json into --out.

    python experiments/solver_two_robots.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jsrpo.equilibria import aggregative
from jsrpo.equilibria.numerics import jit_fast

NAME = "solver_two_robots"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / NAME)
    parser.add_argument("--target", type=float, default=1.0)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2, 0.5])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    game = aggregative.two_robots(args.target)
    tau_eps = np.linspace(0.0, 1.98, 100)  # the Gaussian RQE exists for tau * eps < 2

    @jit_fast
    def solve(tau, eps):
        sol = jax.vmap(aggregative.gaussian_rqe, in_axes=(None, 0, None))(game, tau, eps)
        shared = jax.vmap(aggregative.expected_shared_reward, in_axes=(None, 0, 0))(
            game, sol.mean, sol.variance
        )
        utility = jax.vmap(aggregative.expected_utilities, in_axes=(None, 0, 0))(
            game, sol.mean, sol.variance
        )
        return sol, shared, utility

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    results = {}
    for k, eps in enumerate(args.eps):
        sol, shared, utility = solve(jnp.asarray(tau_eps / eps), eps)
        mean_cf, var_cf = aggregative.two_robots_closed_form(args.target, tau_eps / eps, eps)
        err = max(
            float(np.max(np.abs(sol.mean - np.asarray(mean_cf)[:, None]))),
            float(np.max(np.abs(sol.variance - var_cf))),
        )
        peak = float(tau_eps[int(np.argmax(utility[:, 0]))])
        results[str(eps)] = {
            "max_residual": float(np.max(sol.residual)),
            "max_abs_error_vs_closed_form": err,
            "utility_peak_at_tau_eps": peak,
            "shared_reward_strictly_increasing": bool(np.all(np.diff(shared) > 0)),
            "tau_eps": tau_eps.tolist(),
            "mean": np.asarray(sol.mean[:, 0]).tolist(),
            "shared_reward": np.asarray(shared).tolist(),
            "utility": np.asarray(utility[:, 0]).tolist(),
        }
        ax0.plot(tau_eps, shared, color=f"C{k}", label=f"eps = {eps}")
        ax1.plot(tau_eps, utility[:, 0], color=f"C{k}", label=f"eps = {eps}")
        ax1.plot(peak, float(np.max(utility[:, 0])), "o", color=f"C{k}", ms=4)
        print(
            f"eps={eps}: max |numeric - closed form| = {err:.1e}, utility peaks at tau*eps = "
            f"{peak:.3f}, shared reward at tau=0 / tau*eps=1.98: {float(shared[0]):.4f} / "
            f"{float(shared[-1]):.4f}"
        )
    for ax, title in ((ax0, "Expected shared reward"), (ax1, "Per-player expected utility")):
        ax.axvline(1.0, color="gray", ls=":", lw=0.8)
        ax.set(xlabel="tau * eps", title=title)
        ax.legend(fontsize=8)
    fig.suptitle(f"Two robots: Gaussian RQE (target {args.target}); tau = 0 (QRE) at the left edge")
    fig.tight_layout()
    fig.savefig(args.out / "two_robots.png", dpi=130)
    summary = {"target": args.target, "per_eps": results, "wall_time_s": time.time() - start}
    (args.out / "two_robots.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}/two_robots.png and .json in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
