"""Risk-averse equilibria (RAE) in the mean-variance sense of Slumbers et al. (ICML 2023).

Convention (docs/solvers.md; the paper's own conventions could not be checked): a
player with own-action-rows payoffs ``M [n, m]`` values its mixed strategy ``x`` against the
opponent's ``y`` by the mean minus ``gamma`` times the variance that the *opponent's*
randomness induces (its own mixing is not counted as risk):

    mu(y) = M y,   Sigma(y) = sum_b y_b (M[:, b] - mu)(M[:, b] - mu)^T,
    U^gamma(x; y) = x^T M y - gamma x^T Sigma(y) x        (coefficient gamma, no 1/2).

``U^gamma`` is concave in ``x``; the exact best response is a concave QP on the simplex, solved
here by enumerating supports (``risk_averse_best_response``). An RAE is a profile of mutual
best responses; its gap is ``sum_i max_x' U_i(x') - U_i(x_i)``. Every pure Nash equilibrium is
an RAE (``Sigma = 0`` against a pure opponent), so which one is reached is a property of the
dynamics: ``fictitious_play_symmetric`` (single population) and ``fictitious_play`` (two
populations). ``rae_equilibria`` lists all RAE it finds by solving the KKT conditions for every
pair of supports from several starts (Newton), which also finds equilibria that are unstable
under fictitious play.

``gamma`` is a scalar or a per-player pair ``[2]`` (``>= 0``). Functions are unbatched.
"""
from __future__ import annotations

from typing import List, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jsrpo.equilibria.games import own_payoffs
from jsrpo.equilibria.numerics import (
    jit_fast,
    maximize_on_simplex,
    same_point_tol,
    solve_root,
    tolerance,
)
from jsrpo.equilibria.rqe import (
    Equilibrium,
    distinct_equilibria,
    entropy,
    first_occurrences,
    pad_to_bucket,
    per_player_rows,
)

MAX_ACTIONS = 12  # exact best responses enumerate 2^n - 1 supports


