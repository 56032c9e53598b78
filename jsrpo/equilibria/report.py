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
import numpy as np

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


#: largest |payoff| of the scale-dependent concepts: an RQE/QRE with payoffs x c is the one
#: with eps / c (and tau x c), an RAE the one with gamma x c; far beyond this the float64
#: solution is that of eps ~ 0 and the variance overflows.
MAX_PAYOFF = 1e6
#: support pairs the exact enumerations visit at most (their time grows with the count:
#: Nash on 8x8, 12,869 pairs, takes seconds; RAE on 5x5, 961 pairs x 6 starts, about a minute).
MAX_SUPPORT_PAIRS = {"nash": 13_000, "rae": 1_000}


def support_pair_count(concept: str, num_actions) -> int:
    """Support pairs the exact enumeration of ``concept`` visits: equal-size pairs for Nash
    (nondegenerate games), every pair for RAE."""
    n0, n1 = num_actions
    if concept == "nash":
        return math.comb(n0 + n1, n0) - 1
    return (2**n0 - 1) * (2**n1 - 1)


def check_game(game: Game, concept: str) -> None:
    """``SolveError`` when the concept cannot give a right answer for this game here."""
    n0, n1 = game.num_actions
    if concept in ("rqe", "qre") and min(n0, n1) < 2:
        raise SolveError(f"--game: {game.name} is {n0}x{n1}; --concept {concept} needs at least "
                         "2 actions per seat (a seat with one action has no strategy to choose)")
    limit = MAX_SUPPORT_PAIRS.get(concept)
    if limit is not None and support_pair_count(concept, (n0, n1)) > limit:
        raise SolveError(
            f"--game: {game.name} is {n0}x{n1}; --concept {concept} enumerates "
            f"{support_pair_count(concept, (n0, n1)):,} support pairs, at most {limit:,} here "
            f"({'8x8' if concept == 'nash' else '5x5'}); for larger games use --concept qre "
            "or rqe (Newton from many starts), whose time grows with the number of actions only")
    scale = float(np.max(np.abs(game.payoffs)))
    if concept != "nash" and scale > MAX_PAYOFF:
        raise SolveError(
            f"--game: payoffs up to {scale:.3g} in magnitude; --concept {concept} takes payoffs "
            f"up to {MAX_PAYOFF:g} (its answer depends on the payoff scale: payoffs x c is the "
            "same as " + ("eps / c and tau x c" if concept != "rae" else "gamma x c")
            + "); rescale the game and the parameters")


def solve(game: Game, concept: str, grid: List[dict], num_starts: int = 64):
    """One list of ``Equilibrium`` per parameter combination, computed in float64.

    Nash equilibria are computed on each seat's payoffs divided by their largest magnitude
    (the same equilibria, and no overflow at any scale); gaps are reported in the game's
    own units. ``check_game`` first: ``SolveError`` when the answer would not be right."""
    check_game(game, concept)
    with jax.enable_x64(True):
        if concept != "nash":
            return _solve(game, concept, grid, num_starts)
        scale = np.max(np.abs(game.payoffs), axis=(1, 2))  # [2] per seat
        scale = np.where(scale > 0, scale, 1.0)
        found = nash.nash_equilibria(jnp.asarray(game.payoffs / scale[:, None, None]))
        unit = jnp.asarray(game.payoffs / scale[:, None, None])
        return [[e._replace(gap=float(np.sum(scale * np.asarray(
            nash.nash_player_gaps(unit, e.x0, e.x1))))) for e in found]]


def _solve(game: Game, concept: str, grid: List[dict], num_starts: int):
    payoffs = jnp.asarray(game.payoffs, jnp.float64)
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
