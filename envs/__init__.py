"""Environments on one contract (see ``envs.base``), made by name with ``envs.make``."""
from __future__ import annotations

import difflib
import inspect
import os
import sys
from typing import Callable, Dict


def _import_jaxmarl_quietly() -> None:
    """Import ``jaxmarl.environments`` with its stdout sent to /dev/null.

    On its first import it prints two lines about optional submodule environments, which would
    open every command's output and corrupt ``jsrpo solve --json``. Its optional-brax import also
    resets ``sys.stdout``/``sys.stderr`` to ``sys.__stdout__``/``sys.__stderr__``, so a plain
    ``redirect_stdout`` misses the lines (they go to file descriptor 1) and a caller's redirect
    (pytest's capture, say) would be dropped: both streams are restored here."""
    if "jaxmarl.environments" in sys.modules:
        return
    out, err = sys.stdout, sys.stderr
    for stream in (out, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved = None
    with open(os.devnull, "w") as devnull:
        try:
            saved = os.dup(1)
            os.dup2(devnull.fileno(), 1)
        except OSError:  # no file descriptor 1 to redirect: only Python-level prints are hidden
            saved = None
        try:
            sys.stdout = devnull
            import jaxmarl.environments  # noqa: F401
        finally:
            if sys.__stdout__ is not None:
                sys.__stdout__.flush()  # while fd 1 still points to /dev/null
            if saved is not None:
                os.dup2(saved, 1)
                os.close(saved)
            sys.stdout, sys.stderr = out, err


_import_jaxmarl_quietly()

import jax  # noqa: E402

from envs import coop_grid, hanabi, matrix_games, mpe_tag, overcooked, relay  # noqa: E402
from envs.base import ParamEnv  # noqa: E402

_REGISTRY: Dict[str, Callable[..., ParamEnv]] = {
    "collab_defect": matrix_games.make_collab_defect,
    "stag_hunt": matrix_games.make_stag_hunt,
    "car_overtake": matrix_games.make_car_overtake,
    "coordination": matrix_games.make_coordination,
    "bimatrix": matrix_games.make_bimatrix,
    "coop_grid": coop_grid.make_coop_grid,
    "overcooked": overcooked.make_overcooked,
    "overcooked_v2": overcooked.make_overcooked_v2,
    "relay": relay.make_relay,
    "hanabi": hanabi.make_hanabi,
    "tag": mpe_tag.make_tag,
}

#: name -> the constructor arguments a sweep may vary per member (``ParamEnv.traced_kwargs``).
_TRACED: Dict[str, tuple] = {
    "collab_defect": matrix_games.CollabDefect.traced_kwargs,
    "coop_grid": coop_grid.CoopGrid.traced_kwargs,
    "overcooked": overcooked.Overcooked.traced_kwargs,
    "overcooked_v2": overcooked.Overcooked.traced_kwargs,
}

MATRIX_GAMES = ("collab_defect", "stag_hunt", "car_overtake", "coordination", "bimatrix")


#: name -> the keyword argument that sets the number of seats (envs without one have two).
_SEATS_KWARG: Dict[str, str] = {"relay": "num_agents", "hanabi": "num_agents"}
#: name -> its number of seats, for envs with a fixed number other than two.
_FIXED_SEATS: Dict[str, int] = {"tag": 3}


def register(name: str, factory: Callable[..., ParamEnv], traced: tuple = (),
             seats_kwarg: str | None = None, seats: int = 2) -> None:
    """Add an environment factory under ``name`` (overwrites nothing: names are unique);
    ``traced``: its ``traced_kwargs``, the arguments a sweep may vary in one program;
    ``seats_kwarg``: the argument that sets its number of seats, if it has one; ``seats``:
    its number of seats otherwise."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory
    _TRACED[name] = tuple(traced)
    if seats_kwarg is not None:
        _SEATS_KWARG[name] = seats_kwarg
    elif seats != 2:
        _FIXED_SEATS[name] = seats


def num_seats(name: str, kwargs: dict) -> int:
    """The number of seats (agents) environment ``name`` has with constructor ``kwargs``, known
    without building it (configs derive their layout from it)."""
    key = _SEATS_KWARG.get(name)
    if key is None:
        return _FIXED_SEATS.get(name, 2)
    value = kwargs.get(key, kwarg_default(name, key))
    # a value the factory will refuse (not a whole number) is refused there, by name
    whole = (isinstance(value, (int, float)) and not isinstance(value, bool)
             and float(value).is_integer())
    return int(value) if whole else 2


def seat_differences(name: str, kwargs: dict) -> str:
    """How the seats of environment ``name`` differ in what they observe and can do (their
    observation shapes and action counts), or ``""`` when they look alike: a policy of one seat
    can then play any (FCP's agents, one PSRO population)."""
    game = make(name, **kwargs)
    obs = jax.eval_shape(game.reset, jax.random.PRNGKey(0))[0]
    shapes = {tuple(obs[a].shape) for a in game.agents}
    counts = {int(getattr(game.action_space(a), "n")) for a in game.agents}
    if len(shapes) == 1 and len(counts) == 1:
        return ""
    return f"observation shapes {sorted(shapes)} and action counts {sorted(counts)}"


def registered() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def env_kwargs(name: str) -> tuple[str, ...]:
    """Names of the keyword arguments environment ``name`` accepts."""
    return tuple(inspect.signature(_REGISTRY[name]).parameters)


def traced_kwargs(name: str) -> tuple[str, ...]:
    """The keyword arguments of ``name`` that a sweep may vary per member in one program."""
    return _TRACED.get(name, ())


def kwarg_default(name: str, kwarg: str):
    """The default value of keyword argument ``kwarg`` of environment ``name`` (None if none)."""
    p = inspect.signature(_REGISTRY[name]).parameters[kwarg]
    return None if p.default is inspect.Parameter.empty else p.default


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
                f"env.kwargs.{k}: not an argument of {name!r}; "
                f"allowed: {', '.join(allowed) or 'none'}"
            )
    env = _REGISTRY[name](**kwargs)
    env.registry_name = name  # the name partners and checkpoints refer to
    declared = set(getattr(env, "traced_kwargs", ()))
    if declared != set(traced_kwargs(name)):
        raise ValueError(f"env.name: {name!r} was registered with traced={traced_kwargs(name)} "
                         f"but its environment declares traced_kwargs={tuple(declared)}; "
                         "register it with the same names")
    return env
