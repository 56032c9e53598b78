"""IPPO against SRPO on MPE Tag with a frozen runner (the SRPO paper's second experiment):
runners pre-trained first, then chasers with 8 seeds per method in one program each against the
first runner, then cross-play under teammate shift (chasers of other seeds and methods, and
scripted chasers) and runner shift (the other pre-trained runners and scripted runners).

    python experiments/tag_crossplay.py [--seeds 8] [--steps N] [--list]

Resumable pieces, each skipped when its result exists (an interrupted training resumes from its
newest checkpoint):

- ``runner``: ``configs/tag/runner.yaml`` (IPPO on the three-seat game; each member's seat 2 is
  a runner); member 0 is the runner the chasers train against, the others and every member's
  halfway snapshot are held out;
- ``ippo``, ``srpo``: ``configs/tag/<method>.yaml`` with ``--seeds`` seeds against runner 0;
- ``crossplay``: IPPO and SRPO pooled (teammate shift; scripted partners ``PARTNERS``) and each
  member's own team against every runner (the pre-trained ones and ``SCRIPTED_RUNNERS``); then
  both methods' learning curves in one figure (``learning_curves.png``);
- ``tau_ablation``: SRPO at tau ``ABLATION_TAUS`` (tau 0 is IPPO) with ``--ablation-seeds``
  seeds and ``--ablation-steps`` env steps per member, one program;
- ``ablation_crossplay``: the same cross-play for the tau ablation.

Run directories go under ``--runs`` (default runs/tag, not committed); summaries, learning curves
and cross-play results under ``--out`` (default experiments/results/tag), which
``experiments/report.py`` turns into docs/results.md.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from _pieces import Piece, jsrpo_command, keep, list_or_run, piece_args, plot_curves, train

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
METHODS = ("ippo", "srpo")
ABLATION_TAUS = (0.0, 1.0, 10.0, 100.0)
#: env steps per member of the ablation (a third of the main runs' budget)
ABLATION_STEPS = 5_000_000
PARTNERS = "chase,random,chase:epsilon=0.2"
SCRIPTED_RUNNERS = ("flee", "random", "flee:epsilon=0.2")


def pieces(args) -> list[Piece]:
    runs, out = args.runs.resolve(), args.out
    runner = runs / "runner"
    budget = [f"train.total_env_steps={args.steps}"] if args.steps else []
    against = ["env.frozen.policies=[" + str(runner) + "#0]", "seed=0",
               "checkpoint.snapshots=[]"] + budget
    runner_done = (out / "runner_summary.json").exists

    def runners() -> str:
        """Every pre-trained runner, final and halfway (its snapshot), and the scripted ones."""
        from jsrpo.checkpoint import saved_steps
        steps = saved_steps(runner)
        half = min(steps, key=lambda u: abs(u - steps[-1] / 2)) if steps else None
        trained = [str(runner)] + ([f"{runner}@{half}"] if half and half != steps[-1] else [])
        return ",".join(trained + list(SCRIPTED_RUNNERS))

    def run_runner():
        train(runner, ROOT / "configs" / "tag" / "runner.yaml",
              [f"num_seeds={args.runner_seeds}", "seed=0"] + budget + args.override)
        keep(runner, out, "runner_")
    ps = [Piece("runner", runner_done, lambda: True, run_runner)]
    for method in METHODS:
        def run_train(method=method):
            train(runs / method, ROOT / "configs" / "tag" / f"{method}.yaml",
                  against + [f"num_seeds={args.seeds}"] + args.override)
            keep(runs / method, out, f"{method}_")
        ps.append(Piece(method, (out / f"{method}_summary.json").exists, runner_done,
                        run_train))

    def crossplay(run_dirs, dest):
        jsrpo_command(["crossplay", *map(str, run_dirs), "--partners", PARTNERS,
                       "--runners", runners(), "--episodes", str(args.episodes),
                       "--out", str(dest)], f"crossplay {dest.name}")
    trained = lambda: all((out / f"{m}_summary.json").exists() for m in METHODS)

    def run_crossplay():
        crossplay([runs / m for m in METHODS], out / "crossplay")
        plot_curves({m: out / f"{m}_curve.json" for m in METHODS}, out / "learning_curves.png",
                    "MPE Tag, chasers against the frozen runner")
    ps.append(Piece("crossplay", (out / "crossplay" / "crossplay.json").exists, trained,
                    run_crossplay))

    def run_ablation():
        train(runs / "tau_ablation", ROOT / "configs" / "tag" / "srpo.yaml",
              against + [f"num_seeds={args.ablation_seeds}",
                         f"train.total_env_steps={args.ablation_steps}",
                         "tau=[" + ", ".join(f"{t:g}" for t in ABLATION_TAUS) + "]"]
              + args.override)
        keep(runs / "tau_ablation", out, "tau_ablation_")
    ps.append(Piece("tau_ablation", (out / "tau_ablation_summary.json").exists, runner_done,
                    run_ablation))
    ps.append(Piece("ablation_crossplay",
                    (out / "ablation_crossplay" / "crossplay.json").exists,
                    (out / "tau_ablation_summary.json").exists,
                    lambda: crossplay([runs / "tau_ablation"], out / "ablation_crossplay")))
    return ps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8, help="chaser seeds per method")
    ap.add_argument("--runner-seeds", type=int, default=4,
                    help="pre-trained runners (member 0 trains the chasers; the rest are held out)")
    ap.add_argument("--ablation-seeds", type=int, default=2, help="seeds per tau of the ablation")
    ap.add_argument("--ablation-steps", type=int, default=ABLATION_STEPS,
                    help="env steps per member of the ablation")
    ap.add_argument("--steps", type=int, default=None,
                    help="env steps per member of every training (default: the configs')")
    ap.add_argument("--episodes", type=int, default=64, help="cross-play episodes per pair")
    piece_args(ap, ROOT / "runs" / "tag", ROOT / "experiments" / "results" / "tag")
    args = ap.parse_args(argv)
    list_or_run(pieces(args), args, "tag")


if __name__ == "__main__":
    main()
