"""PSRO with the Nash and the RAE meta-solver on the stag hunt and the car game as Markov games
(each repeated for 5 rounds, the state the previous round's moves): which equilibrium the
populations end at (stag hunt) and how often the cars crash (car game), next to the exact
answer of the one-shot matrix game (the RAE paper's two small experiments).

    python experiments/psro_matrix.py [--list]

One resumable piece per game and meta-solver (``configs/psro/<game>_rae.yaml``, 4 seeds, 6
iterations, 1e5 env steps per best response; ``nash`` is the same config with
``psro.meta_solver=nash``), with a population per seat and, ``_one``, with one population for
both seats (whose meta-strategy is symmetric, as the exact reference's is). Each piece writes
``<game>_<solver>.json``: per seed the final meta-strategies, the expected return of the final
mixtures, and the share of rounds in which each move and each joint move is played when both
seats draw their policies from the final meta-strategies (``--episodes`` episodes per pair of
policies). Run directories go under ``--runs`` (default runs/psro_matrix), results under
``--out`` (default experiments/results/psro_matrix); ``experiments/report.py`` turns them into
docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
from _pieces import Piece, jsrpo_command, list_or_run, piece_args

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
GAMES = {"stag_hunt": "configs/psro/stag_hunt_rae.yaml",
         "car_game": "configs/psro/car_game_rae.yaml"}
#: meta-solvers per game: (name, overrides); gamma is on the 5-round return (x5 per round);
#: ``_one``: one population for both seats (``psro.populations: 1``)
ONE = ["psro.populations=1"]
SOLVERS = {
    "stag_hunt": [("nash", ["psro.meta_solver=nash"]),
                  ("rae_0.02", ["psro.gamma=0.02"]),
                  ("rae_0.2", ["psro.gamma=0.2"]),
                  ("nash_one", ["psro.meta_solver=nash"] + ONE),
                  ("rae_0.2_one", ["psro.gamma=0.2"] + ONE)],
    "car_game": [("nash", ["psro.meta_solver=nash"]),
                 ("rae_0.002", ["psro.gamma=0.002"]),
                 ("rae_0.02", ["psro.gamma=0.02"]),
                 ("rae_0.2", ["psro.gamma=0.2"]),
                 ("nash_one", ["psro.meta_solver=nash"] + ONE),
                 ("rae_0.02_one", ["psro.gamma=0.02"] + ONE),
                 ("rae_0.2_one", ["psro.gamma=0.2"] + ONE)],
}


def gamma_of(solver: str) -> float:
    """A piece's gamma on the 5-round return (``rae_0.2_one``: 0.2; ``nash``: 0)."""
    parts = solver.split("_")
    return float(parts[1]) if parts[0] == "rae" else 0.0


def label(solver: str) -> str:
    """``rae_0.2_one`` -> ``rae gamma 0.2, one population``."""
    base = f"rae gamma {gamma_of(solver):g}" if solver.startswith("rae") else "nash"
    return base + (", one population" if solver.endswith("_one") else "")


def joint_play(run_dir: Path, episodes: int, seed: int = 0) -> list[dict]:
    """Per member: the share of rounds with each joint move ``[A, A]`` when seat s plays a
    policy drawn from its final meta-strategy, and the mixture's expected returns."""
    import jax

    import envs
    from jsrpo import config, population
    from jsrpo.episodes import play_seats
    from jsrpo.vec_env import VecEnv

    cfg = config.load(run_dir / "stages.yaml")
    res = json.loads((run_dir / "psro.json").read_text())
    final = np.asarray(res["final_meta_strategies"])  # [M, 2, S]
    S = final.shape[-1]
    env = envs.make(cfg.env.name, **cfg.env.base_kwargs)
    venv = VecEnv(env)
    A = venv.num_actions
    heroes = [[population.policies(cfg, run_dir, j, s) for j in range(S)] for s in (0, 1)]
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    out = []
    compiled: dict = {}
    for m in range(cfg.num_seeds):
        joint = np.zeros((A, A))
        for i in range(S):
            for j in range(S):
                w = final[m, 0, i] * final[m, 1, j]
                if w < 1e-6:
                    continue
                a0, a1 = heroes[0][i][m], heroes[1][j][m]
                kind = (a0.kind, a1.kind)
                if kind not in compiled:
                    def play(p0, p1, ks, a0=a0, a1=a1):
                        return jax.vmap(lambda k: play_seats(venv, [a0, a1], [p0, p1], k,
                                                             record=True)[1].actions)(ks)
                    compiled[kind] = jax.jit(play)
                acts = np.asarray(compiled[kind](a0.params, a1.params, keys))  # [N, T, 2]
                counts = np.zeros((A, A))
                np.add.at(counts, (acts[..., 0].ravel(), acts[..., 1].ravel()), 1.0)
                joint += w * counts / counts.sum()
        pay = np.asarray(res["payoffs"])[m]
        x0, x1 = final[m]
        out.append({"seed": cfg.seed + m, "meta_strategies": final[m].tolist(),
                    "joint_moves": (joint / joint.sum()).tolist(),
                    "value": [float(x0 @ pay[0] @ x1), float(x0 @ pay[1] @ x1)],
                    "gains": [g[m] for g in res["gaps"]]})
    return out


