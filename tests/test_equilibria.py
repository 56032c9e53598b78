"""Exact RQE / QRE / Nash solvers against published reference values, nashpy and first
principles (float64).

Solvers are jitted once per game shape and parameter bucket, so tests share compilations:
keep payoff shapes and grid sizes as they are when adding cases.
"""
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import nashpy
import numpy as np
import pytest
import scipy.optimize

from jsrpo import cli
from jsrpo.equilibria import nash, rqe
from jsrpo.equilibria.games import GameError, get_game, load_game, own_payoffs
from jsrpo.equilibria.numerics import jit_fast

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def float64():
    with jax.enable_x64(True):
        yield


# Reference values (collaborate/defect, cost 0.4): P(C) of the symmetric RQE and of the
# free-riding pair, eps = 0.2.
RQE_TABLE = {
    0.0: (0.5555, (0.1952, 0.8833)),
    0.5: (0.5837, (0.2802, 0.8425)),
    0.8: (0.5988, (0.4826, 0.7063)),
    1.0: (0.6082, None),
    2.0: (0.6486, None),
    5.0: (0.7268, None),
    10.0: (0.7942, None),
    20.0: (0.8550, None),
}


def collab_payoffs():
    return jnp.asarray(get_game("collab_defect").payoffs)


# Jitted once and shared by the tests below (eager while-loops would be slow).
player_gaps = jit_fast(rqe.rqe_player_gaps)
br_iteration = jit_fast(rqe.best_response_iteration, static_argnames=("num_steps",))


def test_collab_defect_rqe_reference_table():
    taus = list(RQE_TABLE)
    found = rqe.rqe_equilibria_grid(collab_payoffs(), taus, [0.2] * len(taus))
    for tau, eqs in zip(taus, found):
        symmetric, pair = RQE_TABLE[tau]
        expected = [(symmetric, symmetric)]
        if pair is not None:  # both orderings of the free-riding pair are listed
            expected = sorted(expected + [pair, pair[::-1]])
        got = [(e.x0[0], e.x1[0]) for e in eqs]
        assert len(got) == len(expected), (tau, got)
        np.testing.assert_allclose(got, expected, atol=5e-5, err_msg=f"tau={tau}")
        # The gap is measured with the entropic value V and exact best responses: the
        # adversary-form roots are RQE in the 2-player sense.
        assert all(abs(e.gap) < 1e-10 for e in eqs)


def test_gap_is_positive_away_from_equilibrium():
    uniform = jnp.array([0.5, 0.5])
    assert np.all(player_gaps(collab_payoffs(), uniform, uniform, 0.0, 0.2) > 1e-3)
    # A near miss (an equilibrium moved by 1e-3) is flagged too: the gap is quadratic in it.
    sym = jnp.array([0.5554537, 0.4445463])
    near = sym + jnp.array([1e-3, -1e-3])
    assert np.sum(player_gaps(collab_payoffs(), sym, sym, 0.0, 0.2)) < 1e-12
    assert np.sum(player_gaps(collab_payoffs(), near, sym, 0.0, 0.2)) > 1e-7


def test_entropic_form_has_the_same_equilibria():
    # The reference-table test shows that the 4-player (adversary) roots are RQE of the 2-player
    # form (gap 0 under V with exact best responses). Conversely the 2-player fixed-point
    # system, x_i = BR_i(x_-i) with best responses from maximising V, vanishes at those roots,
    # and the 2-player best-response dynamics converge to them (next test).
    # experiments/solver_collab_defect.py runs the 2-player form's own multistart root finding
    # over the whole tau range and finds the same sets (too slow to compile for this suite).
    payoffs = collab_payoffs()
    residual = jit_fast(jax.vmap(rqe.entropic_form_residual, in_axes=(0, None)))
    for tau in (0.0, 0.8, 5.0):
        params = (payoffs, jnp.full(2, tau), jnp.full(2, 0.2))
        eqs = rqe.rqe_equilibria(payoffs, tau, 0.2)
        roots = jnp.stack([rqe.logits_from_profile(e.x0, e.x1) for e in eqs])
        assert np.max(np.abs(residual(roots, params))) < 1e-9
        assert np.min(np.abs(residual(roots + 1e-3, params))) > 1e-5


def test_best_response_dynamics_leave_the_unstable_symmetric_rqe():
    # The symmetric RQE at tau = 0 is found by root finding, but damped best-response
    # iteration started next to it runs off to the free-riding pair; at tau = 10 it is stable.
    eqs = rqe.rqe_equilibria(collab_payoffs(), 0.0, 0.2)
    sym = next(e for e in eqs if abs(e.x0[0] - e.x1[0]) < 1e-9)
    nudged = jnp.asarray(sym.x0) + jnp.array([1e-3, -1e-3])
    x0, x1 = br_iteration(collab_payoffs(), nudged, jnp.asarray(sym.x1), 0.0, 0.2, num_steps=200)
    np.testing.assert_allclose([x0[0], x1[0]], [eqs[-1].x0[0], eqs[-1].x1[0]], atol=1e-10)
    x0, x1 = br_iteration(collab_payoffs(), nudged, jnp.asarray(sym.x1), 10.0, 0.2, num_steps=200)
    np.testing.assert_allclose([x0[0], x1[0]], [0.7942, 0.7942], atol=5e-5)


