"""Risk-averse quantal response equilibria (RQE) of two-player normal-form games.

Player i with own-action-rows payoffs ``U_i [n_i, n_-i]`` values its mixed strategy ``x_i``
against the partner's ``x_-i`` by (docs/solvers.md)

    V_i(x_i; x_-i) = -(1/tau_i) log sum_b x_-i(b) exp(-tau_i (U_i^T x_i)_b) + eps_i H(x_i),

the expectation ``x_i^T U_i x_-i`` at ``tau_i = 0`` (then an RQE is a logit QRE). By duality
the risk term is ``min_p x_i^T U_i p + (1/tau_i) KL(p || x_-i)``, an adversary whose optimum is
the exponential tilt ``p_i(b) ∝ x_-i(b) exp(-tau_i (U_i^T x_i)_b)`` (``adversary_tilt``).

Equilibria are found as roots of a fixed-point system in logits (Newton/Levenberg-Marquardt from
many starts, ``rqe_multistart``), which finds unstable equilibria as well as stable ones. Two
forms of the system give the same roots and are both available:

- ``"adversary"`` (the 4-player form): ``x_i ∝ exp(U_i p_i / eps_i)`` with ``p_i`` the tilt;
- ``"entropic"`` (the 2-player form): ``x_i = BR_i(x_-i)``, each quantal best response solved
  exactly as the strictly concave maximisation of ``V_i`` (``quantal_best_response``).

Every solution carries its gap ``sum_i max_x' V_i(x'; x_-i) - V_i(x_i; x_-i)`` (exact best
responses), so a caller can tell an equilibrium from a non-converged iterate.

``tau`` and ``eps`` are scalars or per-player pairs ``[2]``; ``eps > 0`` throughout (it makes the
best response unique). All functions are unbatched; ``jax.vmap`` over games and parameters.
"""
from __future__ import annotations

from typing import List, NamedTuple, Sequence

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

FORMS = ("adversary", "entropic")


def entropy(x: jax.Array) -> jax.Array:
    """Shannon entropy ``-sum x log x`` (``0 log 0 = 0``)."""
    return jnp.sum(jax.scipy.special.entr(x))


def entropic_risk(s: jax.Array, y: jax.Array, tau: jax.Array) -> jax.Array:
    """``-(1/tau) log E_{b~y} exp(-tau s_b)``, and ``E_y[s]`` at ``tau = 0``.

    Computed around the mean so that it stays accurate as ``tau -> 0``.
    """
    mean = y @ s
    safe_tau = jnp.where(tau > 0, tau, 1.0)
    a = -safe_tau * (s - mean)
    a = jnp.where(y > 0, a, jnp.min(a))  # actions the partner never plays do not matter
    small = jnp.max(jnp.abs(a)) < 1.0
    log_mgf_small = jnp.log1p(y @ jnp.expm1(jnp.where(small, a, 0.0)))
    log_mgf_large = jax.nn.logsumexp(a, b=y)
    log_mgf = jnp.where(small, log_mgf_small, log_mgf_large)
    return jnp.where(tau > 0, mean - log_mgf / safe_tau, mean)


def risk_adjusted_value(
    U: jax.Array, x: jax.Array, y: jax.Array, tau: jax.Array, eps: jax.Array
) -> jax.Array:
    """``V(x; y)`` of one player. ``U [n, m]`` own rows, ``x [n]`` own, ``y [m]`` partner."""
    return entropic_risk(U.T @ x, y, tau) + eps * entropy(x)


def adversary_tilt(U: jax.Array, x: jax.Array, y: jax.Array, tau: jax.Array) -> jax.Array:
    """``[m]`` the adversary's optimum ``p(b) ∝ y(b) exp(-tau (U^T x)_b)``."""
    s = U.T @ x
    s_min = jnp.min(jnp.where(y > 0, s, jnp.inf))
    w = y * jnp.exp(-tau * (s - s_min))  # exponent <= 0 on the support: no overflow
    return w / jnp.sum(w)


def adversary_objective(
    U: jax.Array, x: jax.Array, y: jax.Array, p: jax.Array, tau: jax.Array
) -> jax.Array:
    """What adversary p minimises: ``x^T U p + (1/tau) KL(p || y)`` (``tau > 0``)."""
    kl = jnp.sum(jax.scipy.special.rel_entr(p, y))
    return x @ U @ p + kl / tau


