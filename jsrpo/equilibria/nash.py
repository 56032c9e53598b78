"""Nash equilibria of bimatrix games: exact support enumeration and the RQE limit.

``support_enumeration`` checks every pair of equal-size supports ``(S, T)``: it solves the
indifference equations (each seat mixes so that all of the other seat's support actions pay
the same), keeps the solutions that are probability vectors with no profitable deviation, and
drops repeats. For nondegenerate games this is every Nash equilibrium (the same set as
nashpy's ``support_enumeration``); degenerate games can have equilibria with unequal support
sizes or continua, which it does not list. All pairs are solved at once (vmapped), so the
cost grows like ``C(n0 + n1, n0)``: meant for small games.

``nash_limit`` is the other route: Nash equilibria as the ``tau, eps -> 0`` limit of RQE.
"""
from __future__ import annotations

import itertools
from typing import List, NamedTuple, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from jsrpo.equilibria.games import own_payoffs
from jsrpo.equilibria.numerics import jit_fast, same_point_tol, tolerance
from jsrpo.equilibria.rqe import (
    Equilibrium,
    _rqe_multistart_grid_jit,
    distinct_equilibria,
    first_occurrences,
    initial_logits,
)

# A mixed strategy, on the device or on the host (``Equilibrium`` holds NumPy arrays).
_Strategy = Union[jax.Array, np.ndarray]


def nash_player_gaps(payoffs: jax.Array, x0: _Strategy, x1: _Strategy) -> jax.Array:
    """``[2]`` each seat's gain from its best pure deviation (its exploitability)."""
    gaps = []
    for U, x, y in zip(own_payoffs(payoffs), (x0, x1), (x1, x0)):
        gaps.append(jnp.max(U @ y) - x @ U @ y)
    return jnp.stack(gaps)


def nash_gap(payoffs: jax.Array, x0: _Strategy, x1: _Strategy) -> jax.Array:
    """Scalar Nash gap (exploitability summed over seats); 0 exactly at a Nash equilibrium."""
    return jnp.sum(nash_player_gaps(payoffs, x0, x1))


