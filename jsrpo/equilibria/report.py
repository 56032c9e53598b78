"""Equilibria of a game over a grid of parameters, as text or JSON (what ``jsrpo solve`` prints).

One block per parameter combination (the product of the given tau/eps values, or of gamma),
listing every equilibrium found with its gap. Asymmetric equilibria are listed once per
ordering of the seats. Everything is computed in float64.
"""
from __future__ import annotations

import itertools
import math
from typing import Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp

from jsrpo.equilibria import nash, rae, rqe
from jsrpo.equilibria.games import Game

CONCEPTS = ("rqe", "qre", "nash", "rae")
# Which parameter flags each concept takes, and their defaults.
PARAMS = {
    "rqe": {"tau": [1.0], "eps": [0.1]},
    "qre": {"eps": [0.1]},
    "nash": {},
    "rae": {"gamma": [0.1]},
}
GAP_NAMES = {
    "rqe": "RQE gap (risk-adjusted exploitability)",
    "qre": "QRE gap (entropy-regularised exploitability)",
    "nash": "Nash gap (exploitability)",
    "rae": "RAE gap (mean-variance exploitability)",
}


class SolveError(ValueError):
    """A bad solver parameter; the message names the flag."""


def check_values(flag: str, values: Sequence[float], positive: bool) -> None:
    for v in values:
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            allowed = "finite numbers > 0" if positive else "finite numbers >= 0"
            raise SolveError(f"--{flag}: got {v!r}; allowed: {allowed}")


def parameter_grid(concept: str, given: Dict[str, Optional[Sequence[float]]],
                   starts: int) -> List[dict]:
    """Every combination of the concept's parameters (``given[flag]`` or the defaults);
    ``SolveError`` names a flag the concept does not take or a bad value."""
    taken = PARAMS[concept]
    for flag in ("tau", "eps", "gamma"):
        if given.get(flag) is not None and flag not in taken:
            uses = ", ".join(f"--{f}" for f in taken) or "no parameters"
            raise SolveError(f"--{flag} is not used by --concept {concept} (it takes {uses})")
    values = {flag: given.get(flag) or default for flag, default in taken.items()}
    for flag, vals in values.items():
        check_values(flag, vals, positive=flag == "eps")
    if starts < 1:
        raise SolveError(f"--starts: got {starts}; allowed: integers >= 1")
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


def solve(game: Game, concept: str, grid: List[dict], num_starts: int = 64):
    """One list of ``Equilibrium`` per parameter combination, computed in float64."""
    with jax.enable_x64(True):
        return _solve(game, concept, grid, num_starts)


def _solve(game, concept: str, grid: List[dict], num_starts: int):
    payoffs = jnp.asarray(game.payoffs, jnp.float64)
    if concept == "nash":
        return [nash.nash_equilibria(payoffs)]
    if concept == "rae":
        return rae.rae_equilibria_grid(payoffs, [p["gamma"] for p in grid])
    taus = [p.get("tau", 0.0) for p in grid]
    return rqe.rqe_equilibria_grid(payoffs, taus, [p["eps"] for p in grid], num_starts)


def _format_strategy(names: Sequence[str], x) -> str:
    return "(" + ", ".join(f"{n} {float(p):.4f}" for n, p in zip(names, x)) + ")"


def text_lines(game: Game, concept: str, grid: List[dict], results) -> list[str]:
    """The printed report: a header, then each parameter combination's equilibria and gaps."""
    n0, n1 = game.num_actions
    kind = "symmetric" if game.is_symmetric else "asymmetric"
    lines = [f"game {game.name}: {n0}x{n1} {kind}; concept {concept}; {GAP_NAMES[concept]}"]
    for params, found in zip(grid, results):
        label = " ".join(f"{k}={v:g}" for k, v in params.items()) or "Nash"
        lines.append(f"{label}: {len(found)} equilibri{'um' if len(found) == 1 else 'a'}")
        for e in found:
            lines.append(f"  x0={_format_strategy(game.action_names[0], e.x0)}"
                         f"  x1={_format_strategy(game.action_names[1], e.x1)}"
                         f"  gap={max(e.gap, 0.0):.1e}")
    return lines


def as_json(game, concept: str, grid: List[dict], results) -> dict:
    return {
        "game": game.name,
        "concept": concept,
        "actions": [list(n) for n in game.action_names],
        "payoffs": game.payoffs.tolist(),
        "results": [
            {
                "params": params,
                "equilibria": [
                    {"x0": e.x0.tolist(), "x1": e.x1.tolist(), "gap": max(e.gap, 0.0)}
                    for e in found
                ],
            }
            for params, found in zip(grid, results)
        ],
    }
