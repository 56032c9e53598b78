"""IPPO against SRPO on the SRPO paper's Hanabi (3 colours x 3 ranks), 2 and 4 players: training
with 8 seeds per method in one program each, then pooled cross-play with the held-out scripted
partners (random-legal and rule-based, with and without noise) in every seat.

    python experiments/hanabi_crossplay.py [--players 2 4] [--seeds 8] [--steps N] [--list]

The paper gives Hanabi's tau as 0.01, which may be the KL coefficient (1/tau) rather than tau.
A short pilot runs both readings, tau = 0.01 and tau = 100, as members of one program; the main
SRPO run then uses the reading whose members scored higher. Resumable pieces, each skipped when
its result exists (an interrupted training resumes from its newest checkpoint):

- ``<N>p/tau_reading``: ``configs/hanabi/<N>p_srpo.yaml`` with ``--pilot-seeds`` seeds per
  reading and ``PILOT_STEPS[N]`` env steps per member (``--pilot-steps`` overrides);
- ``<N>p/ippo``, ``<N>p/srpo``: ``configs/hanabi/<N>p_<method>.yaml`` with ``--seeds`` seeds
  and ``--steps`` env steps per member (the configs' own budget by default); SRPO at the
  pilot's better tau;
- ``<N>p/crossplay``: both methods' members pooled, with ``PARTNERS`` in both halves of the seats
  (two players: seat 0 and seat 1; four: seats 0-1 and seats 2-3, as the paper pairs them);
  then both methods' learning curves in one figure (``<N>p/learning_curves.png``).

Run directories go under ``--runs`` (default runs/hanabi, not committed); summaries, learning
curves and cross-play results under ``--out`` (default experiments/results/hanabi), which
``experiments/report.py`` turns into docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from _pieces import Piece, jsrpo_command, keep, list_or_run, piece_args, plot_curves, train

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
PLAYERS = (2, 4)
METHODS = ("ippo", "srpo")
#: tau read as tau (0.01) and as the KL coefficient 1/tau (tau = 100)
SRPO_TAUS = (0.01, 100.0)
#: env steps per member of the tau-reading pilot (a fifth of the 2-player budget; the
#: four-player game runs about three times slower per env step)
PILOT_STEPS = {2: 600_000, 4: 200_000}
PARTNERS = "random,rule,random:epsilon=0.2,rule:epsilon=0.2"


def pilot_tau(summary: Path) -> float:
    """The reading of tau whose pilot members have the higher mean final score."""
    members = json.loads(summary.read_text())["members"]
    mean = {t: statistics.mean(float(m["team_return"]) for m in members
                               if float(m["tau"]) == t) for t in SRPO_TAUS}
    return max(SRPO_TAUS, key=lambda t: mean[t])


def pieces(args) -> list[Piece]:
    runs, out = args.runs, args.out
    ps: list[Piece] = []
    for n in args.players:
        config = lambda method, n=n: ROOT / "configs" / "hanabi" / f"{n}p_{method}.yaml"
        dest = out / f"{n}p"
        common = ["seed=0", "checkpoint.every_updates=50", "checkpoint.snapshots=[]"]
        budget = [f"train.total_env_steps={args.steps}"] if args.steps else []
        pilot = dest / "tau_reading_summary.json"

        def run_pilot(n=n, dest=dest, config=config):
            steps = args.pilot_steps or PILOT_STEPS[n]
            train(runs / f"{n}p" / "tau_reading", config("srpo"),
                  common + [f"num_seeds={args.pilot_seeds}", f"train.total_env_steps={steps}",
                            "tau=[" + ", ".join(f"{t:g}" for t in SRPO_TAUS) + "]"]
                  + args.override)
            keep(runs / f"{n}p" / "tau_reading", dest, "tau_reading_")
        ps.append(Piece(f"{n}p/tau_reading", pilot.exists, lambda: True, run_pilot))
        for method in METHODS:
            run = runs / f"{n}p" / method

            def run_train(run=run, dest=dest, method=method, config=config, pilot=pilot):
                extra = [f"tau={pilot_tau(pilot):g}"] if method == "srpo" else []
                train(run, config(method),
                      common + [f"num_seeds={args.seeds}"] + budget + extra + args.override)
                keep(run, dest, f"{method}_")
            ready = pilot.exists if method == "srpo" else (lambda: True)
            ps.append(Piece(f"{n}p/{method}", (dest / f"{method}_summary.json").exists,
                            ready, run_train))
        xp = dest / "crossplay"

        def run_xp(n=n, xp=xp, dest=dest):
            jsrpo_command(["crossplay"] + [str(runs / f"{n}p" / m) for m in METHODS]
                          + ["--partners", PARTNERS, "--episodes", str(args.episodes),
                             "--out", str(xp)], f"crossplay {n}p")
            plot_curves({m: dest / f"{m}_curve.json" for m in METHODS},
                        dest / "learning_curves.png", f"Hanabi 3x3, {n} players")
        trained = lambda dest=dest: all((dest / f"{m}_summary.json").exists() for m in METHODS)
        ps.append(Piece(f"{n}p/crossplay", (xp / "crossplay.json").exists, trained, run_xp))
    return ps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--players", nargs="+", type=int, default=list(PLAYERS), choices=PLAYERS)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None,
                    help="env steps per member (default: the config's)")
    ap.add_argument("--pilot-seeds", type=int, default=4,
                    help="seeds per tau reading in the pilot")
    ap.add_argument("--pilot-steps", type=int, default=None,
                    help="env steps per pilot member (default: PILOT_STEPS)")
    ap.add_argument("--episodes", type=int, default=64, help="cross-play episodes per pair")
    piece_args(ap, ROOT / "runs" / "hanabi", ROOT / "experiments" / "results" / "hanabi")
    args = ap.parse_args(argv)
    list_or_run(pieces(args), args, "hanabi")


if __name__ == "__main__":
    main()