#: the starting belief of each game: P(first action) in ``psro.initial`` of its config
STARTS = {"stag_hunt": 0.75, "car_game": 0.5}
ROUNDS = 5


def exact_reference(out: Path) -> None:
    """The one-shot matrix games' answer at each meta-solver's per-round gamma (``ROUNDS`` x
    gamma on the return): symmetric fictitious play with exact mean-variance best responses
    from the configs' start (``jsrpo.equilibria.rae``); its end point's first-action
    probability and, for the car game, the crash probability."""
    import jax.numpy as jnp

    from jsrpo.equilibria import games, rae

    ref = {}
    for game, name in (("stag_hunt", "stag_hunt"), ("car_game", "car_overtake")):
        A = jnp.asarray(games.get_game(name).payoffs[0], jnp.float32)
        ref[game] = {}
        for solver, overrides in SOLVERS[game]:
            gamma = gamma_of(solver) * ROUNDS
            b0 = jnp.asarray([STARTS[game], 1 - STARTS[game]], jnp.float32)
            path = rae.fictitious_play_symmetric(A, b0, gamma, 20000)
            p = float(path[-1][0])
            ref[game][solver] = {"gamma_per_round": gamma, "p_first": p,
                                 "p_crash": (1 - p) ** 2 if game == "car_game" else None}
    out.mkdir(parents=True, exist_ok=True)
    (out / "exact.json").write_text(json.dumps(ref, indent=1))


def pieces(args) -> list[Piece]:
    runs, out = args.runs.resolve(), args.out
    def exact_done() -> bool:  # for every piece
        path = out / "exact.json"
        return path.exists() and all(
            name in json.loads(path.read_text()).get(game, {})
            for game in GAMES for name, _ in SOLVERS[game])
    todo = [Piece("exact", exact_done, lambda: True, lambda: exact_reference(out))]
    for game, path in GAMES.items():
        for name, overrides in SOLVERS[game]:
            run_dir = runs / f"{game}_{name}"
            result = out / f"{game}_{name}.json"

            def run(run_dir=run_dir, result=result, path=path, overrides=overrides):
                if (run_dir / "stages.yaml").exists():
                    jsrpo_command(["train", "--resume", str(run_dir)], f"psro {run_dir}")
                else:
                    jsrpo_command(["train", "--config", str(ROOT / path), "--out",
                                   str(run_dir), "--overwrite"] + overrides + args.override,
                                  f"psro {run_dir}")
                out.mkdir(parents=True, exist_ok=True)
                members = joint_play(run_dir, args.episodes)
                cfg_text = (run_dir / "stages.yaml").read_text()
                result.write_text(json.dumps({"config": cfg_text, "members": members},
                                             indent=1))
                for png in ("meta_game.png", "meta_strategy.png"):
                    shutil.copy(run_dir / png, out / f"{result.stem}_{png}")

            todo.append(Piece(f"{game}_{name}", result.exists, lambda: True, run))
    return todo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    piece_args(ap, ROOT / "runs" / "psro_matrix", ROOT / "experiments" / "results" / "psro_matrix")
    ap.add_argument("--episodes", type=int, default=256,
                    help="episodes per pair of policies for the joint-move shares")
    args = ap.parse_args()
    list_or_run(pieces(args), args, "psro")


if __name__ == "__main__":
    main()
