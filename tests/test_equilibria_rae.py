"""Mean-variance RAE and the two-robots Gaussian RQE (definitions in docs/solvers.md).

All in float64.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jsrpo.equilibria import aggregative, rae, rqe
from jsrpo.equilibria.games import get_game
from jsrpo.equilibria.numerics import jit_fast


@pytest.fixture(autouse=True, scope="module")
def float64():
    with jax.enable_x64(True):
        yield


# Jitted once and shared (eager while-loops and scans would be slow).
best_response = jit_fast(rae.risk_averse_best_response)
utility = jit_fast(rae.mean_variance_utility)
player_gaps = jit_fast(rae.rae_player_gaps)
symmetric_fp = jit_fast(
    jax.vmap(rae.fictitious_play_symmetric, in_axes=(None, 0, 0, None)), static_argnums=(3,)
)

# Reference values: symmetric mixed RAE of the car game, gamma -> (P(Overtake), P(crash), ratio).
CAR_TABLE = {
    0.01: (0.18105, 0.03278, 1.6),
    0.1: (0.08017, 0.00643, 8.3),
    1.0: (0.01765, 0.00031, 171),
}
NASH_OVERTAKE = 3 / 13


def car():
    return jnp.asarray(get_game("car_overtake").payoffs)


def test_car_game_rae_table():
    gammas = [0.0] + list(CAR_TABLE)
    for gamma, eqs in zip(gammas, rae.rae_equilibria_grid(car(), gammas)):
        # (Stay, Overtake), the symmetric mixed RAE, (Overtake, Stay): pure Nash are RAE too.
        assert len(eqs) == 3 and all(e.gap < 1e-10 for e in eqs)
        mixed = eqs[1]
        np.testing.assert_allclose(mixed.x0, mixed.x1, atol=1e-12)
        q = mixed.x0[1]
        if gamma == 0.0:
            np.testing.assert_allclose(q, NASH_OVERTAKE, atol=1e-12)
            sigma = rae.opponent_covariance(car()[0], jnp.asarray(mixed.x1))
            np.testing.assert_allclose(mixed.x0 @ sigma @ mixed.x0, 71.006, atol=5e-4)
            continue
        overtake, crash, ratio = CAR_TABLE[gamma]
        np.testing.assert_allclose(q, overtake, atol=5e-6)
        np.testing.assert_allclose(q**2, crash, atol=5e-6)
        np.testing.assert_allclose(NASH_OVERTAKE**2 / q**2, ratio, rtol=0.03)
        # The closed-form condition of the reference solution.
        assert abs(15 - 65 * q - 130 * gamma * q * (1 - q) * (5 + 65 * q)) < 1e-9


def test_symmetric_fictitious_play_reaches_the_car_rae_from_uniform():
    gammas = jnp.asarray(list(CAR_TABLE))
    starts = jnp.full((3, 2), 0.5)
    paths = symmetric_fp(car()[0], starts, gammas, 20000)
    for k, (overtake, crash, _) in enumerate(CAR_TABLE.values()):
        q = paths[k, -1, 1]
        np.testing.assert_allclose(q, overtake, atol=5e-5)
        np.testing.assert_allclose(q**2, crash, atol=5e-5)


def test_stag_hunt_selection_by_symmetric_fictitious_play():
    M = jnp.asarray(get_game("stag_hunt").payoffs[0])
    cases = {(0.70, 0.0): "Stag", (0.70, 0.1): "Hare", (0.85, 0.0): "Stag", (0.85, 0.1): "Stag"}
    starts = jnp.asarray([[p, 1 - p] for p, _ in cases])
    gammas = jnp.asarray([g for _, g in cases])
    finals = symmetric_fp(M, starts, gammas, 20000)[:, -1, 0]
    for (case, expected), p_stag in zip(cases.items(), finals):
        selected = "Stag" if p_stag > 0.999 else "Hare" if p_stag < 0.001 else "mixed"
        assert selected == expected, case


@pytest.mark.parametrize("name", ["rock_paper_scissors", "matching_pennies"])
def test_uniform_is_the_rae_of_zero_sum_cycles(name):
    payoffs = jnp.asarray(get_game(name).payoffs)
    n = payoffs.shape[1]
    uniform = jnp.full((n,), 1.0 / n)
    for gamma in (0.0, 0.1, 1.0, 10.0):
        assert np.all(np.abs(player_gaps(payoffs, uniform, uniform, gamma)) < 1e-12)
    # Away from uniform the gap is clearly positive.
    skewed = jnp.asarray(np.eye(n)[0] * 0.5 + 0.5 / n)
    assert np.sum(player_gaps(payoffs, skewed, uniform, 1.0)) > 1e-2
    if n == 2:  # and the search over all support pairs finds nothing else
        for eqs in rae.rae_equilibria_grid(payoffs, [0.0, 0.1, 1.0, 10.0]):
            assert len(eqs) == 1
            np.testing.assert_allclose(eqs[0].x0, uniform, atol=1e-10)
            np.testing.assert_allclose(eqs[0].x1, uniform, atol=1e-10)


def test_exact_best_response_beats_a_generic_optimiser():
    rng = np.random.default_rng(0)
    for gamma in (0.0, 0.05, 0.5, 5.0):
        M, y = rng.normal(size=(4, 4)), rng.dirichlet(np.ones(4))
        x = best_response(M, y, gamma)
        value = float(utility(M, x, y, gamma))
        sigma = np.asarray(rae.opponent_covariance(M, y))
        res = scipy.optimize.minimize(
            lambda z: -(z @ M @ y - gamma * z @ sigma @ z),
            np.full(4, 0.25),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * 4,
            constraints=[{"type": "eq", "fun": lambda z: np.sum(z) - 1.0}],
            options={"ftol": 1e-14},
        )
        assert value >= -res.fun - 1e-9
        samples = rng.dirichlet(np.ones(4), size=2000)
        sampled = samples @ M @ y - gamma * np.einsum("ki,ij,kj->k", samples, sigma, samples)
        assert value >= sampled.max() - 1e-12
    # Smoothed best responses approach the exact one as the temperature vanishes.
    temperature = 1e-6  # the smoothed optimum loses at most temperature * log(n)
    smoothed = jit_fast(rae.smoothed_best_response)(M, y, 5.0, temperature)
    assert float(utility(M, smoothed, y, 5.0)) > value - temperature * np.log(4) - 1e-12


def test_two_population_fictitious_play_and_batched_best_responses():
    payoffs = jnp.asarray(get_game("stag_hunt").payoffs)
    p0, p1 = jit_fast(rae.fictitious_play, static_argnums=(4,))(
        payoffs, jnp.array([0.9, 0.1]), jnp.array([0.8, 0.2]), 0.1, 2000
    )
    assert p0[-1, 0] > 0.999 and p1[-1, 0] > 0.999
    assert np.sum(player_gaps(payoffs, jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), 0.1)) == 0.0
    rng = np.random.default_rng(2)
    M = jnp.asarray(rng.normal(size=(6, 2, 2)))
    y = jnp.asarray(rng.dirichlet(np.ones(2), size=6))
    gammas = jnp.linspace(0.0, 2.0, 6)
    batched = jit_fast(jax.vmap(rae.risk_averse_best_response))(M, y, gammas)
    for k in range(6):
        np.testing.assert_allclose(batched[k], best_response(M[k], y[k], gammas[k]), atol=1e-13)


def test_two_robots_gaussian_rqe_matches_the_closed_form():
    game = aggregative.two_robots(target=1.0)
    eps = 0.4
    tau = jnp.linspace(0.0, 4.9, 50)  # tau * eps up to 1.96 < 2
    sols = jit_fast(jax.vmap(aggregative.gaussian_rqe, in_axes=(None, 0, None)))(game, tau, eps)
    mean, var = aggregative.two_robots_closed_form(1.0, tau, eps)
    assert np.all(sols.residual < 1e-9)
    np.testing.assert_allclose(sols.mean, np.stack([mean, mean], 1), atol=1e-9)
    np.testing.assert_allclose(sols.variance, eps / 2, atol=1e-9)
    per_tau = lambda f: jax.vmap(f, in_axes=(None, 0, 0))(game, sols.mean, sols.variance)
    shared = per_tau(aggregative.expected_shared_reward)
    utility = per_tau(aggregative.expected_utilities)
    assert np.all(np.diff(shared) > 0)  # shared reward rises strictly with tau
    peak = float(tau[np.argmax(utility[:, 0])] * eps)
    assert abs(peak - 1.0) < 0.05  # per-player utility peaks at tau * eps = 1


def test_gaussian_best_response_is_the_best_response_among_all_distributions():
    # Discretise the action line and solve seat 0's quantal best response to a Gaussian
    # partner exactly as a matrix game; it matches the Gaussian best response of the game of
    # means (mean and variance), so restricting to Gaussians loses nothing.
    game = aggregative.two_robots(target=1.0)
    tau, eps, partner = 2.0, 0.2, (0.3, 0.1)
    grid = jnp.linspace(-1.5, 2.5, 121)
    y = jnp.exp(-((grid - partner[0]) ** 2) / (2 * partner[1]))
    y = y / jnp.sum(y)
    a, b = grid[:, None], grid[None, :]
    U = -0.5 * (a + b - 1.0) ** 2 - 0.5 * a**2
    x = jit_fast(rqe.quantal_best_response)(U, y, tau, eps)
    mean = x @ grid
    best_response_of_means = jit_fast(aggregative.gaussian_best_response, static_argnums=(1,))
    mean_ref, var_ref = best_response_of_means(game, 0, partner, tau, eps)
    np.testing.assert_allclose(mean, mean_ref, atol=1e-4)
    np.testing.assert_allclose(x @ (grid - mean) ** 2, var_ref, rtol=2e-3)
