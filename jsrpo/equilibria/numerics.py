"""Two numerical kernels shared by the solvers, both pure JAX and vmappable.

``maximize_on_simplex``: the unique maximiser of a strictly concave value over the open simplex
(quantal and smoothed best responses), by damped Newton in the simplex's affine hull, with an
implicit-function JVP so that solvers can differentiate a best response with ``jax.jacfwd``.

``solve_root``: a root of a square system by Levenberg-Marquardt (damping proportional to the
residual norm, so the iteration is Newton near a regular root and stays well-defined at
bifurcation points), with a backtracking line search on the squared residual.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

# Step sizes tried by the line searches: 1, 1/2, ..., 2^-29 (all evaluated at once).
_NUM_BACKTRACKS = 30


def tolerance(dtype) -> float:
    """Convergence tolerance for a float dtype: 1e-10 in float64, 1e-4 in float32."""
    return 1e-10 if jnp.finfo(dtype).bits == 64 else 1e-4


def _kkt_matrix(hess: jax.Array) -> jax.Array:
    """``[[H, 1], [1^T, 0]]``: Newton system restricted to ``sum(dx) = 0``."""
    n = hess.shape[0]
    ones = jnp.ones((n, 1), hess.dtype)
    top = jnp.concatenate([hess, ones], axis=1)
    bottom = jnp.concatenate([ones.T, jnp.zeros((1, 1), hess.dtype)], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def _newton_direction(value_fn, x, params):
    grad = jax.grad(value_fn)(x, params)
    hess = jax.hessian(value_fn)(x, params)
    rhs = jnp.concatenate([-grad, jnp.zeros((1,), x.dtype)])
    direction = jnp.linalg.solve(_kkt_matrix(hess), rhs)[:-1]
    return grad, direction


@partial(jax.custom_jvp, nondiff_argnums=(0, 3))
def maximize_on_simplex(
    value_fn: Callable[[jax.Array, Any], jax.Array], params: Any, x0: jax.Array, max_iters: int = 100
) -> jax.Array:
    """Maximise ``value_fn(x, params)`` over the probability simplex.

    ``value_fn`` must be smooth and strictly concave on the open simplex with its maximiser in
    the interior (an entropy bonus guarantees both). Every iterate stays strictly positive
    (fraction-to-boundary rule), so ``log x`` is always defined.

    Args:
      value_fn: ``(x [n], params) -> scalar``; a static, hashable callable.
      params: pytree of arrays the value depends on (differentiable).
      x0: ``[n]`` strictly positive starting point summing to 1.
      max_iters: Newton iterations at most (it stops once the Newton decrement is negligible).
    Returns:
      ``[n]`` the maximiser.
    """
    tol = jnp.finfo(x0.dtype).eps * 100.0
    steps = 0.5 ** jnp.arange(_NUM_BACKTRACKS, dtype=x0.dtype)

    def body(carry):
        x, _, it = carry
        grad, d = _newton_direction(value_fn, x, params)
        slope = grad @ d  # >= 0: d ascends
        shrink = jnp.where(d < 0, x / jnp.where(d < 0, -d, 1.0), jnp.inf)
        t0 = jnp.minimum(1.0, 0.995 * jnp.min(shrink))
        trial_t = t0 * steps
        trial_x = x[None, :] + trial_t[:, None] * d[None, :]
        f0 = value_fn(x, params)
        trial_f = jax.vmap(lambda z: value_fn(z, params))(trial_x)
        armijo = trial_f >= f0 + 1e-4 * trial_t * slope
        # Near the optimum the gain is below rounding: take the full step then.
        armijo = armijo.at[0].set(armijo[0] | (slope <= tol * (1.0 + jnp.abs(f0))))
        t = jnp.where(jnp.any(armijo), trial_t[jnp.argmax(armijo)], 0.0)
        new_x = x + t * d
        new_x = new_x / jnp.sum(new_x)
        return new_x, slope, it + 1

    def cond(carry):
        _, slope, it = carry
        return (it < max_iters) & (slope > tol * tol)

    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.asarray(jnp.inf, x0.dtype), 0))
    return x


@maximize_on_simplex.defjvp
def _maximize_on_simplex_jvp(value_fn, max_iters, primals, tangents):
    params, x0 = primals
    params_dot, _ = tangents
    x = maximize_on_simplex(value_fn, params, x0, max_iters)
    # Implicit function theorem on grad_x f(x, params) - nu * 1 = 0, sum(x) = 1.
    grad_fn = lambda p: jax.grad(value_fn)(x, p)
    _, grad_dot = jax.jvp(grad_fn, (params,), (params_dot,))
    hess = jax.hessian(value_fn)(x, params)
    rhs = jnp.concatenate([-grad_dot, jnp.zeros((1,), x.dtype)])
    x_dot = jnp.linalg.solve(_kkt_matrix(hess), rhs)[:-1]
    return x, x_dot


class RootResult(NamedTuple):
    z: jax.Array  # [d] the last iterate
    residual: jax.Array  # [] max-norm of the residual at z
    iterations: jax.Array  # [] int


def solve_root(
    residual_fn: Callable[[jax.Array, Any], jax.Array],
    z0: jax.Array,
    params: Any,
    max_iters: int = 100,
    tol: float | None = None,
) -> RootResult:
    """Find ``z`` with ``residual_fn(z, params) = 0`` (square system) from ``z0``.

    Levenberg-Marquardt with damping ``mu = min(1, |r|) * 1e-3 * scale``: Newton's quadratic
    convergence at a regular root, a finite step where the Jacobian is singular.
    Convergence is ``max|r| < tol``; check ``residual`` before trusting ``z``.
    """
    tol = tolerance(z0.dtype) if tol is None else tol
    steps = 0.5 ** jnp.arange(_NUM_BACKTRACKS, dtype=z0.dtype)
    merit = lambda z: jnp.sum(residual_fn(z, params) ** 2)

    def body(carry):
        z, _, it = carry
        r = residual_fn(z, params)
        jac = jax.jacfwd(residual_fn)(z, params)
        jtj = jac.T @ jac
        scale = jnp.maximum(1.0, jnp.max(jnp.diag(jtj)))
        mu = 1e-3 * jnp.minimum(1.0, jnp.linalg.norm(r)) * scale
        d = -jnp.linalg.solve(jtj + mu * jnp.eye(z.shape[0], dtype=z.dtype), jac.T @ r)
        d = jnp.where(jnp.all(jnp.isfinite(d)), d, -jac.T @ r / scale)
        phi0 = jnp.sum(r**2)
        trial_phi = jax.vmap(lambda t: merit(z + t * d))(steps)
        trial_phi = jnp.where(jnp.isfinite(trial_phi), trial_phi, jnp.inf)
        ok = trial_phi <= (1.0 - 1e-4 * steps) * phi0
        best = jnp.argmin(trial_phi)
        t = jnp.where(
            jnp.any(ok), steps[jnp.argmax(ok)], jnp.where(trial_phi[best] < phi0, steps[best], 0.0)
        )
        new_z = z + t * d
        new_r = jnp.max(jnp.abs(residual_fn(new_z, params)))
        # A zero step means a stationary point of the merit that is not a root: give up.
        stuck = t == 0.0
        return new_z, jnp.where(stuck, -new_r - 1.0, new_r), jnp.where(stuck, max_iters, it + 1)

    def cond(carry):
        _, r, it = carry
        return (it < max_iters) & (r >= tol)

    r0 = jnp.max(jnp.abs(residual_fn(z0, params)))
    z, r, it = jax.lax.while_loop(cond, body, (z0, r0, 0))
    return RootResult(z=z, residual=jnp.abs(jnp.max(jnp.abs(residual_fn(z, params)))), iterations=it)
