"""Stag hunt: which equilibrium symmetric fictitious play selects, by start P(Stag) and gamma.

Mean-variance risk aversion (RAE, gamma > 0) moves the basin boundary of fictitious play up,
towards the risk-dominant Hare equilibrium. The boundary is the symmetric mixed RAE (unstable
under fictitious play), computed exactly for comparison. Writes stag_hunt.png and
stag_hunt.json into --out.

    python experiments/solver_stag_hunt.py [--out DIR]
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

from jsrpo.equilibria import rae
from jsrpo.equilibria.games import get_game
from jsrpo.equilibria.numerics import jit_fast

NAME = "solver_stag_hunt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / NAME)
    parser.add_argument(
        "--gammas", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.1, 0.2, 0.5]
    )
    parser.add_argument("--fp-steps", type=int, default=5000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    payoffs = jnp.asarray(get_game("stag_hunt").payoffs)
    starts = np.round(np.linspace(0.01, 0.99, 99), 2)
    gammas = np.asarray(args.gammas)

    grid_g, grid_s = np.meshgrid(gammas, starts, indexing="ij")
    beliefs = jnp.asarray(np.stack([grid_s.ravel(), 1 - grid_s.ravel()], axis=1))
    fp = jit_fast(
        jax.vmap(rae.fictitious_play_symmetric, in_axes=(None, 0, 0, None)), static_argnums=(3,)
    )
    paths = fp(payoffs[0], beliefs, jnp.asarray(grid_g.ravel()), args.fp_steps)
    final = np.asarray(paths[:, -1, 0]).reshape(len(gammas), len(starts))
    selected = np.where(final > 0.99, 1, np.where(final < 0.01, -1, 0))  # Stag / Hare / mixed

    mixed = []
    for eqs in rae.rae_equilibria_grid(payoffs, list(gammas)):
        sym = [e for e in eqs if np.allclose(e.x0, e.x1) and 0 < e.x0[0] < 1]
        mixed.append(float(sym[0].x0[0]) if sym else None)

    per_gamma = {}
    for k, g in enumerate(gammas):
        stag = starts[selected[k] == 1]
        threshold = float(stag.min()) if len(stag) else None
        per_gamma[str(g)] = {
            "lowest_start_selecting_Stag": threshold,
            "symmetric_mixed_RAE_P(Stag)": mixed[k],
            "from_0.70": "Stag" if selected[k, starts == 0.70][0] == 1 else "Hare",
            "from_0.85": "Stag" if selected[k, starts == 0.85][0] == 1 else "Hare",
            "undecided_starts": int(np.sum(selected[k] == 0)),
        }
        boundary = None if mixed[k] is None else round(mixed[k], 4)
        print(
            f"gamma={g}: Stag from P(Stag) >= {threshold} (mixed RAE {boundary}); "
            f"0.70 -> {per_gamma[str(g)]['from_0.70']}, 0.85 -> {per_gamma[str(g)]['from_0.85']}"
        )

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.imshow(
        selected,
        aspect="auto",
        origin="lower",
        cmap="coolwarm",
        vmin=-1,
        vmax=1,
        extent=(starts[0] - 0.005, starts[-1] + 0.005, -0.5, len(gammas) - 0.5),
    )
    ax.plot([m if m is not None else np.nan for m in mixed], range(len(gammas)), "kx",
            label="symmetric mixed RAE")
    ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
    ax.set(xlabel="starting belief P(Stag)", ylabel="gamma",
           title="Symmetric fictitious play: red = Stag, blue = Hare")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "stag_hunt.png", dpi=130)
    summary = {
        "starts": starts.tolist(),
        "gammas": gammas.tolist(),
        "final_P(Stag)": final.tolist(),
        "per_gamma": per_gamma,
        "wall_time_s": time.time() - start,
    }
    (args.out / "stag_hunt.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}/stag_hunt.png and .json in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