def _subsets(n: int) -> np.ndarray:
    """``[2^n - 1, n]`` boolean masks of the nonempty subsets of ``range(n)``, by size."""
    if n > MAX_ACTIONS:
        raise ValueError(f"exact RAE best responses support at most {MAX_ACTIONS} actions, got {n}")
    masks = ((np.arange(1, 2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    return masks[np.argsort(masks.sum(1), kind="stable")]


def opponent_covariance(M: jax.Array, y: jax.Array) -> jax.Array:
    """``[n, n]`` covariance of the payoff column ``M[:, b]`` under ``b ~ y``."""
    dev = M - (M @ y)[:, None]
    return (dev * y[None, :]) @ dev.T


def mean_variance_utility(M: jax.Array, x: jax.Array, y: jax.Array, gamma) -> jax.Array:
    """``U^gamma(x; y) = x^T M y - gamma x^T Sigma(y) x``."""
    return x @ M @ y - gamma * x @ opponent_covariance(M, y) @ x


def risk_averse_best_response(M: jax.Array, y: jax.Array, gamma) -> jax.Array:
    """``[n]`` an exact maximiser of ``U^gamma(x; y)`` over the simplex.

    For each support S, the KKT equations ``2 gamma (Sigma x)_i + nu = (M y)_i`` (i in S),
    ``x_i = 0`` (i not in S), ``sum(x) = 1`` are solved; the best feasible candidate wins. A
    vertex of the optimal face has a nonsingular KKT system, so the optimum is among the
    candidates and every other candidate is a feasible point: the answer is exact.
    """
    n = M.shape[0]
    supports = jnp.asarray(_subsets(n))
    c = M @ y
    quad = 2.0 * gamma * opponent_covariance(M, y)
    eye = jnp.eye(n, dtype=M.dtype)

    def candidate(s):
        rows = jnp.where(s[:, None], quad, eye)
        mult = jnp.where(s, 1.0, 0.0).astype(M.dtype)[:, None]
        system = jnp.block([[rows, mult], [jnp.ones((1, n), M.dtype), jnp.zeros((1, 1), M.dtype)]])
        rhs = jnp.concatenate([jnp.where(s, c, 0.0), jnp.ones((1,), M.dtype)])
        x = jnp.clip(jnp.linalg.solve(system, rhs)[:n], 0.0)
        total = jnp.sum(x)
        ok = jnp.all(jnp.isfinite(x)) & (total > 0)
        x = jnp.where(ok, x / jnp.where(ok, total, 1.0), 1.0 / n)
        return x, jnp.where(ok, mean_variance_utility(M, x, y, gamma), -jnp.inf)

    xs, values = jax.vmap(candidate)(supports)
    return xs[jnp.argmax(values)]


def _smoothed_objective(x, params):
    M, y, gamma, temperature = params
    sigma = opponent_covariance(M, y)
    value = mean_variance_utility(M, x, y, gamma) + temperature * entropy(x)
    grad = M @ y - 2.0 * gamma * sigma @ x - temperature * (jnp.log(x) + 1.0)
    hess = -2.0 * gamma * sigma - temperature * jnp.diag(1.0 / x)
    return value, grad, hess


def smoothed_best_response(M: jax.Array, y: jax.Array, gamma, temperature) -> jax.Array:
    """``[n]`` the unique ``argmax_x U^gamma(x; y) + temperature * H(x)`` (``temperature > 0``)."""
    n = M.shape[0]
    x0 = jnp.full((n,), 1.0 / n, M.dtype)
    return maximize_on_simplex(_smoothed_objective, (M, y, gamma, temperature), x0)


def _per_player(v, dtype) -> jax.Array:
    return jnp.broadcast_to(jnp.asarray(v, dtype), (2,))


def rae_player_gaps(payoffs: jax.Array, x0: jax.Array, x1: jax.Array, gamma) -> jax.Array:
    """``[2]`` each seat's ``max_x' U^gamma_i(x'; x_-i) - U^gamma_i(x_i; x_-i)``."""
    gamma = _per_player(gamma, jnp.asarray(payoffs).dtype)
    gaps = []
    for i, (M, x, y) in enumerate(zip(own_payoffs(payoffs), (x0, x1), (x1, x0))):
        br = risk_averse_best_response(M, y, gamma[i])
        gaps.append(
            mean_variance_utility(M, br, y, gamma[i]) - mean_variance_utility(M, x, y, gamma[i])
        )
    return jnp.stack(gaps)


def rae_gap(payoffs: jax.Array, x0: jax.Array, x1: jax.Array, gamma) -> jax.Array:
    """Scalar RAE gap: the sum over seats of ``rae_player_gaps``."""
    return jnp.sum(rae_player_gaps(payoffs, x0, x1, gamma))


def fictitious_play_symmetric(M: jax.Array, belief0: jax.Array, gamma, num_steps: int) -> jax.Array:
    """Single-population fictitious play with exact risk-averse best responses.

    The population's belief is the running average of its best responses to itself, the
    starting belief counting as the first observation:
    ``b_{t+1} = b_t + (BR(b_t) - b_t) / (t + 2)``.

    Args:
      M: ``[n, n]`` payoffs of a symmetric game (row player's, own rows).
      belief0: ``[n]`` starting mixed strategy.
    Returns:
      ``[num_steps + 1, n]`` beliefs ``b_0 .. b_T``.
    """

    def step(b, t):
        b = b + (risk_averse_best_response(M, b, gamma) - b) / (t + 2.0)
        return b, b

    ts = jnp.arange(num_steps, dtype=M.dtype)
    _, path = jax.lax.scan(step, belief0, ts)
    return jnp.concatenate([belief0[None], path])


def fictitious_play(payoffs: jax.Array, x0: jax.Array, x1: jax.Array, gamma, num_steps: int):
    """Two-population fictitious play: each seat best-responds to the other's empirical mix.

    Returns:
      ``(path0 [T + 1, n0], path1 [T + 1, n1])`` of empirical mixed strategies.
    """
    gamma = _per_player(gamma, jnp.asarray(payoffs).dtype)
    U0, U1 = own_payoffs(payoffs)

    def step(carry, t):
        a, b = carry
        br0 = risk_averse_best_response(U0, b, gamma[0])
        br1 = risk_averse_best_response(U1, a, gamma[1])
        a, b = a + (br0 - a) / (t + 2.0), b + (br1 - b) / (t + 2.0)
        return (a, b), (a, b)

    ts = jnp.arange(num_steps, dtype=U0.dtype)
    _, (p0, p1) = jax.lax.scan(step, (x0, x1), ts)
    return jnp.concatenate([x0[None], p0]), jnp.concatenate([x1[None], p1])


# --- All RAE: KKT conditions per support pair ---------------------------------------------


def _kkt_residual(v, params):
    """Both seats' best-response KKT equations with supports fixed. ``v = [x0, x1, nu0, nu1]``."""
    payoffs, gamma, s0, s1 = params
    U0, U1 = own_payoffs(payoffs)
    n0 = U0.shape[0]
    x0, x1, nu = v[:n0], v[n0:-2], v[-2:]
    res = []
    for i, (U, x, y, s) in enumerate(((U0, x0, x1, s0), (U1, x1, x0, s1))):
        marginal = U @ y - 2.0 * gamma[i] * opponent_covariance(U, y) @ x
        res += [jnp.where(s, marginal - nu[i], x), jnp.sum(x, keepdims=True) - 1.0]
    return jnp.concatenate(res)


class RAESolutions(NamedTuple):
    """Candidates (leading axis K = support pairs x starts), padded; see ``RQESolutions``."""

    x0: jax.Array
    x1: jax.Array
    gap: jax.Array
    residual: jax.Array
    converged: jax.Array
    distinct: jax.Array


def support_pair_starts(num_actions, starts_per_pair: int = 6, seed: int = 0):
    """Supports and starting profiles for ``rae_multistart``.

    Returns:
      ``(s0 [K, n0], s1 [K, n1], x0 [K, n0], x1 [K, n1])``: every pair of nonempty supports,
      started from uniform on the supports and from ``starts_per_pair - 1`` random points
      (Dirichlet(1/2), so some start near the faces: the KKT system of a support pair can have
      roots outside the simplex, and near-boundary equilibria need nearby starts).
    """
    n0, n1 = num_actions
    sub0, sub1 = _subsets(n0), _subsets(n1)
    rng = np.random.default_rng(seed)
    out: Tuple[List[np.ndarray], ...] = [], [], [], []
    for a in sub0:
        for b in sub1:
            for k in range(starts_per_pair):
                w0 = np.ones(n0) if k == 0 else rng.dirichlet(np.full(n0, 0.5)) + 1e-3
                w1 = np.ones(n1) if k == 0 else rng.dirichlet(np.full(n1, 0.5)) + 1e-3
                x0, x1 = w0 * a, w1 * b
                for lst, val in zip(out, (a, b, x0 / x0.sum(), x1 / x1.sum())):
                    lst.append(val)
    return tuple(np.stack(v) for v in out)


def rae_multistart(payoffs: jax.Array, gamma, s0, s1, x0, x1, max_iters: int = 60) -> RAESolutions:
    """Solve the supports-fixed KKT system from each start (vmapped) and verify by the gap.

    Args:
      payoffs: ``[2, n0, n1]``; gamma: scalar or ``[2]``.
      s0, s1, x0, x1: ``[K, n0]``, ``[K, n1]`` supports and starts (``support_pair_starts``).
    """
    payoffs = jnp.asarray(payoffs)
    dtype = payoffs.dtype
    gamma = _per_player(gamma, dtype)
    U0, U1 = own_payoffs(payoffs)
    tol = tolerance(dtype)
    n0 = U0.shape[0]

    def solve(s0, s1, a, b):
        nu = jnp.stack([a @ U0 @ b, b @ U1 @ a])
        v0 = jnp.concatenate([a, b, nu]).astype(dtype)
        root = solve_root(_kkt_residual, v0, (payoffs, gamma, s0, s1), max_iters)
        a, b = root.z[:n0], root.z[n0:-2]
        feasible = jnp.all(a > -tol) & jnp.all(b > -tol)
        a = jnp.clip(a, 0.0) / jnp.sum(jnp.clip(a, 0.0))
        b = jnp.clip(b, 0.0) / jnp.sum(jnp.clip(b, 0.0))
        gap = rae_gap(payoffs, a, b, gamma)
        converged = feasible & (root.residual < tol * (1.0 + jnp.max(jnp.abs(payoffs))))
        return a, b, gap, root.residual, converged

    x0, x1, gap, residual, converged = jax.vmap(solve)(
        jnp.asarray(s0), jnp.asarray(s1), jnp.asarray(x0, dtype), jnp.asarray(x1, dtype)
    )
    scale = 1.0 + jnp.max(jnp.abs(payoffs))
    converged = converged & (gap < 100 * tol * scale)
    profiles = jnp.concatenate([x0, x1], axis=1)
    distinct = first_occurrences(profiles, converged, same_point_tol(dtype))
    return RAESolutions(x0, x1, gap, residual, converged, distinct)


_rae_multistart_grid_jit = jit_fast(
    jax.vmap(rae_multistart, in_axes=(None, 0, None, None, None, None, None)), static_argnums=(6,)
)
_GRID_BUCKET = 4  # parameter grids are padded so that most calls reuse one compilation


def check_gamma(gamma) -> None:
    gamma = np.asarray(gamma, np.float64)
    if not np.all(np.isfinite(gamma)) or np.any(gamma < 0):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")


def rae_equilibria_grid(
    payoffs, gammas: Sequence, starts_per_pair: int = 6, seed: int = 0
) -> List[List[Equilibrium]]:
    """``rae_equilibria`` for each entry of ``gammas`` (scalars or pairs), in one vmapped call."""
    check_gamma(gammas)
    payoffs = jnp.asarray(payoffs)
    rows = per_player_rows(gammas, len(gammas), "gammas")
    gam = jnp.asarray(pad_to_bucket(rows, _GRID_BUCKET), payoffs.dtype)
    starts = support_pair_starts(payoffs.shape[1:], starts_per_pair, seed)
    sol = _rae_multistart_grid_jit(payoffs, gam, *starts, 60)
    return [
        distinct_equilibria(sol.x0[k], sol.x1[k], sol.gap[k], sol.distinct[k])
        for k in range(len(gammas))
    ]


def rae_equilibria(payoffs, gamma, starts_per_pair: int = 6, seed: int = 0) -> List[Equilibrium]:
    """All distinct RAE found from every support pair, sorted, each with its RAE gap.

    Where a game has a continuum of RAE (degenerate cases, e.g. ``gamma = 0`` with payoff
    ties) only isolated representatives are listed.
    """
    return rae_equilibria_grid(payoffs, [gamma], starts_per_pair, seed)[0]
