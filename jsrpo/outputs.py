"""What training writes into its run directory besides checkpoints: config.yaml, the
metrics.jsonl rows (from the in-program callback), summary.json, the description of the saved
policies, and learning_curve.png. Files are written atomically (temp file + rename)."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Optional

import jax
import numpy as np
import yaml
from matplotlib.figure import Figure

import envs
from jsrpo.config import ENV_PREFIX, Config, to_dict
from jsrpo.equilibria import rqe
from jsrpo.files import atomic_write, json_safe, savefig, write_json
from jsrpo.frozen import FrozenSeats
from jsrpo.rundir import EnvSpec, MemberSpec, NetworkSpec, RunDir, RunMeta
from jsrpo.sweep import Member, SweepResult
from jsrpo.train import Trainer


def member_spec(cfg: Config, m: Member) -> MemberSpec:
    hyper = m.swept([k for k in cfg.swept() if k not in ("tau", "eps")])
    return MemberSpec(member=m.index, method=cfg.method, tau=m.tau, eps=m.eps, seed=m.seed,
                      hyper=hyper)


def member_record(cfg: Config, m: Member) -> dict:
    """The member's fields as they open every metrics row and summary row (the other swept
    hyper-parameters by their dotted keys)."""
    spec = member_spec(cfg, m)
    row = {k: v for k, v in dataclasses.asdict(spec).items() if k != "hyper"} | spec.hyper
    if cfg.method != "srpo":  # tau acts only through SRPO's adversaries: null for the others
        row["tau"] = None
    return row


def member_payoffs(cfg: Config, ms: list[Member], env):
    """Each member's payoff tensor ``[M, 2, A0, A1]`` when ``env`` (the run's) is a matrix game,
    else None: the game built with the member's own values of the swept env arguments."""
    if getattr(env, "payoffs", None) is None:
        return None
    swept = cfg.swept()
    if not any(k.startswith(ENV_PREFIX) for k in swept):
        return env.payoffs
    games: dict = {}
    out: list = []
    for m in ms:
        kwargs = cfg.env.member_kwargs(m.swept(swept))
        key = repr(sorted(kwargs.items()))
        if key not in games:
            games[key] = getattr(envs.make(cfg.env.name, **kwargs), "payoffs", None)
        out.append(games[key])
    return np.stack(out)


def run_meta(cfg: Config, trainer: Trainer, ms: list[Member]) -> RunMeta:
    """The description of the policies a run saves (``checkpoint/final_meta.json``)."""
    frozen = None if cfg.env.frozen is None else to_dict(cfg)["env"]["frozen"]
    return RunMeta(env=EnvSpec(name=cfg.env.name, kwargs=dict(cfg.env.kwargs), frozen=frozen),
                   network=NetworkSpec.of(trainer.network),
                   obs_shape=tuple(trainer.venv.obs_shape),
                   seat_id_in_obs=bool(trainer.venv.seat_id),
                   hero_seats=tuple(int(h) for h in trainer.hero_seats),
                   num_learners=trainer.num_learners,
                   members=tuple(member_spec(cfg, m) for m in ms),
                   deploy=deploy_of(trainer.venv.env))


def deploy_of(env) -> Optional[dict]:
    """How a run on ``env`` deploys in the game without its frozen seat (``RunMeta.deploy``):
    a run with one learning seat, in every seat when it met its pool in every seat (``seat:
    each``), else in the seat it learned."""
    if not isinstance(env, FrozenSeats) or env.num_agents != 1:
        return None
    seats = list(range(env.inner.num_agents)) if env.seat is None else [int(env.keep[0])]
    return {"num_seats": int(env.inner.num_agents), "seat_id_in_obs": bool(env.seat_onehot),
            "seats": seats}