def test_adversary_optimum_is_the_exponential_tilt():
    rng = np.random.default_rng(0)
    for tau in (0.3, 2.0, 8.0):
        U = rng.normal(size=(3, 4))
        x, y = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(4))

        def objective(p):  # x^T U p + KL(p || y) / tau, in numpy, minimised by SLSQP
            p = np.clip(p, 1e-300, None)
            return x @ U @ p + np.sum(p * np.log(p / y)) / tau

        res = scipy.optimize.minimize(
            objective,
            np.full(4, 0.25),
            method="SLSQP",
            bounds=[(1e-12, 1.0)] * 4,
            constraints=[{"type": "eq", "fun": lambda p: np.sum(p) - 1.0}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        tilt = rqe.adversary_tilt(U, x, y, tau)
        np.testing.assert_allclose(res.x, tilt, atol=1e-5)
        # Duality: the adversary's optimal value is the entropic risk term of V.
        risk = rqe.entropic_risk(U.T @ x, y, tau)
        np.testing.assert_allclose(objective(np.asarray(tilt)), risk, atol=1e-12)
        np.testing.assert_allclose(rqe.adversary_objective(U, x, y, tilt, tau), risk, atol=1e-12)
        assert res.fun >= float(risk) - 1e-12


def test_entropic_risk_tends_to_the_expectation():
    s, y = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.2, 0.3, 0.5])
    mean, var = y @ s, y @ (s - y @ s) ** 2
    for tau in (1e-3, 1e-6):  # second-order expansion: mean - tau var / 2
        expansion = mean - tau * var / 2
        np.testing.assert_allclose(rqe.entropic_risk(s, y, tau), expansion, atol=10 * tau**2)
    assert rqe.entropic_risk(s, y, 0.0) == mean


def test_vmapped_and_unbatched_calls_agree():
    rng = np.random.default_rng(1)
    U = jnp.asarray(rng.normal(size=(5, 2, 2)))
    y = jnp.asarray(rng.dirichlet(np.ones(2), size=5))
    taus, epss = jnp.array([0.0, 0.5, 1.0, 3.0, 9.0]), jnp.array([0.05, 0.1, 0.2, 0.5, 1.0])
    batched = jit_fast(jax.vmap(rqe.quantal_best_response))(U, y, taus, epss)
    single = jit_fast(rqe.quantal_best_response)
    for k in range(5):
        np.testing.assert_allclose(batched[k], single(U[k], y[k], taus[k], epss[k]), atol=1e-13)
    games = jnp.asarray(rng.normal(size=(5, 2, 2, 2)))
    sols = jit_fast(jax.vmap(nash.support_enumeration))(games)
    for k in range(5):
        ref = nash._support_enumeration_jit(games[k])
        np.testing.assert_array_equal(sols.distinct[k], ref.distinct)
        np.testing.assert_allclose(sols.x0[k], ref.x0, atol=1e-12)
    # Parameter grids are vmapped too: one call over taus equals one call per tau.
    taus = [0.0, 0.8, 10.0]
    grid = rqe.rqe_equilibria_grid(collab_payoffs(), taus, [0.2] * 3)
    for tau, found in zip(taus, grid):
        one = rqe.rqe_equilibria(collab_payoffs(), tau, 0.2)
        np.testing.assert_allclose([e.x0 for e in found], [e.x0 for e in one], atol=1e-12)


def _rounded(pairs):
    return sorted((tuple(np.round(a, 8)), tuple(np.round(b, 8))) for a, b in pairs)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4)])
