"""Population methods against SRPO: IPPO, SRPO, Fictitious Co-Play and PSRO (uniform and rqe
meta-solvers) under the same interaction budget per agent, cross-played together and with the
held-out scripted partners.

    python experiments/population_crossplay.py [--env coop_grid|cramped_room] [--list]

``--env coop_grid`` (default): the reference grid world at the paper's budget of 2e6 env steps
per agent, 8 seeds each. Resumable pieces (an interrupted run resumes from its checkpoints, a
staged one from its stage):

- ``ippo``, ``srpo``: ``configs/coop_grid_<method>.yaml``;
- ``fcp``: ``configs/coop_grid_fcp.yaml`` (8 self-play partners of 2e6 env steps kept at 10%,
  50% and the end, then the agents against that pool: 2e6 env steps per agent plus 2e6 per
  partner);
- ``psro_uniform``, ``psro_rqe``, ``psro_rqe_risk_averse``: ``configs/coop_grid_psro.yaml``
  (4 iterations of a best response per seat, 2.5e5 env steps each: 2e6 per seed); the rqe
  meta-solver with risk-neutral best responses and with its own oracle (the entropic risk over
  the opponent mixture); each seed deploys as its final meta-strategy mixtures;
- ``crossplay``: every method pooled (CP across methods is each method's agents with the
  others', whose training they never saw) and the scripted partners.

``--env cramped_room``: Overcooked's cramped_room with ``configs/overcooked/cramped_room_fast.yaml``
(its hyper-parameters and 1.5e6 env steps per agent, 4 seeds) and its method set as overrides:
FCP with 4 self-play partners of 1.5e6 env steps (a pool of 12), PSRO with 4 iterations of
1.875e5 env steps per best response (1.5e6 per seed); the rqe meta-solver at meta_tau 0.05
(the scale of a soup's 20 points) with its own oracle.

Run directories go under ``--runs`` (default runs/populations[_cramped_room]), summaries and
cross-play under ``--out`` (default experiments/results/populations[_cramped_room]); wall time
per piece in ``timing.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _pieces import Piece, jsrpo_command, list_or_run, piece_args, train

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
#: the held-out scripted partners per setting
PARTNERS = {
    "coop_grid": "stay,random,fetcher,single_source:source=0,single_source:source=1,delivering",
    "cramped_room": "stay,random,onion,dish,onion:epsilon=0.2,dish:epsilon=0.2",
}
FAST = "overcooked/cramped_room_fast.yaml"
PSRO_FAST = ["method=psro", "psro.iterations=4", "train.total_env_steps=187500",
             "psro.eval_episodes=64"]
#: setting -> piece -> (config under configs/, overrides, staged)
SETTINGS = {
    "coop_grid": {
        "ippo": ("coop_grid_ippo.yaml", [], False),
        "srpo": ("coop_grid_srpo.yaml", [], False),
        "fcp": ("coop_grid_fcp.yaml", [], True),
        "psro_uniform": ("coop_grid_psro.yaml", ["psro.meta_solver=uniform"], True),
        "psro_rqe": ("coop_grid_psro.yaml", ["psro.meta_solver=rqe", "psro.oracle=neutral"],
                     True),
        "psro_rqe_risk_averse": ("coop_grid_psro.yaml", ["psro.meta_solver=rqe"], True),
    },
    "cramped_room": {
        "ippo": (FAST, [], False),
        "srpo": (FAST, ["method=srpo"], False),
        "fcp": (FAST, ["method=fcp", "fcp.partner_method=self_play", "fcp.num_partners=4",
                       "fcp.partner_env_steps=1500000", "fcp.snapshots=[0.1, 0.5]",
                       "fcp.partner_seed=100"], True),
        "psro_uniform": (FAST, PSRO_FAST + ["psro.meta_solver=uniform"], True),
        "psro_rqe_risk_averse": (FAST, PSRO_FAST + ["psro.meta_solver=rqe",
                                                    "psro.meta_tau=0.05"], True),
    },
}


def staged_train(run_dir: Path, config: Path, overrides: list[str]) -> None:
    """A staged run (FCP, PSRO): resumed where it stopped, or started."""
    if (run_dir / "stages.yaml").exists():
        jsrpo_command(["train", "--resume", str(run_dir)], f"resume {run_dir}")
    else:
        jsrpo_command(["train", "--config", str(config), "--out", str(run_dir), "--overwrite",
                       "log.progress=false"] + overrides, f"train {run_dir}")


def keep_result(run_dir: Path, out: Path, name: str) -> None:
    """The run's summary (PSRO: its meta-game file) in the results directory."""
    out.mkdir(parents=True, exist_ok=True)
    if (run_dir / "summary.json").exists():
        shutil.copy(run_dir / "summary.json", out / f"{name}_summary.json")
        if (run_dir / "partners" / "summary.json").exists():
            shutil.copy(run_dir / "partners" / "summary.json",
                        out / f"{name}_partners_summary.json")
    else:
        shutil.copy(run_dir / "psro.json", out / f"{name}_psro.json")
        shutil.copy(run_dir / "meta_game.png", out / f"{name}_meta_game.png")


def done(out: Path, name: str) -> bool:
    return (out / f"{name}_summary.json").exists() or (out / f"{name}_psro.json").exists()


def pieces(args) -> list[Piece]:
    runs, out = args.runs.resolve(), args.out
    METHODS = SETTINGS[args.env]
    todo = []
    for name, (cfg, overrides, staged) in METHODS.items():
        def run(name=name, cfg=cfg, overrides=overrides, staged=staged):
            (staged_train if staged else train)(runs / name, ROOT / "configs" / cfg,
                                                overrides + args.override)
            keep_result(runs / name, out, name)
        todo.append(Piece(name, lambda name=name: done(out, name), lambda: True, run))

    def crossplay():
        jsrpo_command(["crossplay", *[str(runs / m) for m in METHODS], "--partners",
                       PARTNERS[args.env],
                       "--episodes", str(args.episodes), "--out", str(out / "crossplay")],
                      "crossplay")
        xp = json.loads((out / "crossplay" / "crossplay.json").read_text())
        print(json.dumps(xp["summary"]["team_return"]["methods"], indent=1)[:2000])
    def crossplay_done() -> bool:  # and made with every method's runs
        path = out / "crossplay" / "crossplay.json"
        return path.exists() and (json.loads(path.read_text())["runs"]
                                  == [str(runs / m) for m in METHODS])
    todo.append(Piece("crossplay", crossplay_done,
                      lambda: all(done(out, m) for m in METHODS), crossplay))
    return todo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=128, help="cross-play episodes per pair")
    ap.add_argument("--env", choices=sorted(SETTINGS), default="coop_grid")
    env = ap.parse_known_args()[0].env
    tail = "" if env == "coop_grid" else f"_{env}"
    piece_args(ap, ROOT / "runs" / f"populations{tail}",
               ROOT / "experiments" / "results" / f"populations{tail}")
    args = ap.parse_args()
    list_or_run(pieces(args), args, "populations")


if __name__ == "__main__":
    main()
