"""Two numerical kernels shared by the solvers, both pure JAX and vmappable.

``maximize_on_simplex``: the unique maximiser of a strictly concave function over the open
simplex (quantal and smoothed best responses) by damped Newton in the simplex's affine hull,
steps taken multiplicatively so that iterates stay positive, with an implicit-function JVP so
that solvers can differentiate a best response with ``jax.jacfwd``.

``solve_root``: a root of a square system. Each iteration tries the Newton step and a
Levenberg-Marquardt step (damping shrinking with the residual, so it stays finite at singular
Jacobians such as bifurcation points) and keeps the trial point with the smallest residual.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple, Tuple, cast

import jax
import jax.numpy as jnp

# Step sizes tried by the line searches, all evaluated at once: 1, 1/2, ..., 2^-(n-1).
_BACKTRACKS_NEWTON = 16
_BACKTRACKS_ROOT = 24

# These programs are tiny and compile-bound: XLA's backend optimisations cost seconds of
# compilation for microseconds of run time. Host-level helpers jit with these options.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def jit_fast(fun=None, **kwargs):
    """``jax.jit`` with ``FAST_COMPILE`` options (usable as a decorator)."""
    if fun is None:
        return lambda f: jax.jit(f, compiler_options=FAST_COMPILE, **kwargs)
    return jax.jit(fun, compiler_options=FAST_COMPILE, **kwargs)


def tolerance(dtype) -> float:
    """Convergence tolerance for a float dtype: 1e-10 in float64, 1e-4 in float32."""
    return 1e-10 if jnp.finfo(dtype).bits == 64 else 1e-4


def same_point_tol(dtype) -> float:
    """Two solutions closer than this (max-norm) are one: 1e-6 in float64, 1e-3 in float32."""
    return 0.1 * tolerance(dtype) ** 0.5


def _newton_direction(x, grad, hess):
    """Solve ``H d + nu 1 = -grad, sum(d) = 0`` in the scaled variable ``d = sqrt(x) e``.

    The scaling keeps the system well conditioned when some ``x_j`` are tiny (the entropy's
    Hessian ``-eps / x_j`` is huge there): the scaled Hessian is ``-eps I + O(x)``.
    """
    root = jnp.sqrt(x)
    scaled = root[:, None] * hess * root[None, :]
    n = x.shape[0]
    system = jnp.block([[scaled, root[:, None]], [root[None, :], jnp.zeros((1, 1), x.dtype)]])
    rhs = jnp.concatenate([-root * grad, jnp.zeros((1,), x.dtype)])
    return root * jnp.linalg.solve(system, rhs)[:n]


@partial(jax.custom_jvp, nondiff_argnums=(0, 3))
def maximize_on_simplex(
    objective: Callable[[jax.Array, Any], Tuple[jax.Array, jax.Array, jax.Array]],
    params: Any,
    x0: jax.Array,
    max_iters: int = 100,
) -> jax.Array:
    """Maximise a strictly concave function over the probability simplex.

    The function must be smooth and strictly concave on the open simplex with its maximiser in
    the interior (an entropy bonus guarantees both). Iterates stay strictly positive, so
    ``log x`` is always defined.

    Args:
      objective: ``(x [n], params) -> (value [], gradient [n], Hessian [n, n])``; a static,
        hashable callable (derivatives by hand keep compilation fast).
      params: pytree of arrays the function depends on (differentiable).
      x0: ``[n]`` strictly positive starting point summing to 1.
      max_iters: Newton iterations at most (it stops once the Newton decrement is negligible).
    Returns:
      ``[n]`` the maximiser.
    """
    tol = jnp.finfo(x0.dtype).eps * 100.0
    floor = jnp.finfo(x0.dtype).tiny * 1e10
    steps = 0.5 ** jnp.arange(_BACKTRACKS_NEWTON, dtype=x0.dtype)
    value = lambda z: objective(z, params)[0]

    def body(carry):
        x, _, it = carry
        f0, grad, hess = objective(x, params)
        d = _newton_direction(x, grad, hess)
        slope = grad @ d  # >= 0: d ascends
        # Move along x * exp(t d / x): equal to x + t d to first order (so Newton converges
        # quadratically near the optimum), always positive, and a coordinate that Newton
        # would push through zero shrinks geometrically instead of blocking the others.
        rate = d / x
        trial_x = x[None, :] * jnp.exp(jnp.clip(steps[:, None] * rate[None, :], -600.0, 600.0))
        trial_x = trial_x / jnp.sum(trial_x, axis=1, keepdims=True)
        trial_x = jnp.maximum(trial_x, floor)  # no exact zeros: the entropy's log needs x > 0
        trial_f = jax.vmap(value)(trial_x)
        armijo = trial_f >= f0 + 1e-4 * steps * slope
        # Near the optimum the gain is below rounding: take the full step then.
        armijo = armijo.at[0].set(armijo[0] | (slope <= tol * (1.0 + jnp.abs(f0))))
        k = jnp.argmax(armijo)
        new_x = jnp.where(jnp.any(armijo), trial_x[k], x)
        return new_x, jnp.where(jnp.any(armijo), slope, 0.0), it + 1

    def cond(carry):
        _, slope, it = carry
        return (it < max_iters) & (slope > tol * tol)

    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.asarray(jnp.inf, x0.dtype), 0))
    return x


@maximize_on_simplex.defjvp
def _maximize_on_simplex_jvp(objective, max_iters, primals, tangents):
    params, x0 = primals
    params_dot, _ = tangents
    x = maximize_on_simplex(objective, params, x0, max_iters)
    # Implicit function theorem on grad_x f(x, params) - nu * 1 = 0, sum(x) = 1.
    _, grad_dot = jax.jvp(lambda p: objective(x, p)[1], (params,), (params_dot,))
    _, _, hess = objective(x, params)
    return x, _newton_direction(x, grad_dot, hess)


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

    Each iteration tries the Newton step and a Levenberg-Marquardt step (damping
    ``mu = 1e-3 * min(1, |r|) * scale``, finite where the Jacobian is singular), each at step
    sizes 1, 1/2, 1/4, ..., and moves to the trial point with the smallest ``|r|^2``.
    Convergence is ``max|r| < tol``; check ``residual`` before trusting ``z``.
    """
    tol = tolerance(z0.dtype) if tol is None else tol
    steps = 0.5 ** jnp.arange(_BACKTRACKS_ROOT, dtype=z0.dtype)
    max_abs = lambda r: jnp.max(jnp.abs(r), initial=0.0)

    def body(carry):
        z, r, it, _ = carry
        jac = jax.jacfwd(residual_fn)(z, params)
        jtj = jac.T @ jac
        scale = jnp.maximum(1.0, jnp.max(jnp.diag(jtj), initial=0.0))
        mu = 1e-3 * jnp.minimum(1.0, jnp.linalg.norm(r)) * scale
        newton = -jnp.linalg.solve(jac, r)
        damped = -jnp.linalg.solve(jtj + mu * jnp.eye(z.shape[0], dtype=z.dtype), jac.T @ r)
        damped = jnp.where(jnp.all(jnp.isfinite(damped)), damped, -jac.T @ r / scale)
        newton = jnp.where(jnp.all(jnp.isfinite(newton)), newton, damped)
        trial_z = z + steps[None, :, None] * jnp.stack([newton, damped])[:, None, :]
        trial_z = trial_z.reshape(-1, z.shape[0])
        trial_r = jax.vmap(lambda w: residual_fn(w, params))(trial_z)
        trial_phi = jnp.sum(trial_r**2, axis=1)
        trial_phi = jnp.where(jnp.isfinite(trial_phi), trial_phi, jnp.inf)
        k = jnp.argmin(trial_phi)
        # No decrease at all: a stationary point of the merit that is not a root; give up.
        stuck = ~(trial_phi[k] < jnp.sum(r**2))
        new_z = jnp.where(stuck, z, trial_z[k])
        new_r = jnp.where(stuck, r, trial_r[k])
        return new_z, new_r, it + 1, stuck

    def cond(carry):
        _, r, it, stuck = carry
        return (it < max_iters) & (max_abs(r) >= tol) & ~stuck

    r0 = residual_fn(z0, params)
    z, r, it, _ = jax.lax.while_loop(cond, body, (z0, r0, 0, jnp.asarray(False)))
    # ``it`` is the loop's traced counter, a device array (the type of the init value is int).
    return RootResult(z=z, residual=max_abs(r), iterations=cast(jax.Array, it))
