"""Cross-play metrics against hand-computed values (docs/evaluation.md: IQM, bootstrap CI over
runs, free-riding degree, TP/CP per method and method pair)."""
import numpy as np
import pytest
import scipy.stats

from jsrpo import metrics


@pytest.mark.parametrize("x, expected", [
    ([1, 2, 3, 4], 2.5),  # n = 4: cut 1 each end, mean of 2 and 3
    ([8, 1, 100, 3, 4, 6, 7, 2], 5.0),  # sorted 1 2 | 3 4 6 7 | 8 100
    # n not a multiple of 4: 0.25 n is fractional and rliable/scipy cut floor(0.25 n) per end.
    ([4, 1, 3, 2, 50], 3.0),  # n = 5: cut 1, mean of 2 3 4
    ([1, 2, 3, 4, 5, 60], 3.5),  # n = 6: cut 1, mean of 2 3 4 5
    ([1, 2, 3, 4, 5, 6, 70], 4.0),  # n = 7: cut 1, mean of 2..6
    ([1, 2, 9], 4.0),  # n = 3: cut 0, plain mean
    ([7.0], 7.0),
    ([[1, 2], [3, 4]], 2.5),  # any shape: all values pooled
    ([1, np.nan, 2, 3, 4], 2.5),  # NaN = missing
])
def test_iqm_hand_computed(x, expected):
    assert metrics.iqm(x) == pytest.approx(expected)


def test_iqm_is_scipy_trim_mean_quarter():
    rng = np.random.default_rng(0)
    for n in range(1, 14):
        x = rng.normal(size=n) ** 3
        assert metrics.iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25), rel=1e-12)


def test_iqm_of_nothing_is_nan():
    assert np.isnan(metrics.iqm([])) and np.isnan(metrics.iqm([np.nan]))


def test_bootstrap_two_values_hand_computed():
    # Resamples of [0, 1] have mean 0 (p 1/4), 1/2 (p 1/2) or 1 (p 1/4): the 95% interval is [0, 1].
    assert metrics.bootstrap_iqm_ci([0.0, 1.0], reps=4000, seed=1) == (0.0, 1.0)


def test_bootstrap_constant_and_deterministic():
    assert metrics.bootstrap_iqm_ci([3.0] * 6) == (3.0, 3.0)
    x = np.random.default_rng(1).normal(size=12)
    assert metrics.bootstrap_iqm_ci(x, seed=5) == metrics.bootstrap_iqm_ci(x, seed=5)
    assert metrics.bootstrap_iqm_ci(x, seed=5) != metrics.bootstrap_iqm_ci(x, seed=6)


def test_bootstrap_contains_iqm_and_shrinks_with_more_runs():
    rng = np.random.default_rng(2)
    widths = []
    for n in (10, 40, 400):
        x = rng.normal(5.0, 2.0, size=n)
        lo, hi = metrics.bootstrap_iqm_ci(x, reps=2000, seed=0)
        assert lo <= metrics.iqm(x) <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.5 * widths[0]


def test_bootstrap_is_stratified_over_tasks_and_skips_missing():
    # Task 0 is constant and task 1 has one run only: resampling runs within each task never
    # mixes the tasks' values, so every resample is {1, 1, 1, 9} -> IQM 1, a zero-width interval.
    scores = np.array([[1.0, 9.0], [1.0, np.nan], [1.0, np.nan]])
    assert metrics.bootstrap_iqm_ci(scores, reps=500) == (1.0, 1.0)
    assert all(np.isnan(metrics.bootstrap_iqm_ci([[np.nan], [np.nan]])))


def test_free_riding_degree():
    assert metrics.free_riding_degree(1.0, 3.5) == pytest.approx(2.5)
    np.testing.assert_allclose(metrics.free_riding_degree([[1, 2], [3, 4]], 2.0), [[1, 0], [1, 2]])


def test_describe_spread_and_empty():
    d = metrics.describe([1.0, 2.0, 3.0, 4.0, np.nan])
    assert d["iqm"] == 2.5 and d["mean"] == 2.5 and d["min"] == 1 and d["max"] == 4
    assert d["std"] == pytest.approx(np.std([1, 2, 3, 4])) and d["n"] == 4
    assert d["ci"][0] <= 2.5 <= d["ci"][1]
    empty = metrics.describe([np.nan])
    assert empty["n"] == 0 and np.isnan(empty["iqm"]) and all(np.isnan(empty["ci"]))


# Two methods: A = members 0, 1; B = members 2, 3. Entry (i, j): seat 0 of i with seat 1 of j.
MATRIX = np.array([[10.0, 2.0, 3.0, 4.0],
                   [6.0, 12.0, 5.0, 7.0],
                   [1.0, 8.0, 20.0, 9.0],
                   [11.0, 13.0, 14.0, 16.0]])


def check_hand_made_summary(s):
    a, b = s["methods"]["A"], s["methods"]["B"]
    assert (a["tp"]["iqm"], a["tp"]["n"]) == (11.0, 2)  # diag 10, 12
    assert (b["tp"]["iqm"], b["tp"]["n"]) == (18.0, 2)  # diag 20, 16
    assert (a["cp"]["iqm"], a["cp"]["n"]) == (4.0, 2)  # (0,1) = 2, (1,0) = 6
    assert (b["cp"]["iqm"], b["cp"]["n"]) == (11.5, 2)  # (2,3) = 9, (3,2) = 14
    assert a["tp_minus_cp"] == 7.0 and b["tp_minus_cp"] == 6.5
    pairs = {(p["seat0"], p["seat1"]): p["cp"] for p in s["method_pairs"]}
    assert set(pairs) == {("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")}
    assert pairs["A", "B"]["iqm"] == 4.5 and pairs["A", "B"]["n"] == 4  # 3 4 5 7 -> mean(4, 5)
    assert pairs["B", "A"]["iqm"] == 9.5  # 1 8 11 13 -> mean(8, 11)
    assert pairs["A", "A"]["iqm"] == a["cp"]["iqm"] and pairs["B", "B"]["iqm"] == 11.5
    for d in (a["tp"], a["cp"], pairs["A", "B"]):
        assert d["ci"][0] <= d["iqm"] <= d["ci"][1]


def test_tp_cp_on_hand_made_matrix():
    s = metrics.tp_cp_summary(MATRIX, ["A", "A", "B", "B"], reps=500)
    assert list(s["methods"]) == ["A", "B"]
    check_hand_made_summary(s)


def test_tp_cp_groups_by_label_not_position():
    perm = np.array([2, 0, 3, 1])  # members interleaved: B A B A
    s = metrics.tp_cp_summary(MATRIX[np.ix_(perm, perm)], ["B", "A", "B", "A"], reps=500)
    check_hand_made_summary(s)


def test_tp_cp_single_member_method_has_no_cp():
    s = metrics.tp_cp_summary([[3.0, 1.0], [2.0, 5.0]], ["A", "B"], reps=100)
    assert s["methods"]["A"]["tp"]["iqm"] == 3.0 and s["methods"]["A"]["cp"]["n"] == 0
    assert np.isnan(s["methods"]["A"]["tp_minus_cp"])