def test_support_enumeration_matches_nashpy(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(6):
        payoffs = rng.normal(size=(2, *shape))
        ours = nash.nash_equilibria(jnp.asarray(payoffs))
        assert all(e.gap < 1e-10 for e in ours)
        got = _rounded((e.x0, e.x1) for e in ours)
        assert len(got) % 2 == 1  # nondegenerate games have an odd number of equilibria
        game = nashpy.Game(*payoffs)
        # nashpy's support enumeration tests floats exactly (prob >= 0, max == max), so on random
        # games it sometimes drops a genuine equilibrium (and warns "degenerate"): every one it
        # returns must be ours, and its vertex enumeration must give exactly our set.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert set(_rounded(game.support_enumeration())) <= set(got)
        assert got == _rounded(game.vertex_enumeration())


def test_nash_enumeration_and_rqe_limit_on_named_games():
    payoffs = collab_payoffs()
    exact = nash.nash_equilibria(payoffs)
    limit = nash.nash_limit(payoffs, eps=1e-3)
    assert len(limit) == len(exact) == 3
    for e, l in zip(exact, limit):
        np.testing.assert_allclose(l.x0, e.x0, atol=1e-3)
        np.testing.assert_allclose(l.x1, e.x1, atol=1e-3)
        assert l.gap < 1e-3
    car = nash.nash_equilibria(jnp.asarray(get_game("car_overtake").payoffs))
    assert len(car) == 3
    mixed = next(e for e in car if 0 < e.x0[1] < 1)
    np.testing.assert_allclose(mixed.x0[1], 3 / 13, atol=1e-12)
    np.testing.assert_allclose(mixed.x0[1] ** 2, 0.0533, atol=5e-5)  # crash probability


def test_registry_games():
    rps = get_game("rock_paper_scissors")
    np.testing.assert_array_equal(rps.payoffs[0] + rps.payoffs[1], 0.0)
    U0, U1 = own_payoffs(jnp.asarray(rps.payoffs))
    np.testing.assert_array_equal(U0, U1)  # symmetric zero-sum
    assert rps.is_symmetric and not get_game("matching_pennies").is_symmetric
    assert get_game("collab_defect").payoffs[0, 1, 0] == 1.0  # u(D, C) = 1


def test_game_files_load_and_fail_clearly(tmp_path):
    good = tmp_path / "pd.yaml"
    good.write_text("actions: [C, D]\nrow: [[3, 0], [5, 1]]\nsymmetric: true\n")
    game = load_game(good)
    assert game.name == "pd" and game.is_symmetric
    np.testing.assert_array_equal(game.payoffs[1], [[3, 5], [0, 1]])
    as_json = tmp_path / "g.json"
    as_json.write_text(json.dumps({"row": [[1, 0, 2]], "col": [[0, 1, 3]]}))
    assert get_game(str(as_json)).num_actions == (1, 3)

    cases = {
        "col: [[1, 2]]\n": "row: missing",
        "row: [[1, 2], [3]]\n": "row: rows have different lengths",
        "row: [[1, .nan], [3, 4]]\n": "row[0][1]: must be finite",
        "row: [[1, x], [3, 4]]\n": "row[0][1]: must be a number",
        "row: [[1, 2]]\ncol: [[1, 2], [3, 4]]\n": "col: shape (2, 2) does not match row shape",
        "row: [[1, 2], [3, 4]]\nactions: [[a], [b, c]]\n": "actions[0]: needs 2 names",
        "row: [[1, 2], [3, 4]]\ncolumn: [[1, 2], [3, 4]]\n": "column: unknown field",
        "row: [[1, 2], [3, 4], [5, 6]]\nsymmetric: true\n": "square matrix",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(GameError, match=re.escape(message)):
            load_game(path)
    hint = "unknown game 'stag_hnt' (did you mean 'stag_hunt'?)"
    with pytest.raises(GameError, match=re.escape(hint)):
        get_game("stag_hnt")


def _run_cli(command, capsys):
    code = cli.main(command.split())
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_prints_collab_defect_equilibria(capsys):
    code, out, _ = _run_cli("solve --game collab_defect --concept rqe --tau 0 10 --eps 0.2", capsys)
    assert code == 0
    blocks = out.split("tau=")
    assert blocks[1].startswith("0 eps=0.2: 3 equilibria")
    for p in ("C 0.1952", "C 0.5555", "C 0.8833"):
        assert p in blocks[1]
    assert blocks[2].startswith("10 eps=0.2: 1 equilibrium") and "C 0.7942" in blocks[2]

    command = "solve --game collab_defect --concept rqe --tau 0 --eps 0.2 --json"
    code, out, _ = _run_cli(command, capsys)
    found = json.loads(out)["results"][0]["equilibria"]
    assert [round(e["x0"][0], 4) for e in found] == [0.1952, 0.5555, 0.8833]
    assert all(e["gap"] < 1e-10 for e in found)

    code, out, _ = _run_cli("solve --game collab_defect --concept nash", capsys)
    assert code == 0 and "3 equilibria" in out and "C 0.6000" in out


def test_cli_json_is_the_whole_stdout_of_a_fresh_process():
    """``--json`` output is machine-readable from the first byte: nothing imported on the way
    (JaxMARL prints on its first import) writes to stdout."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "jsrpo", "solve", "--game", "collab_defect",
                           "--concept", "rqe", "--tau", "10", "--eps", "0.2", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)["results"][0]["equilibria"]
    assert [round(e["x0"][0], 4) for e in found] == [0.7942]


def test_cli_errors_name_the_flag(capsys):
    code, _, err = _run_cli("solve --game no_such_game --concept rqe", capsys)
    assert code == 2
    assert "--game: unknown game 'no_such_game'" in err and "collab_defect" in err
    code, _, err = _run_cli("solve --game stag_hunt --concept rqe --eps 0", capsys)
    assert code == 2 and "--eps: got 0.0; allowed: finite numbers > 0" in err
    code, _, err = _run_cli("solve --game stag_hunt --concept nash --tau 1", capsys)
    assert code == 2 and "--tau is not used by --concept nash" in err
    with pytest.raises(SystemExit):
        cli.main("solve --game stag_hunt --concept cce".split())
    err = capsys.readouterr().err
    assert "invalid choice: 'cce' (choose from 'rqe', 'qre', 'nash', 'rae')" in err


def test_cli_module_runs_as_a_script():
    command = "-m jsrpo solve --game nope --concept nash".split()
    proc = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "jsrpo solve: error: --game: unknown game 'nope'" in proc.stderr
