"""The car game: P(Overtake) and crash probability of the symmetric RAE against gamma, next to Nash.

The symmetric mixed RAE is computed two ways: exactly (KKT root finding over support pairs,
jsrpo.equilibria.rae.rae_equilibria_grid) and by single-population fictitious play from
uniform. Writes car_game.png and car_game.json into --out.

    python experiments/solver_car_game.py [--out DIR]
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

from jsrpo.equilibria import nash, rae
from jsrpo.equilibria.games import get_game
from jsrpo.equilibria.numerics import jit_fast

NAME = "solver_car_game"
TABLE_GAMMAS = [0.01, 0.1, 1.0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / NAME)
    parser.add_argument("--fp-steps", type=int, default=20000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    game = get_game("car_overtake")
    payoffs = jnp.asarray(game.payoffs)

    mixed_nash = next(e for e in nash.nash_equilibria(payoffs) if 0 < e.x0[1] < 1)
    q_nash = float(mixed_nash.x0[1])
    sigma = rae.opponent_covariance(payoffs[0], jnp.asarray(mixed_nash.x1))
    variance_nash = float(mixed_nash.x0 @ sigma @ mixed_nash.x0)

    gammas = np.unique(np.concatenate([np.geomspace(1e-3, 10.0, 41), TABLE_GAMMAS]))
    exact = []
    for g, eqs in zip(gammas, rae.rae_equilibria_grid(payoffs, list(gammas))):
        sym = [e for e in eqs if np.allclose(e.x0, e.x1) and 0 < e.x0[1] < 1]
        exact.append((float(sym[0].x0[1]), sym[0].gap) if sym else (np.nan, np.nan))
    exact_q = np.array([q for q, _ in exact])

    fp = jit_fast(
        jax.vmap(rae.fictitious_play_symmetric, in_axes=(None, None, 0, None)), static_argnums=(3,)
    )
    paths = fp(payoffs[0], jnp.array([0.5, 0.5]), jnp.asarray(gammas), args.fp_steps)
    fp_q = np.asarray(paths[:, -1, 1])

    table = {}
    for g in TABLE_GAMMAS:
        k = int(np.argmin(np.abs(gammas - g)))
        q = exact_q[k]
        table[str(g)] = {
            "P(Overtake)": round(q, 5),
            "P(crash)": round(q**2, 5),
            "crash_ratio_nash_over_rae": round(q_nash**2 / q**2, 1),
            "fictitious_play_P(Overtake)": round(float(fp_q[k]), 5),
            "gap": exact[k][1],
        }
        print(
            f"gamma={g}: P(Overtake) {q:.5f} (FP {fp_q[k]:.5f}), P(crash) {q**2:.5f}, "
            f"Nash/RAE crash ratio {q_nash**2 / q**2:.1f}"
        )

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    ax0.plot(gammas, exact_q, "-", label="symmetric RAE (exact)")
    ax0.plot(gammas, fp_q, ".", ms=4, label=f"fictitious play from uniform ({args.fp_steps} steps)")
    ax0.axhline(q_nash, color="gray", ls="--", label=f"mixed Nash {q_nash:.4f}")
    ax0.set(xscale="log", xlabel="gamma (variance weight)", ylabel="P(Overtake)", title="Car game")
    ax1.plot(gammas, exact_q**2, "-", label="symmetric RAE")
    ax1.axhline(q_nash**2, color="gray", ls="--", label=f"mixed Nash {q_nash**2:.4f}")
    ax1.set(xscale="log", yscale="log", xlabel="gamma", ylabel="P(crash) = P(Overtake)^2",
            title="Crash probability")
    for ax in (ax0, ax1):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "car_game.png", dpi=130)
    summary = {
        "nash": {"P(Overtake)": q_nash, "P(crash)": q_nash**2, "opponent_variance": variance_nash},
        "table": table,
        "gammas": gammas.tolist(),
        "rae_P(Overtake)": exact_q.tolist(),
        "fp_P(Overtake)": fp_q.tolist(),
        "max_abs_exact_minus_fp": float(np.nanmax(np.abs(exact_q - fp_q))),
        "wall_time_s": time.time() - start,
    }
    (args.out / "car_game.json").write_text(json.dumps(summary, indent=1))
    print(
        f"Nash: P(Overtake) {q_nash:.5f}, P(crash) {q_nash**2:.4f}, variance {variance_nash:.3f}; "
        f"max |exact - FP| {summary['max_abs_exact_minus_fp']:.1e}"
    )
    print(f"wrote {args.out}/car_game.png and .json in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
