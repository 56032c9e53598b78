"""SRPO's adversary options on the Overcooked layouts: each option's effect on every layout.

    python experiments/srpo_options.py [--layouts ...] [--screens ...] [--seeds 2]

One program per (layout, screen), each a sweep over the options it compares, in resumable
pieces (a piece whose result directory exists is skipped). Screens:

- ``loss`` / ``reward``: tau 1 with the KL as a loss term or in the adversary's reward
  (``srpo.kl_penalty``), each crossed with the adversary's strength warm-up
  (``srpo.adv_warmup``) and its share of the shaped reward (``srpo.adv_shaped_reward``);
- ``ippo_warmup``: an IPPO warm-up (``srpo.ippo_warmup``) before SRPO at taus 0.3 and 1.

Every option not compared is set to its default on the command line, so the shipped config's own
option values do not leak in. Writes ``experiments/results/overcooked_srpo_options/<layout>_
<screen>/`` (config, summary, metrics, learning curve), which ``experiments/report.py`` turns
into the options table of docs/results.md. Run directories go under ``--runs``.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# (importing the study also sets XLA's C++ log level before JAX loads, as `python -m jsrpo` does)
from overcooked_study import LAYOUTS, ROOT

HALF = 2_500_000  # half the 5e6 budget, the shaped reward's horizon
DEFAULTS = {"srpo.kl_penalty": "loss", "srpo.ippo_warmup": 0, "srpo.adv_warmup": 0,
            "srpo.adv_shaped_reward": 1}


def screen_overrides(screen: str) -> list[str]:
    """The ``jsrpo train`` overrides of a screen (see the module docstring)."""
    if screen in ("loss", "reward"):
        opts = {**DEFAULTS, "srpo.kl_penalty": screen, "tau": 1,
                "srpo.adv_warmup": f"[0, {HALF}, 0, {HALF}]",
                "srpo.adv_shaped_reward": "[1, 1, 0, 0]",
                "sweep.zip": "[[srpo.adv_warmup, srpo.adv_shaped_reward]]"}
    elif screen == "ippo_warmup":
        opts = {**DEFAULTS, "tau": "[0.3, 1]", "srpo.ippo_warmup": HALF}
    else:
        raise ValueError(f"screen: got {screen!r}; allowed: loss, reward, ippo_warmup")
    return [f"{k}={v}" for k, v in opts.items()]


SCREENS = ("loss", "reward", "ippo_warmup")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--screens", nargs="+", default=list(SCREENS), choices=SCREENS)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "srpo_options")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "experiments" / "results" / "overcooked_srpo_options")
    args = ap.parse_args(argv)
    from jsrpo.cli import main as jsrpo

    for layout in args.layouts:
        for screen in args.screens:
            dest = args.out / f"{layout}_{screen}"
            if (dest / "summary.json").exists():
                continue
            run = args.runs / f"{layout}_{screen}"
            print(f"[options] {layout} {screen}: training", flush=True)
            rc = jsrpo(["train", "--config",
                        str(ROOT / "configs" / "overcooked" / f"{layout}_srpo.yaml"),
                        "--out", str(run), "--overwrite", f"num_seeds={args.seeds}", "seed=0",
                        "checkpoint.every_updates=0", "checkpoint.snapshots=[]",
                        "log.progress=false"] + screen_overrides(screen))
            if rc != 0:
                raise SystemExit(f"{layout} {screen}: jsrpo train failed with exit code {rc}")
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("config.yaml", "summary.json", "metrics.jsonl", "learning_curve.png"):
                shutil.copy(run / name, dest / name)


if __name__ == "__main__":
    main()
