"""``jsrpo solve``: print the exact equilibria of a two-player normal-form game.

    jsrpo solve --game collab_defect --concept rqe --tau 0 10 --eps 0.2 [--json]
    python -m jsrpo.equilibria.cli solve --game my_game.yaml --concept nash

One block per parameter combination (the product of the given ``--tau``/``--eps`` values, or of
``--gamma``), listing every equilibrium found with its gap. Asymmetric equilibria are listed
once per ordering of the seats. Everything is computed in float64.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from typing import List, Optional, Sequence

CONCEPTS = ("rqe", "qre", "nash", "rae")
# Which parameter flags each concept takes, and their defaults.
_PARAMS = {
    "rqe": {"tau": [1.0], "eps": [0.1]},
    "qre": {"eps": [0.1]},
    "nash": {},
    "rae": {"gamma": [0.1]},
}
_GAP_NAMES = {
    "rqe": "RQE gap (risk-adjusted exploitability)",
    "qre": "QRE gap (entropy-regularised exploitability)",
    "nash": "Nash gap (exploitability)",
    "rae": "RAE gap (mean-variance exploitability)",
}


class SolveError(ValueError):
    """A bad command-line value; the message names the flag."""


def add_solve_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``solve`` sub-command on an ``argparse`` sub-parsers object."""
    parser = subparsers.add_parser(
        "solve",
        help="exact RQE / QRE / Nash / RAE of a two-player normal-form game",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--game",
        required=True,
        metavar="NAME_OR_FILE",
        help="a registered game (collab_defect, stag_hunt, car_overtake, coordination, "
        "rock_paper_scissors, matching_pennies) or a YAML/JSON payoff file",
    )
    parser.add_argument("--concept", required=True, choices=CONCEPTS, help="solution concept")
    parser.add_argument("--tau", type=float, nargs="+", help="risk aversion(s), rqe (default 1)")
    parser.add_argument(
        "--eps", type=float, nargs="+", help="entropy weight(s), rqe and qre (default 0.1)"
    )
    parser.add_argument(
        "--gamma", type=float, nargs="+", help="variance weight(s), rae (default 0.1)"
    )
    parser.add_argument(
        "--starts", type=int, default=64, help="random starts of the rqe/qre search (default 64)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run_solve)
    return parser


def _check_values(flag: str, values: Sequence[float], positive: bool) -> None:
    for v in values:
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            allowed = "finite numbers > 0" if positive else "finite numbers >= 0"
            raise SolveError(f"--{flag}: got {v!r}; allowed: {allowed}")


def _parameter_grid(args) -> List[dict]:
    taken = _PARAMS[args.concept]
    for flag in ("tau", "eps", "gamma"):
        if getattr(args, flag) is not None and flag not in taken:
            uses = ", ".join(f"--{f}" for f in taken) or "no parameters"
            raise SolveError(f"--{flag} is not used by --concept {args.concept} (it takes {uses})")
    values = {flag: getattr(args, flag) or default for flag, default in taken.items()}
    for flag, vals in values.items():
        _check_values(flag, vals, positive=flag == "eps")
    if args.starts < 1:
        raise SolveError(f"--starts: got {args.starts}; allowed: integers >= 1")
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


def _solve(game, concept: str, grid: List[dict], num_starts: int):
    """One list of ``Equilibrium`` per parameter combination."""
    import jax.numpy as jnp

    from jsrpo.equilibria import nash, rae, rqe

    payoffs = jnp.asarray(game.payoffs, jnp.float64)
    if concept == "nash":
        return [nash.nash_equilibria(payoffs)]
    if concept == "rae":
        return rae.rae_equilibria_grid(payoffs, [p["gamma"] for p in grid])
    taus = [p.get("tau", 0.0) for p in grid]
    return rqe.rqe_equilibria_grid(payoffs, taus, [p["eps"] for p in grid], num_starts)


def _format_strategy(names: Sequence[str], x) -> str:
    return "(" + ", ".join(f"{n} {float(p):.4f}" for n, p in zip(names, x)) + ")"


def _print_text(game, concept: str, grid: List[dict], results) -> None:
    n0, n1 = game.num_actions
    kind = "symmetric" if game.is_symmetric else "asymmetric"
    print(f"game {game.name}: {n0}x{n1} {kind}; concept {concept}; {_GAP_NAMES[concept]}")
    for params, found in zip(grid, results):
        label = " ".join(f"{k}={v:g}" for k, v in params.items()) or "Nash"
        print(f"{label}: {len(found)} equilibri{'um' if len(found) == 1 else 'a'}")
        for e in found:
            print(
                f"  x0={_format_strategy(game.action_names[0], e.x0)}"
                f"  x1={_format_strategy(game.action_names[1], e.x1)}  gap={max(e.gap, 0.0):.1e}"
            )


def _as_json(game, concept: str, grid: List[dict], results) -> dict:
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


def run_solve(args: argparse.Namespace) -> int:
    """Run ``solve``; returns the exit code (2 with a message on stderr for bad input)."""
    from jsrpo.equilibria.games import GameError, get_game

    try:
        grid = _parameter_grid(args)
        try:
            game = get_game(args.game)
        except GameError as err:
            raise SolveError(f"--game: {err}") from err
    except SolveError as err:
        print(f"jsrpo solve: error: {err}", file=sys.stderr)
        return 2
    import jax

    with jax.enable_x64(True):
        results = _solve(game, args.concept, grid, args.starts)
    if args.json:
        print(json.dumps(_as_json(game, args.concept, grid, results), indent=2))
    else:
        _print_text(game, args.concept, grid, results)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jsrpo.equilibria.cli")
    add_solve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