class MetricsWriter:
    """Host side of the in-program callback: prints progress and appends metrics.jsonl rows."""

    def __init__(self, cfg: Config, ms: list[Member], path: Optional[Path], progress: bool,
                 extra_keys: tuple = (), trackers=None):
        self.cfg, self.members, self.path, self.progress = cfg, ms, path, progress
        self.trackers = trackers  # ``jsrpo.trackers.Trackers`` (or None): every row goes there too
        self.extra_keys = extra_keys  # contributions, and action_probs for one-shot games
        self.t_last: Optional[float] = None
        self.t_start: Optional[float] = None
        self.update_last = self.update_start = 0
        # Progress shows the team return per combination of swept values (seeds pooled).
        keys = list(cfg.swept())
        self.groups: dict = {}
        for i, m in enumerate(ms):
            label = ", ".join(f"{k.split('.')[-1]}={v:g}" for k, v in m.swept(keys).items())
            self.groups.setdefault(label, []).append(i)

    def start(self) -> None:
        self.t_start = self.t_last = time.perf_counter()
        self.update_last = self.update_start = 0

    def rows(self, update: int, metrics, evals) -> list[str]:
        """The metrics.jsonl lines of one logging period (one per member); also sent to the
        trackers."""
        dicts = self.row_dicts(update, metrics, evals)
        if self.trackers is not None:
            for i, row in enumerate(dicts):
                self.trackers.log(i, row)
        return [json.dumps(row) for row in dicts]

    def row_dicts(self, update: int, metrics, evals) -> list[dict]:
        """The rows of one logging period as JSON-safe mappings (one per member)."""
        steps_per_update = self.cfg.layout.env_steps_per_update
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
            rows.append(json_safe(row))
        return rows

    def rebuild(self, period_updates, metrics, evals) -> None:
        """Rewrite metrics.jsonl from the checkpointed history of a resumed run (``[P, M, ...]``
        arrays, ``period_updates [P]``): rows the file lost, or holds past the checkpoint, or
        holds torn by a kill, are replaced by exactly those the run wrote."""
        if len(period_updates):  # progress rates and ETA count from the restored update
            self.update_last = self.update_start = int(period_updates[-1])
        if self.path is None:
            return
        rows = []
        for p, update in enumerate(period_updates):
            rows += self.rows(int(update), jax.tree.map(lambda x: x[p], metrics),
                              jax.tree.map(lambda x: x[p], evals))
        atomic_write(self.path, "".join(r + "\n" for r in rows))

    def __call__(self, update, metrics, evals) -> None:
        update = int(update)
        now = time.perf_counter()
        steps_per_update = self.cfg.layout.env_steps_per_update
        rate = (update - self.update_last) * steps_per_update * len(self.members) / max(
            now - (self.t_last or now), 1e-9)
        self.t_last, self.update_last = now, update
        rows = self.rows(update, metrics, evals)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write("\n".join(rows) + "\n")
        if self.progress:
            total = self.cfg.layout.num_updates
            elapsed = now - (self.t_start or now)
            done = max(update - self.update_start, 1)
            eta = elapsed / done * (total - update)
            print(f"[jsrpo] update {update}/{total} | env steps/member "
                  f"{update * steps_per_update:,} | team return "
                  f"{self.team_text(np.asarray(evals['team_return']))} | {rate:,.0f} env steps/s"
                  f" | elapsed {_clock(elapsed)}, ETA {_clock(eta)}", flush=True)

    def team_text(self, team) -> str:
        """Mean team return per combination of swept values (all of them up to four, else the
        best and the worst), or over the seeds of a run that sweeps nothing."""
        means = {g: float(np.mean(team[idx])) for g, idx in self.groups.items()}
        if len(means) == 1:
            return (f"{np.mean(team):.3f} (min {np.min(team):.3f}, max {np.max(team):.3f})")
        if len(means) <= 4:
            return "; ".join(f"{g}: {v:.3f}" for g, v in means.items())
        best, worst = max(means, key=means.__getitem__), min(means, key=means.__getitem__)
        return (f"best {means[best]:.3f} ({best}), worst {means[worst]:.3f} ({worst}) "
                f"of {len(means)} settings")