def _qbr_objective(x, params):
    U, y, tau, eps = params
    p = adversary_tilt(U, x, y, tau)  # the gradient of the risk term is U p
    value = risk_adjusted_value(U, x, y, tau, eps)
    grad = U @ p - eps * (jnp.log(x) + 1.0)
    cov = jnp.diag(p) - jnp.outer(p, p)
    hess = -tau * U @ cov @ U.T - eps * jnp.diag(1.0 / x)
    return value, grad, hess


def quantal_best_response(
    U: jax.Array, y: jax.Array, tau: jax.Array, eps: jax.Array
) -> jax.Array:
    """``[n]`` the unique ``argmax_x V(x; y)`` (``eps > 0``), solved by Newton on the simplex.

    Differentiable (implicit function theorem), so ``jax.jacfwd`` of an equilibrium residual that
    contains best responses is exact.
    """
    n = U.shape[0]
    # Start between uniform and the expectation-QRE response: strictly inside, usually close.
    warm = jax.nn.softmax(U @ y / eps)
    x0 = 0.5 * warm + 0.5 / n
    return maximize_on_simplex(_qbr_objective, (U, y, tau, eps), x0)


def fixed_point_distance(payoffs, x0, x1, tau,
                         eps) -> jax.Array:
    """``max_i max_a |x_i(a) - QBR_i(x_-i)(a)|``: how far a profile is from being an RQE (0 at
    one), measured in probabilities. Reported for learned strategies, where the RQE gap's
    utility units would hide a strategy that keeps swinging."""
    U0, U1 = own_payoffs(jnp.asarray(payoffs))
    tau = _per_player(tau, U0.dtype)
    eps = _per_player(eps, U0.dtype)
    br0 = quantal_best_response(U0, x1, tau[0], eps[0])
    br1 = quantal_best_response(U1, x0, tau[1], eps[1])
    return jnp.maximum(jnp.max(jnp.abs(x0 - br0)), jnp.max(jnp.abs(x1 - br1)))


def _per_player(v, dtype) -> jax.Array:
    return jnp.broadcast_to(jnp.asarray(v, dtype), (2,))


def _dtype(payoffs) -> jnp.dtype:
    return jnp.asarray(payoffs).dtype


def rqe_player_gaps(
    payoffs: jax.Array, x0: jax.Array, x1: jax.Array, tau, eps
) -> jax.Array:
    """``[2]`` each seat's ``max_x' V_i(x'; x_-i) - V_i(x_i; x_-i)`` (>= 0, 0 at an RQE)."""
    dtype = _dtype(payoffs)
    tau, eps = _per_player(tau, dtype), _per_player(eps, dtype)
    gaps = []
    for i, (U, x, y) in enumerate(zip(own_payoffs(payoffs), (x0, x1), (x1, x0))):
        br = quantal_best_response(U, y, tau[i], eps[i])
        gaps.append(
            risk_adjusted_value(U, br, y, tau[i], eps[i])
            - risk_adjusted_value(U, x, y, tau[i], eps[i])
        )
    return jnp.stack(gaps)


def rqe_gap(payoffs: jax.Array, x0: jax.Array, x1: jax.Array, tau, eps) -> jax.Array:
    """Scalar RQE gap: the sum over seats of ``rqe_player_gaps``."""
    return jnp.sum(rqe_player_gaps(payoffs, x0, x1, tau, eps))


# --- The fixed-point system in logits ------------------------------------------------------
# Unknowns: reduced logits w = [z_0[1:] - z_0[0], z_1[1:] - z_1[0]] of size n_0 - 1 + n_1 - 1.


def _full_logits(w: jax.Array, num_actions: Sequence[int]):
    n0 = num_actions[0]
    zero = jnp.zeros((1,), w.dtype)
    return jnp.concatenate([zero, w[: n0 - 1]]), jnp.concatenate([zero, w[n0 - 1 :]])


def _reduce(z: jax.Array) -> jax.Array:
    return z[1:] - z[0]


def profile_from_logits(w: jax.Array, num_actions: Sequence[int]):
    """``(x0 [n0], x1 [n1])`` from reduced logits ``w [n0 + n1 - 2]``."""
    z0, z1 = _full_logits(w, num_actions)
    return jax.nn.softmax(z0), jax.nn.softmax(z1)


def logits_from_profile(x0: jax.Array, x1: jax.Array) -> jax.Array:
    """Reduced logits of a strictly positive profile (inverse of ``profile_from_logits``)."""
    return jnp.concatenate([_reduce(jnp.log(x0)), _reduce(jnp.log(x1))])


