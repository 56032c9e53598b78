"""A PSRO run's populations as policies: where each stage's run directory is, each seat's
policies of every member, and the final meta-strategy mixtures that deploy the run (``load``),
which cross-play pools with any other run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from jsrpo import partners
from jsrpo.agents import Agent, mixture_agent
from jsrpo.checkpoint import load_run
from jsrpo.config import Config
from jsrpo.config import load as load_config
from jsrpo.rundir import EnvSpec, MemberSpec

#: the staged config of a run in stages (FCP, PSRO), in its run directory
STAGES = "stages.yaml"


def stage_dir(run_dir, k: int, seat: Optional[int] = None) -> Path:
    """``iter_000`` (k = 0), ``iter_k/seat_s``, or ``iter_k`` (one population: no seat)."""
    base = Path(run_dir) / f"iter_{k:03d}"
    return base if seat is None else base / f"seat_{seat}"


def num_initial(cfg: Config) -> int:
    """Policies each population starts with: the scripted ``psro.initial``, or one trained."""
    return max(len(cfg.psro.initial), 1)


def iteration_of(cfg: Config, j: int) -> int:
    """The PSRO iteration that added population index ``j`` (0: the start)."""
    return max(j - num_initial(cfg) + 1, 0)


def policies(cfg: Config, run_dir, j: int, seat: int) -> list[Agent]:
    """Seat ``seat``'s policy ``j`` of every member (the first ``num_initial``: the start)."""
    if j < len(cfg.psro.initial):
        agent = partners.parse(cfg.env.name, cfg.psro.initial[j], seat, cfg.env.base_kwargs)
        return [agent] * cfg.num_seeds
    k = iteration_of(cfg, j)
    one = cfg.psro.populations == 1  # one population: iteration k's policy plays every seat
    d = stage_dir(run_dir, 0) if k == 0 else stage_dir(run_dir, k, None if one else seat)
    ckpt = load_run(d)
    return [ckpt.hero(m, seat) for m in range(len(ckpt.members))]


def is_psro_run(run_dir) -> bool:
    """A PSRO run directory (its staged config says ``method: psro``)."""
    path = Path(run_dir) / STAGES
    return path.is_file() and not (Path(run_dir) / "config.yaml").is_file() \
        and "method: psro" in path.read_text()


@dataclass(frozen=True)
class _Meta:
    """What cross-play reads of a run's description, for a PSRO run."""

    env: EnvSpec
    members: tuple
    num_seats: int = 2
    plays_every_seat: bool = True

    def member_env(self, member: int) -> EnvSpec:
        return self.env


@dataclass(frozen=True)
class PSROPolicies:
    """A finished PSRO run as deployed policies: member m's hero of seat s is its population's
    final meta-strategy mixture (``mixture_agent``), like ``checkpoint.RunCheckpoint``."""

    run_dir: Path
    meta: _Meta
    heroes: tuple  # [M][2] Agents

    @property
    def members(self) -> tuple:
        return self.meta.members

    def hero(self, member: int, seat: int, step: Optional[int] = None) -> Agent:
        return self.heroes[member][seat]


def method_name(cfg: Config) -> str:
    """``psro-nash``, ``psro-rae0.02`` (gamma), ``psro-rqe-neutral`` (risk-neutral oracle), ...:
    how reports group a PSRO run."""
    p = cfg.psro
    risky = p.meta_solver in ("rae", "rqe")
    return (f"psro-{p.meta_solver}" + (f"{p.gamma:g}" if p.meta_solver == "rae" else "")
            + ("-neutral" if risky and p.oracle == "neutral" else ""))


def load(run_dir) -> PSROPolicies:
    """A finished PSRO run's final mixtures (``FileNotFoundError`` when it has not finished)."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / STAGES)
    path = run_dir / "psro.json"
    raw = json.loads(path.read_text()) if path.is_file() else {}
    if "final_meta_strategies" not in raw:
        raise FileNotFoundError(f"{run_dir}: a PSRO run that has not finished (no final "
                                f"meta-strategies in {path}); resume it with jsrpo train "
                                f"--resume {run_dir}")
    final = raw["final_meta_strategies"]  # [M][2][S]
    S = len(final[0][0])
    pops = [[policies(cfg, run_dir, j, s) for j in range(S)] for s in (0, 1)]
    method = method_name(cfg)
    members, heroes = [], []
    for m in range(cfg.num_seeds):
        spec = MemberSpec(member=m, method=method, tau=0.0, eps=float(cfg.eps),  # type: ignore
                          seed=cfg.seed + m)
        members.append(spec)
        heroes.append(tuple(mixture_agent(spec.label(s), [pops[s][j][m] for j in range(S)],
                                          final[m][s]) for s in (0, 1)))
    env = EnvSpec(name=cfg.env.name, kwargs=dict(cfg.env.kwargs))
    return PSROPolicies(run_dir=run_dir, meta=_Meta(env=env, members=tuple(members)),
                        heroes=tuple(heroes))
