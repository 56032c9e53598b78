"""Environments on one contract (see ``envs.base``), made by name with ``envs.make``."""
from __future__ import annotations

import difflib
import inspect
from typing import Callable, Dict

from envs.base import ParamEnv
from envs import coop_grid, matrix_games, overcooked

_REGISTRY: Dict[str, Callable[..., ParamEnv]] = {
    "collab_defect": matrix_games.make_collab_defect,
    "stag_hunt": matrix_games.make_stag_hunt,
    "car_overtake": matrix_games.make_car_overtake,
    "coordination": matrix_games.make_coordination,
    "bimatrix": matrix_games.make_bimatrix,
    "coop_grid": coop_grid.make_coop_grid,
    "overcooked": overcooked.make_overcooked,
    "overcooked_v2": overcooked.make_overcooked_v2,
}

MATRIX_GAMES = ("collab_defect", "stag_hunt", "car_overtake", "coordination", "bimatrix")


def register(name: str, factory: Callable[..., ParamEnv]) -> None:
    """Add an environment factory under ``name`` (overwrites nothing: names are unique)."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory


def registered() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def env_kwargs(name: str) -> tuple[str, ...]:
    """Names of the keyword arguments environment ``name`` accepts."""
    return tuple(inspect.signature(_REGISTRY[name]).parameters)


def check_name(name: str) -> None:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"env.name: unknown environment {name!r}{hint}; allowed: {', '.join(registered())}"
        )


def make(name: str, **kwargs) -> ParamEnv:
    """Build a registered environment, e.g. ``make("collab_defect", cost=0.4)``."""
    check_name(name)
    allowed = env_kwargs(name)
    for k in kwargs:
        if k not in allowed:
            raise ValueError(
                f"env.kwargs.{k}: not an argument of {name!r}; allowed: {', '.join(allowed) or 'none'}"
            )
    env = _REGISTRY[name](**kwargs)
    env.registry_name = name  # the name partners and checkpoints refer to
    return env