def adversary_form_residual(w: jax.Array, params) -> jax.Array:
    """4-player stationarity: ``z_i - U_i p_i / eps_i`` (up to a constant), ``p_i`` the tilt."""
    payoffs, tau, eps = params
    z = _full_logits(w, payoffs.shape[1:])
    log_x = [jax.nn.log_softmax(z_i) for z_i in z]
    x = [jnp.exp(l) for l in log_x]
    res = []
    for i, U in enumerate(own_payoffs(payoffs)):
        p = jax.nn.softmax(log_x[1 - i] - tau[i] * (U.T @ x[i]))
        res.append(_reduce(z[i] - U @ p / eps[i]))
    return jnp.concatenate(res)


def entropic_form_residual(w: jax.Array, params) -> jax.Array:
    """2-player stationarity: ``log x_i - log BR_i(x_-i)`` (up to a constant), exact BRs."""
    payoffs, tau, eps = params
    z = _full_logits(w, payoffs.shape[1:])
    x = [jax.nn.softmax(z_i) for z_i in z]
    res = []
    for i, U in enumerate(own_payoffs(payoffs)):
        br = quantal_best_response(U, x[1 - i], tau[i], eps[i])
        res.append(_reduce(z[i] - jnp.log(br)))
    return jnp.concatenate(res)


_RESIDUALS = {"adversary": adversary_form_residual, "entropic": entropic_form_residual}


class RQESolutions(NamedTuple):
    """Solutions from many starts (leading axis S), padded: use ``distinct`` to select.

    x0 ``[S, n0]``, x1 ``[S, n1]``: the profiles; logits ``[S, n0 + n1 - 2]``: the same as
    reduced logits (exact even where a probability underflows); gap ``[S]``: RQE gap;
    residual ``[S]``: max-norm of the fixed-point residual; converged ``[S]``: residual and gap
    both below tolerance; distinct ``[S]``: converged and not a repeat of an earlier solution.
    """

    logits: jax.Array
    x0: jax.Array
    x1: jax.Array
    gap: jax.Array
    residual: jax.Array
    converged: jax.Array
    distinct: jax.Array


def first_occurrences(points: jax.Array, valid: jax.Array, tol: float) -> jax.Array:
    """``[S]`` True where ``points[k]`` is valid and no earlier valid point is within ``tol``."""
    dist = jnp.max(jnp.abs(points[:, None, :] - points[None, :, :]), axis=-1)
    earlier = jnp.tril(jnp.ones(dist.shape, bool), k=-1)
    repeat = jnp.any(earlier & valid[None, :] & (dist < tol), axis=1)
    return valid & ~repeat


def initial_logits(num_actions: Sequence[int], num_starts: int, seed: int = 0) -> np.ndarray:
    """``[S, n0 + n1 - 2]`` starting logits: uniform, near-pure corners, then random.

    Half the random starts are symmetric profiles when both seats have the same actions, so that
    symmetric equilibria of symmetric games (often unstable) are approached from their own
    invariant set.
    """
    n0, n1 = num_actions
    starts = [np.zeros(n0 + n1 - 2)]
    for a0 in range(n0):
        for a1 in range(n1):
            z0, z1 = 3.0 * np.eye(n0)[a0], 3.0 * np.eye(n1)[a1]
            starts.append(np.concatenate([z0[1:] - z0[0], z1[1:] - z1[0]]))
    rng = np.random.default_rng(seed)
    while len(starts) < num_starts:
        z0 = rng.normal(0.0, 2.0, n0)
        z1 = z0 if (n0 == n1 and len(starts) % 2 == 0) else rng.normal(0.0, 2.0, n1)
        starts.append(np.concatenate([z0[1:] - z0[0], z1[1:] - z1[0]]))
    return np.stack(starts[:num_starts])