def support_pairs(num_actions: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """``(S [K, n0], T [K, n1])`` boolean masks of all support pairs with ``|S| = |T|``."""
    n0, n1 = num_actions
    rows, cols = [], []
    for k in range(1, min(n0, n1) + 1):
        for s in itertools.combinations(range(n0), k):
            for t in itertools.combinations(range(n1), k):
                rows.append(np.isin(np.arange(n0), s))
                cols.append(np.isin(np.arange(n1), t))
    return np.stack(rows), np.stack(cols)


def _indifferent_mix(U: jax.Array, own: jax.Array, other: jax.Array):
    """Opponent mix ``y [m]`` on support ``other`` that makes the rows ``own`` of ``U`` pay v.

    Square system of size m + 1: ``(U y)_i = v`` for the k rows in ``own``, ``y_j = 0`` for the
    m - k columns outside ``other``, ``sum(y) = 1``. Returns ``(y, v, residual)``.
    """
    n, m = U.shape
    k = jnp.sum(own)
    own_first = jnp.argsort(~own, stable=True)  # the support rows come first
    off_first = jnp.argsort(other, stable=True)  # the columns outside the support come first
    r = jnp.arange(m)
    pay_rows = jnp.concatenate(
        [U[own_first[jnp.minimum(r, n - 1)]], -jnp.ones((m, 1), U.dtype)], axis=1
    )
    unit = jnp.eye(m, dtype=U.dtype)[off_first[jnp.clip(r - k, 0, m - 1)]]
    zero_rows = jnp.concatenate([unit, jnp.zeros((m, 1), U.dtype)], axis=1)
    system = jnp.concatenate(
        [
            jnp.where((r < k)[:, None], pay_rows, zero_rows),
            jnp.concatenate([jnp.ones((1, m), U.dtype), jnp.zeros((1, 1), U.dtype)], axis=1),
        ]
    )
    rhs = jnp.zeros((m + 1,), U.dtype).at[m].set(1.0)
    sol = jnp.linalg.solve(system, rhs)
    residual = jnp.max(jnp.abs(system @ sol - rhs))
    return sol[:m], sol[m], residual


class NashSolutions(NamedTuple):
    """One candidate per support pair (leading axis K), padded.

    x0 ``[K, n0]``, x1 ``[K, n1]``; gap ``[K]``; valid ``[K]``: a Nash equilibrium;
    distinct ``[K]``: valid and not a repeat of an earlier candidate.
    """

    x0: jax.Array
    x1: jax.Array
    gap: jax.Array
    valid: jax.Array
    distinct: jax.Array


def support_enumeration(payoffs: jax.Array) -> NashSolutions:
    """All Nash equilibria of a nondegenerate bimatrix game ``payoffs [2, n0, n1]``."""
    payoffs = jnp.asarray(payoffs)
    U0, U1 = own_payoffs(payoffs)
    S, T = (jnp.asarray(m) for m in support_pairs(payoffs.shape[1:]))
    tol = tolerance(payoffs.dtype) * (1.0 + jnp.max(jnp.abs(payoffs)))

    def candidate(s, t):
        x1, v0, res0 = _indifferent_mix(U0, s, t)  # seat 1 mixes on t, seat 0 indifferent on s
        x0, v1, res1 = _indifferent_mix(U1, t, s)
        finite = jnp.all(jnp.isfinite(x0)) & jnp.all(jnp.isfinite(x1))
        x0 = jnp.where(finite, x0, 0.0)
        x1 = jnp.where(finite, x1, 0.0)
        feasible = finite & (res0 < tol) & (res1 < tol) & jnp.all(x0 > -tol) & jnp.all(x1 > -tol)
        x0 = jnp.clip(x0, 0.0)
        x1 = jnp.clip(x1, 0.0)
        x0 = x0 / jnp.where(feasible, jnp.sum(x0), 1.0)
        x1 = x1 / jnp.where(feasible, jnp.sum(x1), 1.0)
        gap = nash_gap(payoffs, x0, x1)
        return x0, x1, gap, feasible & (gap < tol)

    x0, x1, gap, valid = jax.vmap(candidate)(S, T)
    same = same_point_tol(payoffs.dtype)
    distinct = first_occurrences(jnp.concatenate([x0, x1], axis=1), valid, same)
    return NashSolutions(x0, x1, gap, valid, distinct)


_support_enumeration_jit = jit_fast(support_enumeration)


def nash_equilibria(payoffs) -> List[Equilibrium]:
    """Distinct Nash equilibria by support enumeration, sorted, each with its Nash gap."""
    sol = _support_enumeration_jit(jnp.asarray(payoffs))
    return distinct_equilibria(sol.x0, sol.x1, sol.gap, sol.distinct)


def nash_limit(
    payoffs, eps: float = 1e-3, tau_over_eps: float = 1.0, num_starts: int = 64, seed: int = 0
) -> List[Equilibrium]:
    """Nash equilibria approached as RQE with ``eps -> 0`` and ``tau = tau_over_eps * eps``.

    Solves for all RQE at a sequence of shrinking ``eps`` (three per decade, from a tenth of the
    payoff range down to ``eps``): each level starts from the previous level's solutions (their
    logits as they are, and scaled by the ratio of the two eps, which is how the logits of a
    near-pure profile grow) and fills the remaining starts with fresh ones, so branches are
    followed into the limit even when they appear at small eps only. Each returned profile is
    an RQE at the final ``eps``; its ``gap`` field is its *Nash* gap, which vanishes with
    ``eps`` (the distance to a Nash equilibrium is O(eps)).
    """
    payoffs = jnp.asarray(payoffs)
    spread = float(jnp.max(payoffs) - jnp.min(payoffs))
    start = max(0.1 * spread, eps)
    levels = np.geomspace(start, eps, int(np.ceil(3 * np.log10(start / eps))) + 1)
    fresh = initial_logits(payoffs.shape[1:], num_starts, seed)
    carried = np.zeros((0, fresh.shape[1]))
    for k, level in enumerate(levels):
        ratio = levels[k - 1] / level if k else 1.0
        starts = np.concatenate([carried, carried * ratio, fresh])[:num_starts]
        sol = _rqe_multistart_grid_jit(
            payoffs,
            jnp.full((8, 2), tau_over_eps * level, payoffs.dtype),  # one grid bucket
            jnp.full((8, 2), level, payoffs.dtype),
            jnp.asarray(starts, payoffs.dtype),
            "adversary",
            100,
        )
        distinct = np.asarray(sol.distinct[0])
        carried = np.asarray(sol.logits[0])[distinct][: num_starts // 4]
    found = distinct_equilibria(sol.x0[0], sol.x1[0], sol.gap[0], sol.distinct[0])
    return [Equilibrium(e.x0, e.x1, float(nash_gap(payoffs, e.x0, e.x1))) for e in found]
