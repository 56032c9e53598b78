"""Gaussian RQE of continuous quadratic aggregative games (paper Theorem 4.1, Example 4.1).

Two players choose real actions; player i's utility is a shared reward minus a private cost,

    u_i(a_0, a_1) = -(w/2) (a_0 + a_1 - target)^2 - (c_i/2) a_i^2.

With entropic risk towards the partner (``tau``) and a differential-entropy bonus (``eps``),
the quantal best response to a Gaussian partner is Gaussian (the tilted partner is Gaussian and
the expected utility is quadratic in one's own action), so the RQE is found in the *game of
means*: each player picks a mean and a variance, valued in closed form through the Gaussian
moment generating function of a quadratic (``gaussian_value``). ``gaussian_rqe`` solves the
players' first-order conditions in (mean, log variance) numerically. The two-robots example
(``w = c_i = 1``) has the closed form ``variance = eps / 2``,
``mean = target / (3 - tau * eps / 2)`` for ``tau * eps < 2`` (``two_robots_closed_form``,
docs/solvers.md; the paper's main text prints ``3 - tau * eps``, its appendix the form used here).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jsrpo.equilibria.numerics import solve_root


class QuadraticAggregativeGame(NamedTuple):
    """Parameters of ``u_i = -(w/2)(a_0 + a_1 - target)^2 - (c_i/2) a_i^2`` (a pytree)."""

    target: jax.Array  # []
    shared_weight: jax.Array  # [] w > 0
    private_cost: jax.Array  # [2] c_i >= 0


def two_robots(target: float = 1.0) -> QuadraticAggregativeGame:
    """Paper Example 4.1: shared reward ``-(a_0 + a_1 - target)^2 / 2``, cost ``a_i^2 / 2``."""
    return QuadraticAggregativeGame(
        jnp.asarray(target), jnp.asarray(1.0), jnp.asarray([1.0, 1.0])
    )


def _neg_log1m_over(x):
    """``-log(1 - x) / x`` with its limit 1 at ``x = 0``."""
    safe = jnp.where(x == 0, 1.0, x)
    return jnp.where(x == 0, 1.0, -jnp.log1p(-safe) / safe)


def gaussian_value(game: QuadraticAggregativeGame, i: int, own, partner, tau, eps) -> jax.Array:
    """``V_i`` of ``N(own)`` against ``N(partner)``: entropic risk plus differential entropy.

    Args:
      i: the seat (0 or 1), static.
      own, partner: ``(mean, variance)`` pairs.
    Returns:
      ``-(1/tau) log E_b exp(-tau E_a u_i(a, b)) + eps * H(N(own))``; ``nan`` where the risk is
      infinite (``tau * w * partner_variance >= 1``).
    """
    m_i, v_i = own
    m_j, v_j = partner
    w, target = game.shared_weight, game.target
    c = game.private_cost[i]
    # E_a u_i(a, b) = -(w/2) b^2 - w (m_i - target) b + const.
    const = -(w / 2) * ((m_i - target) ** 2 + v_i) - (c / 2) * (m_i**2 + v_i)
    lin = w * (m_i - target)
    x = tau * w * v_j
    # (1/tau) log E exp(tau (w/2) b^2 + tau lin b) for b ~ N(m_j, v_j), finite as tau -> 0.
    log_mgf_over_tau = (w * v_j / 2) * _neg_log1m_over(x) + (
        (w / 2) * m_j**2 + lin * m_j + tau * lin**2 * v_j / 2
    ) / (1.0 - x)
    risk = const - log_mgf_over_tau  # log1p(-x) is nan for x > 1, and so are its gradients
    return risk + eps * 0.5 * jnp.log(2 * jnp.pi * jnp.e * v_i)


def _first_order_conditions(z, params):
    """Each player's gradient in its own (mean, log variance); ``z = [m_0, s_0, m_1, s_1]``."""
    game, tau, eps = params
    strategies = [(z[0], jnp.exp(z[1])), (z[2], jnp.exp(z[3]))]
    grads = []
    for i in range(2):
        own_value = lambda q: gaussian_value(
            game, i, (q[0], jnp.exp(q[1])), strategies[1 - i], tau, eps
        )
        grads.append(jax.grad(own_value)(z[2 * i : 2 * i + 2]))
    return jnp.concatenate(grads)


class GaussianRQE(NamedTuple):
    mean: jax.Array  # [2]
    variance: jax.Array  # [2]
    residual: jax.Array  # [] max-norm of the first-order conditions


def gaussian_rqe(game: QuadraticAggregativeGame, tau, eps) -> GaussianRQE:
    """The Gaussian RQE from the game of means (``V_i`` is concave in own mean and variance)."""
    dtype = jnp.result_type(float)
    tau, eps = jnp.asarray(tau, dtype), jnp.asarray(eps, dtype)
    # Start at mean 0 with a variance small enough for the risk to be finite.
    s0 = jnp.log(0.5 / (1.0 + tau * game.shared_weight))
    z0 = jnp.stack([0.0, s0, 0.0, s0]).astype(dtype)
    root = solve_root(_first_order_conditions, z0, (game, tau, eps))
    z = root.z
    return GaussianRQE(z[0::2], jnp.exp(z[1::2]), root.residual)


def gaussian_best_response(game: QuadraticAggregativeGame, i: int, partner, tau, eps):
    """``(mean, variance)`` of seat i's quantal best response to ``N(partner)``, numerically."""
    dtype = jnp.result_type(float)
    own_fn = lambda q, p: jax.grad(
        lambda r: gaussian_value(game, i, (r[0], jnp.exp(r[1])), partner, tau, eps)
    )(q)
    root = solve_root(own_fn, jnp.zeros(2, dtype), None)
    return root.z[0], jnp.exp(root.z[1])


def two_robots_closed_form(target, tau, eps):
    """``(mean, variance)`` of the symmetric two-robots RQE; valid for ``tau * eps < 2``."""
    return target / (3.0 - tau * eps / 2.0), eps / 2.0


def expected_shared_reward(game: QuadraticAggregativeGame, mean, variance) -> jax.Array:
    """``E[-(w/2)(a_0 + a_1 - target)^2]`` for independent Gaussian actions."""
    return -(game.shared_weight / 2) * ((mean[0] + mean[1] - game.target) ** 2 + jnp.sum(variance))


def expected_utilities(game: QuadraticAggregativeGame, mean, variance) -> jax.Array:
    """``[2]`` each player's expected utility (shared reward minus its private cost)."""
    shared = expected_shared_reward(game, mean, variance)
    return shared - (game.private_cost / 2) * (mean**2 + variance)
