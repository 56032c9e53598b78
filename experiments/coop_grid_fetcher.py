"""Per member of a coop_grid run: team return with the held-out ``fetcher`` partner (fetches
onions, never delivers) in each seat, and each member's weaker hero across four held-out partners.

A hero that free-rides cannot deliver with the fetcher (team return about -5, move costs only);
this is the per-seed view behind ``tests/test_learning.py``. Usage:

    python experiments/coop_grid_fetcher.py RUN_DIR [--episodes 128]
"""
import argparse

import numpy as np

from jsrpo.crossplay import crossplay

PARTNERS = ["fetcher", "single_source:source=0", "single_source:source=1", "delivering"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=128)
    args = ap.parse_args()
    r = crossplay([args.run_dir], partners=PARTNERS, episodes=args.episodes, bootstrap_reps=100)
    in_seat1 = np.asarray(r["partners"]["partner_in_seat1"]["team_return"])  # [members, P]
    in_seat0 = np.asarray(r["partners"]["partner_in_seat0"]["team_return"]).T  # [members, P]
    weaker = np.minimum(in_seat1, in_seat0)
    print("partners:", ", ".join(PARTNERS))
    for k, m in enumerate(r["members"]):
        print(f"tau {m['tau']} seed {m['seed']}: fetcher in seat 1 {in_seat1[k, 0]:.1f}, "
              f"in seat 0 {in_seat0[k, 0]:.1f} | weaker hero per partner "
              f"{np.array2string(weaker[k], precision=1)} mean {weaker[k].mean():.1f}")


if __name__ == "__main__":
    main()
