"""Fictitious Co-Play (Strouse et al., 2021) in two stages: partners first, then the FCP agent
against a pool of their policies at several skill levels.

``method: fcp`` without ``env.frozen`` is a staged run: stage 1 (``partner_config``) trains the
partners into ``RUN/partners`` with snapshots part-way; stage 2 (``agent_config``) is an ordinary
``fcp`` run in ``RUN`` whose ``env.frozen`` draws a partner from that pool and the seat it plays
each episode, so the agent learns both seats. The staged config is kept in ``RUN/stages.yaml``;
``config.yaml`` is stage 2's, as in every run directory.
"""
from __future__ import annotations

from pathlib import Path

import envs
from jsrpo.checkpoint import snapshot_steps
from jsrpo.config import Config, ConfigError, from_dict, to_dict

#: stage 1's run directory, inside the FCP run's
PARTNERS = "partners"


def check(cfg: Config) -> None:
    """Stage 2 plays the pool in every seat: the game's seats must look alike
    (``ConfigError`` naming ``method`` before stage 1 trains)."""
    differ = envs.seat_differences(cfg.env.name, cfg.env.base_kwargs)
    if differ:
        raise ConfigError(f"method: got 'fcp'; allowed: a game whose seats look alike (FCP meets "
                          f"its pool in every seat); {cfg.env.name} has {differ}")


def is_staged(cfg: Config) -> bool:
    """An FCP config that trains its own partners (no ``env.frozen`` given)."""
    return cfg.method == "fcp" and cfg.env.frozen is None


def partner_config(cfg: Config) -> Config:
    """Stage 1: the partners as a run of ``fcp.partner_method`` with ``fcp.num_partners`` seeds
    from ``fcp.partner_seed`` (apart from the agents' seeds, so no agent starts as a copy of
    its partner), ``fcp.partner_env_steps`` each, snapshots at ``fcp.snapshots``."""
    raw = to_dict(cfg)
    f = raw.pop("fcp")
    raw.update(method=f["partner_method"], num_seeds=f["num_partners"], seed=f["partner_seed"])
    raw["train"]["total_env_steps"] = f["partner_env_steps"]
    raw["checkpoint"]["snapshots"] = list(f["snapshots"])
    return from_dict(raw)


def pool(cfg: Config, partners_dir) -> list[str]:
    """The pool's policies (``env.frozen.policies``): every partner at each snapshot and at the
    end of stage 1."""
    return run_pool(partners_dir, partner_config(cfg).layout, cfg.fcp.snapshots)


def run_pool(partners_dir, layout, snapshots) -> list[str]:
    """Every member of the run ``partners_dir`` (trained with ``layout``) at each of the
    ``snapshots`` fractions of its training and at the end, as ``env.frozen.policies``."""
    path = str(Path(partners_dir).resolve())
    return [f"{path}@{u}" for u in snapshot_steps(layout, snapshots)] + [path]


def agent_config(cfg: Config, partners_dir) -> Config:
    """Stage 2: the FCP agents against the pool of ``partners_dir`` (stage 1's run), partner
    and seat drawn per episode with equal weights."""
    raw = to_dict(cfg)
    raw["env"]["frozen"] = {"seat": "each", "policies": pool(cfg, partners_dir)}
    return from_dict(raw)
