"""Per member of a coop_grid run: team return with the held-out ``fetcher`` partner (fetches
onions, never delivers) in each seat, and each member's weaker hero across four held-out partners.

A hero that free-rides cannot deliver with the fetcher (team return about -5, move costs only);
this is the per-seed view behind ``tests/test_learning.py``. Usage:

    python experiments/coop_grid_fetcher.py RUN_DIR [--episodes 128] [--out FILE.json]

Prints one line per member and, with ``--out``, writes every number as JSON: per member
(tau, eps, seed) the team return with each partner in seat 1 (the run's seat-0 hero plays) and
in seat 0 (the seat-1 hero plays), each hero's deliveries with the partner, the weaker hero per
partner (the lower of the two team returns) and the run's own final evaluation of the hero pair
(``summary.json``: team return, private cost per seat, free-riding degree).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from jsrpo.crossplay import crossplay

PARTNERS = ["fetcher", "single_source:source=0", "single_source:source=1", "delivering"]


def code_commit() -> str:
    """Short commit of the jsrpo code that runs (``unknown`` without git or a repository);
    ``-dirty`` when jsrpo/, envs/ or configs/ differ from it."""
    import jsrpo

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False,
                             capture_output=True, text=True, timeout=10,
                             cwd=Path(jsrpo.__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jsrpo", "envs", "configs"],
                               check=False, capture_output=True, text=True, timeout=10,
                               cwd=Path(jsrpo.__file__).resolve().parent.parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0 or not out.stdout.strip():
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _f(x) -> float:
    return round(float(x), 4)


def evaluate(run_dir: str, episodes: int) -> dict:
    r = crossplay([run_dir], partners=PARTNERS, episodes=episodes, bootstrap_reps=100)
    p1, p0 = r["partners"]["partner_in_seat1"], r["partners"]["partner_in_seat0"]
    in_seat1 = np.asarray(p1["team_return"])  # [members, P]: the seat-0 hero plays
    in_seat0 = np.asarray(p0["team_return"]).T  # [members, P]: the seat-1 hero plays
    # deliveries per seat: partner_in_seat1 [members, P, 2] (hero is seat 0),
    # partner_in_seat0 [P, members, 2] (hero is seat 1)
    del1 = np.asarray(p1["contributions"]["deliveries"])[..., 0]
    del0 = np.asarray(p0["contributions"]["deliveries"]).transpose(1, 0, 2)[..., 1]
    weaker = np.minimum(in_seat1, in_seat0)
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    own = {m["member"]: m for m in summary["members"]}
    labels = list(r["partners"]["labels"])
    members = []
    for k, m in enumerate(r["members"]):
        s = own.get(m["member"], {})
        members.append({
            "method": m["method"], "tau": m["tau"], "eps": m["eps"], "seed": m["seed"],
            "env_steps": s.get("env_steps"),
            "own_pair": {"team_return": s.get("team_return"), "return": s.get("return"),
                         "private_cost": s.get("private_cost"),
                         "free_riding": s.get("free_riding")},
            "partner_in_seat1": {lab: _f(in_seat1[k, j]) for j, lab in enumerate(labels)},
            "partner_in_seat0": {lab: _f(in_seat0[k, j]) for j, lab in enumerate(labels)},
            "hero_deliveries_partner_in_seat1": {lab: _f(del1[k, j])
                                                 for j, lab in enumerate(labels)},
            "hero_deliveries_partner_in_seat0": {lab: _f(del0[k, j])
                                                 for j, lab in enumerate(labels)},
            "weaker_hero": {lab: _f(weaker[k, j]) for j, lab in enumerate(labels)},
            "weaker_hero_mean": _f(weaker[k].mean()),
        })
    return {
        "what": "team return (mean of both seats' returns) of each member's hero with held-out "
                "partners; partner_in_seat1: the seat-0 hero plays, partner_in_seat0: the "
                "seat-1 hero plays; weaker_hero: the lower of the two per partner",
        "run_dir": str(run_dir), "env": r["env"], "episodes": episodes, "seed": r["seed"],
        "partners": labels, "partner_specs": PARTNERS,
        "env_steps_per_member": summary.get("env_steps_per_member"),
        "command": "python experiments/coop_grid_fetcher.py " + " ".join(sys.argv[1:]),
        "code_commit": code_commit(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "members": members,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=128)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    res = evaluate(args.run_dir, args.episodes)
    print("partners:", ", ".join(res["partners"]))
    for m in res["members"]:
        w = ", ".join(f"{v:.1f}" for v in m["weaker_hero"].values())
        print(f"tau {m['tau']:g} seed {m['seed']}: fetcher in seat 1 "
              f"{m['partner_in_seat1']['fetcher']:.1f}, in seat 0 "
              f"{m['partner_in_seat0']['fetcher']:.1f} | weaker hero per partner [{w}] "
              f"mean {m['weaker_hero_mean']:.1f} | own pair free-riding "
              f"{m['own_pair']['free_riding']:.2f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