def rqe_multistart(
    payoffs: jax.Array,
    tau,
    eps,
    init_logits: jax.Array,
    form: str = "adversary",
    max_iters: int = 100,
) -> RQESolutions:
    """Solve the RQE fixed-point system from every row of ``init_logits`` (vmapped).

    Args:
      payoffs: ``[2, n0, n1]``.
      tau, eps: scalars or ``[2]``; ``tau >= 0``, ``eps > 0``.
      init_logits: ``[S, n0 + n1 - 2]`` reduced starting logits (``initial_logits``).
      form: ``"adversary"`` (4-player) or ``"entropic"`` (2-player) fixed-point system.
    Returns:
      ``RQESolutions`` with leading axis S.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    payoffs = jnp.asarray(payoffs)
    dtype = payoffs.dtype
    params = (payoffs, _per_player(tau, dtype), _per_player(eps, dtype))
    init_logits = jnp.asarray(init_logits, dtype)
    residual_fn = _RESIDUALS[form]
    roots = jax.vmap(lambda w: solve_root(residual_fn, w, params, max_iters))(init_logits)
    x0, x1 = jax.vmap(lambda w: profile_from_logits(w, payoffs.shape[1:]))(roots.z)
    gap = jax.vmap(lambda a, b: rqe_gap(payoffs, a, b, params[1], params[2]))(x0, x1)
    tol = tolerance(dtype)
    converged = (roots.residual < tol) & (gap < 100 * tol)
    profiles = jnp.concatenate([x0, x1], axis=1)
    distinct = first_occurrences(profiles, converged, same_point_tol(dtype))
    return RQESolutions(roots.z, x0, x1, gap, roots.residual, converged, distinct)


class Equilibrium(NamedTuple):
    """One equilibrium on the host: seat 0's and seat 1's mixed strategies and the gap."""

    x0: np.ndarray
    x1: np.ndarray
    gap: float


def distinct_equilibria(x0, x1, gap, distinct) -> List[Equilibrium]:
    """The distinct solutions of one (unbatched) multistart, sorted by ``(x0, x1)``."""
    x0, x1, gap, distinct = (np.asarray(v) for v in (x0, x1, gap, distinct))
    found = [Equilibrium(x0[k], x1[k], float(gap[k])) for k in np.flatnonzero(distinct)]
    return sorted(found, key=lambda e: (tuple(np.round(e.x0, 8)), tuple(np.round(e.x1, 8))))


def check_parameters(tau, eps) -> None:
    """Raise ``ValueError`` unless every ``tau >= 0`` and ``eps > 0`` (finite)."""
    tau, eps = np.asarray(tau, np.float64), np.asarray(eps, np.float64)
    if not np.all(np.isfinite(tau)) or np.any(tau < 0):
        raise ValueError(f"tau must be finite and >= 0, got {tau}")
    if not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise ValueError(f"eps must be finite and > 0 (the quantal response needs it), got {eps}")


_rqe_multistart_grid_jit = jit_fast(
    jax.vmap(rqe_multistart, in_axes=(None, 0, 0, None, None, None)), static_argnums=(4, 5)
)

# Parameter grids are padded to a multiple of this, so that most calls reuse one compilation.
# The entropic form is ~100x slower per solve, so padding would cost more than compiling.
_GRID_BUCKET = {"adversary": 8, "entropic": 1}


def per_player_rows(values: Sequence, num: int, name: str) -> np.ndarray:
    """``[num, 2]`` float64 from ``num`` entries that are scalars or per-player pairs."""
    rows = np.asarray(values, np.float64)
    if rows.ndim == 1:
        rows = rows[:, None]
    if rows.ndim != 2 or rows.shape[0] != num or rows.shape[1] not in (1, 2):
        raise ValueError(f"{name}: expected {num} scalars or per-player pairs, got {rows.shape}")
    return np.broadcast_to(rows, (num, 2))


def pad_to_bucket(values: np.ndarray, bucket: int) -> np.ndarray:
    """Repeat the first row of ``values`` until its length is a multiple of ``bucket``."""
    extra = -len(values) % bucket
    return np.concatenate([values, np.repeat(values[:1], extra, axis=0)])


def rqe_equilibria_grid(
    payoffs,
    taus: Sequence,
    epss: Sequence,
    num_starts: int = 64,
    seed: int = 0,
    form: str = "adversary",
) -> List[List[Equilibrium]]:
    """``rqe_equilibria`` for each parameter pair ``(taus[k], epss[k])``, in one vmapped call.

    Args:
      taus, epss: equal-length sequences; each entry a scalar or a per-player pair.
    Returns:
      one sorted list of equilibria per parameter pair.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    check_parameters(taus, epss)
    payoffs = jnp.asarray(payoffs)
    num = len(taus)
    params = [per_player_rows(v, num, "taus" if v is taus else "epss") for v in (taus, epss)]
    tau, eps = (jnp.asarray(pad_to_bucket(v, _GRID_BUCKET[form]), payoffs.dtype) for v in params)
    starts = jnp.asarray(initial_logits(payoffs.shape[1:], num_starts, seed), payoffs.dtype)
    sol = _rqe_multistart_grid_jit(payoffs, tau, eps, starts, form, 100)
    return [
        distinct_equilibria(sol.x0[k], sol.x1[k], sol.gap[k], sol.distinct[k]) for k in range(num)
    ]


