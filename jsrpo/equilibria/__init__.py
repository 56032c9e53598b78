"""Exact equilibria of two-player normal-form games: RQE, QRE, Nash and RAE, in pure JAX.

Modules (docs/solvers.md gives the definitions; the tests hold them to published reference numbers):

- ``games``: the ``Game`` container, the named-game registry and YAML/JSON payoff files.
- ``rqe``: risk-averse quantal response equilibria (``tau = 0``: logit QRE), the 4-player
  adversary form and the 2-player entropic form, multistart root finding with gaps.
- ``nash``: support enumeration and Nash equilibria as the ``tau, eps -> 0`` limit of RQE.
- ``rae``: mean-variance risk-averse equilibria, exact best responses, fictitious play.
- ``aggregative``: the Gaussian RQE of quadratic aggregative games (the two-robots example).
- ``cli``: ``jsrpo solve``.

Pure functions are unbatched (``jax.vmap`` them over games and parameters); the
``*_equilibria`` helpers run on the host and return sorted lists of ``Equilibrium``.
Use float64 (``jax.enable_x64``) for reference-grade answers.
"""
from jsrpo.equilibria.games import Game, GameError, game_names, get_game, load_game, own_payoffs
from jsrpo.equilibria.nash import nash_equilibria, nash_gap, nash_limit, support_enumeration
from jsrpo.equilibria.rae import (
    fictitious_play,
    fictitious_play_symmetric,
    mean_variance_utility,
    rae_equilibria,
    rae_equilibria_grid,
    rae_gap,
    risk_averse_best_response,
    smoothed_best_response,
)
from jsrpo.equilibria.rqe import (
    Equilibrium,
    adversary_tilt,
    qre_equilibria,
    quantal_best_response,
    risk_adjusted_value,
    rqe_equilibria,
    rqe_equilibria_grid,
    rqe_gap,
    rqe_multistart,
)

__all__ = [
    "Equilibrium",
    "Game",
    "GameError",
    "adversary_tilt",
    "fictitious_play",
    "fictitious_play_symmetric",
    "game_names",
    "get_game",
    "load_game",
    "mean_variance_utility",
    "nash_equilibria",
    "nash_gap",
    "nash_limit",
    "own_payoffs",
    "qre_equilibria",
    "quantal_best_response",
    "rae_equilibria",
    "rae_equilibria_grid",
    "rae_gap",
    "risk_adjusted_value",
    "risk_averse_best_response",
    "rqe_equilibria",
    "rqe_equilibria_grid",
    "rqe_gap",
    "rqe_multistart",
    "smoothed_best_response",
    "support_enumeration",
]