def _clock(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``."""
    s = int(round(max(seconds, 0.0)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


#: distance to the nearest exact RQE (in probabilities) within which a member has converged.
CONVERGED = 0.03


def equilibrium_report(cfg: Config, ms: list[Member], payoffs, action_probs) -> list[dict]:
    """For one-shot matrix games, per member: how far the heroes' final strategies are from the
    equilibrium their method converges to (RQE at the member's tau for srpo, at tau 0, the
    logit QRE, for ippo and self-play; nothing for pure-adversarial or eps = 0).

    ``payoffs``: the game, ``[2, A0, A1]``, or each member's ``[M, 2, A0, A1]`` (a sweep over
    the game's cost). ``nearest_rqe_distance``: ``max_i max_a |x_i(a) - x*_i(a)|`` to the
    nearest exact RQE ``x*`` of the member's game (all of them found by ``equilibria.rqe``),
    and ``converged`` when it is at most ``CONVERGED``; ``rqe_distance``: the residual
    ``|x - QBR(x)|`` of the fixed point (small but not zero where equilibria are
    ill-conditioned, so ``converged`` uses the former).
    """
    payoffs = np.asarray(payoffs, np.float64)
    if payoffs.ndim == 3:
        payoffs = np.broadcast_to(payoffs, (len(ms),) + payoffs.shape)
    n0, n1 = payoffs.shape[2:]
    probs = np.asarray(action_probs, np.float64)
    x0 = probs[:, 0, :n0] / probs[:, 0, :n0].sum(-1, keepdims=True)
    x1 = probs[:, 1, :n1] / probs[:, 1, :n1].sum(-1, keepdims=True)
    taus = [m.tau if cfg.method == "srpo" else 0.0 for m in ms]
    solvable = [cfg.method != "pure_adversarial" and m.eps > 0 for m in ms]
    rows: list[dict[str, Any]] = [{"rqe_distance": None, "nearest_rqe": None,
                                   "nearest_rqe_distance": None, "converged": None} for _ in ms]
    games: dict = {}  # one solve per distinct game and (tau, eps)
    for i in range(len(ms)):
        games.setdefault(payoffs[i].tobytes(), []).append(i)
    with jax.enable_x64(True):
        residual = jax.jit(rqe.fixed_point_distance)
        for idx in games.values():
            game = payoffs[idx[0]]
            grid = sorted({(taus[i], ms[i].eps) for i in idx if solvable[i]})
            if not grid:
                continue
            found = dict(zip(grid, rqe.rqe_equilibria_grid(game, [g[0] for g in grid],
                                                           [g[1] for g in grid])))
            for i in idx:
                if not solvable[i]:
                    continue
                eqs = found[(taus[i], ms[i].eps)]
                dist = [max(np.abs(x0[i] - e.x0).max(), np.abs(x1[i] - e.x1).max())
                        for e in eqs]
                k = int(np.argmin(dist)) if dist else None
                rows[i] = {
                    "rqe_distance": float(residual(game, x0[i], x1[i], taus[i], ms[i].eps)),
                    "nearest_rqe": None if k is None else [eqs[k].x0.tolist(),
                                                           eqs[k].x1.tolist()],
                    "nearest_rqe_distance": None if k is None else float(dist[k]),
                    "converged": None if k is None else bool(dist[k] <= CONVERGED),
                }
    return rows


def summary(cfg: Config, res: SweepResult, extra_keys: tuple = (), action_names=None,
            payoffs=None) -> dict:
    """Per-member final results (from the final hero-pair evaluation) plus run totals;
    ``payoffs`` (a matrix game's, or each member's: see ``equilibrium_report``) adds each
    member's ``equilibrium_report``."""
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
    if payoffs is not None and "action_probs" in res.final:
        for row, eq in zip(rows, equilibrium_report(cfg, res.members, payoffs,
                                                    res.final["action_probs"])):
            row.update(eq)
    failed = {f.member.index: f for f in res.failures}
    for row in rows:  # a failed member's results are those of its last good parameters
        fail = failed.get(row["member"])
        row["failed"] = None if fail is None else {"update": fail.update,
                                                   "quantity": fail.quantity}
    total = res.env_steps * len(res.members)
    return json_safe({
        "method": cfg.method, "env": cfg.env.name, "members": rows,
        "failed_members": [f.describe() for f in res.failures],
        "num_members": len(res.members), "env_steps_per_member": res.env_steps,
        "compile_seconds": res.compile_seconds, "wall_seconds": res.run_seconds,
        "total_env_steps": total, "total_env_steps_per_second": total / res.run_seconds,
        "budget_note": ("SRPO full rollout per phase: twice IPPO's env steps per update"
                        if cfg.method in ("srpo", "pure_adversarial")
                        and cfg.srpo.full_rollout_per_phase else "equal interaction budget"),
    })


def plot_learning_curves(cfg: Config, res: SweepResult, path: Path) -> None:
    """Mean and min-max spread over seeds of the hero pair's team return, one line per tau/eps."""
    steps = res.period_updates * cfg.layout.env_steps_per_update
    team = res.evals["team_return"]  # [P, M]
    others = [k for k in cfg.swept() if k not in ("tau", "eps")]
    groups: dict = {}
    for i, m in enumerate(res.members):
        groups.setdefault((m.tau, m.eps, tuple(m.swept(others).items())), []).append(i)
    fig = Figure(figsize=(6.4, 4.2))  # no pyplot: nothing global changes, no window opens
    ax = fig.subplots()
    for (tau, eps, extra), idx in groups.items():
        y = team[:, idx]
        if cfg.method == "srpo":
            label = (f"ippo (srpo tau=0), eps={eps:g}" if tau == 0
                     else f"srpo tau={tau:g}, eps={eps:g}")
        else:
            label = f"{cfg.method}, eps={eps:g}"
        label += "".join(f", {k.split('.')[-1]}={v:g}" for k, v in extra)
        line, = ax.plot(steps, y.mean(1), label=f"{label} (n={len(idx)})")
        ax.fill_between(steps, y.min(1), y.max(1), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps per member")
    ax.set_ylabel("team return (hero pair, mean of seats)")
    ax.set_title(f"{cfg.env.name}: mean and min-max over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    savefig(fig, path)


def config_text(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def write_config(run_dir, cfg: Config) -> None:
    """``config.yaml``, and with periodic checkpoints ``checkpoint/config.yaml``: the config the
    checkpoints are trained with, which ``--resume`` holds ``config.yaml`` to."""
    rd = RunDir(run_dir)
    atomic_write(rd.config, config_text(cfg))
    if cfg.checkpoint.every_updates or cfg.checkpoint.snapshots:
        rd.checkpoint_dir.mkdir(exist_ok=True)
        atomic_write(rd.checkpoint_config, config_text(cfg))


def write_summary(run_dir, data: dict) -> None:
    write_json(RunDir(run_dir).summary, data)
