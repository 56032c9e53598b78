"""``jsrpo report``: the members of one or more runs ranked by a metric, seeds pooled per
setting (IQM with a bootstrap interval), and the best setting as a config ``jsrpo train`` reads.

A *setting* is a run's config with one value for every swept key; its members differ only in
the seed. The metric is a ``summary.json`` member field (final ``team_return`` by default), or
``crossplay`` when the run directory has a ``crossplay.json``: a member's mean team return with
every other pooled member's heroes (both seat orders), the generalisation SRPO aims at.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from jsrpo import config as config_mod
from jsrpo import metrics
from jsrpo.rundir import RunDir

#: fields of a summary member row that identify it rather than measure it.
IDENTITY = ("member", "method", "seed", "env_steps", "action_names", "failed")


def _crossplay_scores(run_dir: Path) -> dict[int, float]:
    """Member index -> mean team return with the other members of its own run directory's
    crossplay.json pool (off-diagonal, both seat orders)."""
    data = json.loads((run_dir / "crossplay.json").read_text())
    tr = np.asarray(data["team_return"], np.float64)
    mine = [i for i, m in enumerate(data["members"])
            if Path(m["run"]).resolve() == run_dir.resolve()]
    out = {}
    for i in mine:
        others = [j for j in range(len(tr)) if j != i]
        out[int(data["members"][i]["member"])] = float(
            np.mean(np.concatenate([tr[i, others], tr[others, i]])))
    return out


def rank(run_dirs: Sequence, metric: str = "team_return", higher: bool = True,
         reps: int = 2000) -> dict:
    """Every setting of the runs, best first: ``{"metric", "settings": [{run, values, seeds,
    scores, iqm, ci, mean}], "runs"}``."""
    settings: dict = {}
    for d in map(Path, run_dirs):
        rd = RunDir(d)
        if not rd.summary.exists():
            raise ValueError(f"RUN_DIR: {d} has no summary.json (not a finished jsrpo run)")
        cfg = config_mod.load(rd.config)
        members = json.loads(rd.summary.read_text())["members"]
        swept = list(cfg.swept())
        if metric == "crossplay":
            if not (d / "crossplay.json").exists():
                raise ValueError(f"--metric crossplay: {d} has no crossplay.json (run jsrpo "
                                 "crossplay RUN_DIR first)")
            scores = _crossplay_scores(d)
        else:
            known = sorted(k for k, v in members[0].items()
                           if k not in IDENTITY and isinstance(v, (int, float)))
            if metric not in members[0]:
                raise ValueError(f"--metric: got {metric!r}; allowed: crossplay, "
                                 + ", ".join(known))
            scores = {m["member"]: m[metric] for m in members}
        for m in members:
            values = {k: m.get(k, cfg.values(k)[0]) for k in swept}
            key = (str(d), json.dumps(values, sort_keys=True))
            s = settings.setdefault(key, {"run": str(d), "method": cfg.method, "values": values,
                                          "seeds": [], "scores": []})
            s["seeds"].append(m["seed"])
            score = scores.get(m["member"])
            s["scores"].append(np.nan if score is None else float(score))
    rows = []
    for s in settings.values():
        desc = metrics.describe(np.asarray(s["scores"]), reps=reps)
        rows.append(s | {"iqm": desc["iqm"], "ci": desc["ci"], "mean": desc["mean"],
                         "n": desc["n"]})
    sign = -1.0 if higher else 1.0
    rows.sort(key=lambda r: sign * (r["iqm"] if np.isfinite(r["iqm"]) else -np.inf * sign))
    return {"metric": metric, "higher_is_better": higher, "settings": rows,
            "runs": [str(d) for d in run_dirs]}


def best_config(result: dict) -> config_mod.Config:
    """The best setting's run config with its swept values as constants (no sweep section):
    one setting, its seeds as in the run."""
    best = result["settings"][0]
    raw = config_mod.to_dict(config_mod.load(RunDir(best["run"]).config))
    raw.pop("sweep", None)
    for key, value in best["values"].items():
        config_mod.set_value(raw, key, value)
    return config_mod.from_dict(raw)


def lines(result: dict, top: int = 20) -> list[str]:
    """The ranked table as text."""
    out = [f"settings ranked by {result['metric']} "
           f"({'higher' if result['higher_is_better'] else 'lower'} is better; IQM over seeds "
           "with a 95% bootstrap interval):"]
    for i, r in enumerate(result["settings"][:top]):
        vals = ", ".join(f"{k}={v:g}" for k, v in r["values"].items()) or "(no swept values)"
        out.append(f"{i + 1:3d}. {r['iqm']:9.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]  "
                   f"n={r['n']}  {r['method']} {vals}  ({r['run']})")
    if len(result["settings"]) > top:
        out.append(f"     ... {len(result['settings']) - top} more in report.json")
    return out
