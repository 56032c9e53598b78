"""What a run leaves behind: config.yaml, metrics.jsonl, summary.json, the orbax checkpoint of
every member's learners, and learning_curve.png. Files are written atomically (temp + rename)."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import yaml

from jsrpo.config import Config, to_dict
from jsrpo.sweep import Member, SweepResult


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename,
    on failure it is removed, so readers never see a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _json_safe(x):
    """Arrays to lists, non-finite floats to None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "__array__"):
        return _json_safe(np.asarray(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def prepare_run_dir(out: Path, overwrite: bool) -> Path:
    """Create the run directory; refuse to reuse another run's directory unless asked."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"--out {out}: directory exists and is not empty (another run's results?); "
            "choose a new --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out


def member_record(cfg: Config, m: Member) -> dict:
    return {"member": m.index, "method": cfg.method, "tau": m.tau, "eps": m.eps, "seed": m.seed}


class MetricsWriter:
    """Host side of the in-program callback: prints progress and appends metrics.jsonl rows."""

    def __init__(self, cfg: Config, ms: list[Member], path: Optional[Path], progress: bool,
                 extra_keys: tuple = ()):
        self.cfg, self.members, self.path, self.progress = cfg, ms, path, progress
        self.extra_keys = extra_keys  # contributions, and action_probs for one-shot games
        self.t_last = None
        self.update_last = 0

    def start(self) -> None:
        self.t_last, self.update_last = time.perf_counter(), 0

    def __call__(self, update, metrics, evals) -> None:
        update = int(update)
        now = time.perf_counter()
        steps_per_update = self.cfg.env_steps_per_update
        rate = (update - self.update_last) * steps_per_update * len(self.members) / max(
            now - (self.t_last or now), 1e-9)
        self.t_last, self.update_last = now, update
        metrics = jax.tree.map(np.asarray, metrics)
        evals = jax.tree.map(np.asarray, evals)
        rows = []
        for i, m in enumerate(self.members):
            row = member_record(self.cfg, m) | {
                "update": update, "env_steps": update * steps_per_update,
                "return": evals["return"][i], "team_return": evals["team_return"][i],
                "private_cost": evals["private_cost"][i],
                "free_riding": evals["free_riding"][i],
            }
            for k in self.extra_keys:
                row[k] = evals[k][i]
            row.update({k: metrics[k][i] for k in metrics})  # per-stream training metrics
            rows.append(json.dumps(_json_safe(row)))
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write("\n".join(rows) + "\n")
        if self.progress:
            team = evals["team_return"]
            print(f"[jsrpo] update {update}/{self.cfg.num_updates} | env steps/member "
                  f"{update * steps_per_update:,} | team return {np.mean(team):.3f} "
                  f"(min {np.min(team):.3f}, max {np.max(team):.3f}) | {rate:,.0f} env steps/s",
                  flush=True)


def summary(cfg: Config, res: SweepResult, extra_keys: tuple = (), action_names=None) -> dict:
    """Per-member final results (from the final hero-pair evaluation) plus run totals."""
    rows = []
    for i, m in enumerate(res.members):
        f = {k: v[i] for k, v in res.final.items()}
        row = member_record(cfg, m) | {
            "return": f["return"], "team_return": f["team_return"],
            "private_cost": f["private_cost"], "free_riding": f["free_riding"],
            "eval_episodes": f["episodes"],
            "env_steps": res.env_steps,
            "wall_seconds": res.run_seconds,
            "env_steps_per_second": res.env_steps / res.run_seconds,
        }
        for k in extra_keys:
            row[k] = f[k]
        if "action_probs" in f and action_names:
            row["action_names"] = list(action_names)
        rows.append(row)
    failed = {f.member.index: f for f in res.failures}
    for row in rows:  # a failed member's results are those of its last good parameters
        f = failed.get(row["member"])
        row["failed"] = None if f is None else {"update": f.update, "quantity": f.quantity}
    total = res.env_steps * len(res.members)
    return _json_safe({
        "method": cfg.method, "env": cfg.env.name, "members": rows,
        "failed_members": [f.describe() for f in res.failures],
        "num_members": len(res.members), "env_steps_per_member": res.env_steps,
        "compile_seconds": res.compile_seconds, "wall_seconds": res.run_seconds,
        "total_env_steps": total, "total_env_steps_per_second": total / res.run_seconds,
        "budget_note": ("SRPO full rollout per phase: twice IPPO's env steps per update"
                        if cfg.method in ("srpo", "pure_adversarial")
                        and cfg.srpo.full_rollout_per_phase else "equal interaction budget"),
    })


def save_checkpoint(run_dir: Path, cfg: Config, trainer, res: SweepResult) -> Path:
    """Final learner params of every member with orbax, plus what is needed to rebuild them."""
    import orbax.checkpoint as ocp

    path = (Path(run_dir) / "checkpoint" / "final").absolute()
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path, {"params": res.states.params}, force=True)
    ckpt.wait_until_finished()
    from jsrpo import distributed
    if not distributed.is_main():  # every process saves its shards; one writes the rest
        return path
    net = trainer.network
    meta = {
        "network": {"num_actions": net.num_actions, "obs_ndim": net.obs_ndim,
                    "hidden_sizes": list(net.hidden_sizes), "activation": net.activation,
                    "kind": net.kind},
        "obs_shape": list(trainer.venv.obs_shape),
        "seat_id_in_obs": trainer.venv.seat_id,  # self-play appends a one-hot seat id
        "env": {"name": cfg.env.name, "kwargs": cfg.env.kwargs},
        "learners": {"hero_pair": list(trainer.hero_pair), "num_learners": trainer.num_learners},
        "members": [member_record(cfg, m) for m in res.members],
        "params_layout": "params[member, learner, ...]",
    }
    atomic_write(path.parent / "final_meta.json", json.dumps(_json_safe(meta), indent=2))
    return path


def plot_learning_curves(cfg: Config, res: SweepResult, path: Path) -> None:
    """Mean and min-max spread over seeds of the hero pair's team return, one line per tau/eps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = res.period_updates * cfg.env_steps_per_update
    team = res.evals["team_return"]  # [P, M]
    groups: dict = {}
    for i, m in enumerate(res.members):
        groups.setdefault((m.tau, m.eps), []).append(i)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (tau, eps), idx in groups.items():
        y = team[:, idx]
        if cfg.method == "srpo":
            label = f"ippo (srpo tau=0), eps={eps:g}" if tau == 0 else f"srpo tau={tau:g}, eps={eps:g}"
        else:
            label = f"{cfg.method}, eps={eps:g}"
        line, = ax.plot(steps, y.mean(1), label=f"{label} (n={len(idx)})")
        ax.fill_between(steps, y.min(1), y.max(1), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps per member")
    ax.set_ylabel("team return (hero pair, mean of seats)")
    ax.set_title(f"{cfg.env.name}: mean and min-max over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_config(run_dir: Path, cfg: Config) -> None:
    atomic_write(Path(run_dir) / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))


def write_summary(run_dir: Path, data: dict) -> None:
    atomic_write(Path(run_dir) / "summary.json", json.dumps(data, indent=2))
