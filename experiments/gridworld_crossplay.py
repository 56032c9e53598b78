"""The paper's grid-world result: IPPO vs SRPO (tau 10, eps 0.1, paper budget of 2e6 env steps
per member) on coop_grid, each method's seeds trained in ONE compiled program, then the pooled
cross-play matrix with held-out scripted partners, the TP/CP table, free-riding, and a tau
ablation (several taus, fewer seeds, one program).

    python experiments/gridworld_crossplay.py [--seeds 16] [--ablation-seeds 4] [--out DIR]

Writes into --out (default experiments/results/gridworld): one run directory per method,
crossplay/ (crossplay.json, crossplay_heatmap.png, tp_cp.png), ablation/ and its crossplay,
results.md (the tables) and timing.json (wall time of every stage).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jsrpo.cli import main as jsrpo

ROOT = Path(__file__).resolve().parent.parent
PARTNERS = "stay,random,fetcher,single_source:source=0,single_source:source=1,delivering"


def stage(name, timing, argv):
    t0 = time.perf_counter()
    rc = jsrpo(argv)
    timing[name] = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{name} failed with exit code {rc}")


def summary_rows(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "summary.json").read_text())["members"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--ablation-seeds", type=int, default=4)
    ap.add_argument("--ablation-taus", default="0.1,1,10,100")
    ap.add_argument("--ablation-steps", type=int, default=1_000_000)
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "gridworld")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    timing: dict = {}
    t_all = time.perf_counter()
    runs = {}
    for method in ("ippo", "srpo"):
        runs[method] = out / method
        stage(f"train_{method}", timing, [
            "train", "--config", str(ROOT / "configs" / f"coop_grid_{method}.yaml"),
            "--out", str(runs[method]), "--overwrite", f"num_seeds={args.seeds}",
            "log.progress=false"])
    stage("crossplay", timing, ["crossplay", str(runs["ippo"]), str(runs["srpo"]),
                                "--episodes", str(args.episodes), "--partners", PARTNERS,
                                "--out", str(out / "crossplay")])
    taus = "[" + args.ablation_taus + "]"
    stage("train_ablation", timing, [
        "train", "--config", str(ROOT / "configs" / "coop_grid_srpo.yaml"),
        "--out", str(out / "ablation"), "--overwrite", f"tau={taus}",
        f"num_seeds={args.ablation_seeds}", f"train.total_env_steps={args.ablation_steps}",
        "log.progress=false"])
    stage("crossplay_ablation", timing, ["crossplay", str(out / "ablation"),
                                         "--episodes", str(args.episodes),
                                         "--out", str(out / "ablation" / "crossplay")])
    timing["total"] = time.perf_counter() - t_all
    (out / "timing.json").write_text(json.dumps(timing, indent=2))

    xp = json.loads((out / "crossplay" / "crossplay.json").read_text())
    lines = ["| method | TP (IQM [95% CI]) | CP (IQM [95% CI]) | free-riding (mean over seeds) | "
             "private cost seat 0 / seat 1 |", "|---|---|---|---|---|"]
    for method, run in runs.items():
        rows = summary_rows(run)
        label = method if method == "ippo" else "srpo tau=10"
        s = xp["summary"]["team_return"]["methods"][label]
        fr = np.mean([r["free_riding"] for r in rows])
        c = np.mean([r["private_cost"] for r in rows], axis=0)
        lines.append(f"| {label} | "
                     f"{s['tp']['iqm']:.1f} [{s['tp']['ci'][0]:.1f}, {s['tp']['ci'][1]:.1f}] | "
                     f"{s['cp']['iqm']:.1f} [{s['cp']['ci'][0]:.1f}, {s['cp']['ci'][1]:.1f}] | "
                     f"{fr:.2f} | {c[0]:.2f} / {c[1]:.2f} |")
    ab = json.loads((out / "ablation" / "crossplay" / "crossplay.json").read_text())
    lines += ["", "Tau ablation (SRPO, {} seeds, {:.0e} env steps):".format(
        args.ablation_seeds, args.ablation_steps), "",
        "| tau | TP | CP | free-riding |", "|---|---|---|---|"]
    rows = summary_rows(out / "ablation")
    for label, s in ab["summary"]["team_return"]["methods"].items():
        tau = float(label.split("tau=")[1].split()[0])
        fr = np.mean([r["free_riding"] for r in rows if r["tau"] == tau])
        lines.append(f"| {tau:g} | {s['tp']['iqm']:.1f} | {s['cp']['iqm']:.1f} | {fr:.2f} |")
    lines += ["", f"Wall time: {timing['total'] / 60:.1f} min "
                  f"({json.dumps({k: round(v) for k, v in timing.items()})})"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