def rqe_equilibria(
    payoffs, tau, eps, num_starts: int = 64, seed: int = 0, form: str = "adversary"
) -> List[Equilibrium]:
    """All distinct RQE found from ``num_starts`` starts, sorted, each with its gap.

    Asymmetric equilibria are listed once per ordering: the collaborate/defect free-riding pair
    at small tau is two entries, ``(x0, x1)`` and ``(x1, x0)``.
    """
    return rqe_equilibria_grid(payoffs, [tau], [eps], num_starts, seed, form)[0]


def qre_equilibria(payoffs, eps, num_starts: int = 64, seed: int = 0) -> List[Equilibrium]:
    """All distinct logit QRE (RQE at ``tau = 0``)."""
    return rqe_equilibria(payoffs, 0.0, eps, num_starts, seed)


def best_response_iteration(
    payoffs: jax.Array,
    x0: jax.Array,
    x1: jax.Array,
    tau,
    eps,
    damping: float = 0.5,
    num_steps: int = 200,
):
    """Damped simultaneous quantal best-response dynamics from ``(x0, x1)``.

    ``x_i <- (1 - damping) x_i + damping BR_i(x_-i)``. Converges only to stable equilibria
    (e.g. it leaves the symmetric collaborate/defect RQE at small tau); ``rqe_multistart``
    finds all of them.

    Returns:
      ``(x0 [n0], x1 [n1])`` after ``num_steps`` steps.
    """
    dtype = jnp.asarray(payoffs).dtype
    tau, eps = _per_player(tau, dtype), _per_player(eps, dtype)
    U0, U1 = own_payoffs(payoffs)

    def step(carry, _):
        a, b = carry
        br0 = quantal_best_response(U0, b, tau[0], eps[0])
        br1 = quantal_best_response(U1, a, tau[1], eps[1])
        return ((1 - damping) * a + damping * br0, (1 - damping) * b + damping * br1), None

    (x0, x1), _ = jax.lax.scan(step, (x0, x1), None, length=num_steps)
    return x0, x1


def follow_path(
    payoffs: jax.Array,
    init_logits: jax.Array,
    taus: jax.Array,
    epss: jax.Array,
    form: str = "adversary",
    max_iters: int = 50,
):
    """Continuation: solve at each ``(taus[k], epss[k])`` warm-started from step k - 1.

    Args:
      init_logits: ``[n0 + n1 - 2]`` reduced logits near an equilibrium at ``(taus[0], epss[0])``.
      taus, epss: ``[K]`` (or ``[K, 2]``) parameter path.
    Returns:
      ``(logits [K, n0 + n1 - 2], residual [K])``; a residual above tolerance marks where the
      branch was lost (for example at a fold).
    """
    payoffs = jnp.asarray(payoffs)
    dtype = payoffs.dtype
    residual_fn = _RESIDUALS[form]

    def step(w, param):
        tau, eps = param
        params = (payoffs, _per_player(tau, dtype), _per_player(eps, dtype))
        root = solve_root(residual_fn, w, params, max_iters)
        return root.z, (root.z, root.residual)

    path = (jnp.asarray(taus, dtype), jnp.asarray(epss, dtype))
    _, (logits, residual) = jax.lax.scan(step, jnp.asarray(init_logits, dtype), path)
    return logits, residual


__all__ = [
    "FORMS",
    "Equilibrium",
    "RQESolutions",
    "adversary_form_residual",
    "adversary_objective",
    "adversary_tilt",
    "best_response_iteration",
    "check_parameters",
    "distinct_equilibria",
    "entropic_form_residual",
    "entropic_risk",
    "entropy",
    "first_occurrences",
    "follow_path",
    "initial_logits",
    "logits_from_profile",
    "pad_to_bucket",
    "per_player_rows",
    "profile_from_logits",
    "qre_equilibria",
    "quantal_best_response",
    "risk_adjusted_value",
    "rqe_equilibria",
    "rqe_equilibria_grid",
    "rqe_gap",
    "rqe_multistart",
    "rqe_player_gaps",
]
