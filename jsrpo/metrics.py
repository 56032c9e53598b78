"""Cross-play metrics: pure numpy functions over score arrays (no JAX, no I/O).

Aggregates follow the rliable convention (Agarwal et al., 2021): the interquartile mean (IQM)
with a stratified percentile-bootstrap confidence interval over runs. A cross-play matrix
``M[i, j]`` (seat-0 policy of run i with seat-1 policy of run j) is read as rliable's
``scores[run, task]`` with the seat-1 partner j as the task: the bootstrap resamples the seat-0
runs independently for every partner. Missing entries (e.g. the diagonal when scoring
cross-play) are NaN and are left out.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _trimmed_sorted(x_sorted: np.ndarray) -> np.ndarray:
    """Mean of the middle of each row of ``x_sorted [..., n]`` (sorted along the last axis),
    cutting ``floor(n / 4)`` values from each end: exactly ``scipy.stats.trim_mean(x, 0.25)``."""
    n = x_sorted.shape[-1]
    cut = int(0.25 * n)
    return x_sorted[..., cut:n - cut].mean(axis=-1)


def iqm(x) -> float:
    """Interquartile mean of the values of ``x`` (any shape; NaNs dropped).

    rliable's ``aggregate_iqm`` is ``scipy.stats.trim_mean(x, 0.25)``: it cuts ``floor(n / 4)``
    values from each end, so when ``n`` is not a multiple of 4 slightly more than the middle
    50% is averaged (n = 5 averages the middle 3). NaN for no data.
    """
    x = np.asarray(x, np.float64).ravel()
    x = x[~np.isnan(x)]
    return float(_trimmed_sorted(np.sort(x))) if x.size else float("nan")


def bootstrap_iqm_ci(scores, reps: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> tuple[float, float]:
    """Stratified percentile-bootstrap interval of the IQM over runs.

    Args:
      scores: ``[R]`` (one score per run) or ``[R, T]`` (runs x tasks), NaN = missing.
      reps: bootstrap resamples.
      confidence: coverage of the two-sided percentile interval.
      seed: seed of the ``numpy.random.Generator`` (same inputs and seed -> same interval).
    Returns:
      ``(low, high)``; NaNs when ``scores`` has no finite value.
    """
    scores = np.asarray(scores, np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    rng = np.random.default_rng(seed)
    # Resample runs within each task (rliable's StratifiedBootstrap), tasks side by side.
    columns = [col[~np.isnan(col)] for col in scores.T]
    draws = [col[rng.integers(0, col.size, (reps, col.size))] for col in columns if col.size]
    if not draws:
        return float("nan"), float("nan")
    stats = _trimmed_sorted(np.sort(np.concatenate(draws, axis=1), axis=1))  # [reps]
    alpha = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(stats, [alpha, 100.0 - alpha])
    return float(low), float(high)


def free_riding_degree(cost_seat0, cost_seat1):
    """|mean private cost of seat 0 - that of seat 1| (per pair; arrays broadcast)."""
    return np.abs(np.asarray(cost_seat0, np.float64) - np.asarray(cost_seat1, np.float64))


def describe(scores, reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict:
    """IQM with its bootstrap interval, plus mean, std and range of the finite entries of
    ``scores`` (``[R]`` or ``[R, T]``, NaN = missing); ``n`` counts the entries used."""
    scores = np.asarray(scores, np.float64)
    values = scores[~np.isnan(scores)]
    if values.size == 0:
        nan = float("nan")
        return {"iqm": nan, "ci": [nan, nan], "mean": nan, "std": nan, "min": nan, "max": nan,
                "n": 0}
    return {"iqm": iqm(values), "ci": list(bootstrap_iqm_ci(scores, reps, confidence, seed)),
            "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()), "n": int(values.size)}


def method_groups(methods: Sequence[str]) -> dict[str, np.ndarray]:
    """Label of every pooled member ``[P]`` -> {label: member indices}, in first-seen order."""
    labels = list(dict.fromkeys(methods))
    per_member = np.asarray(methods, object)
    return {m: np.flatnonzero(per_member == m) for m in labels}


def tp_cp_summary(matrix, methods: Sequence[str], reps: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> dict:
    """Training (TP) and cross-play (CP) performance per method and per ordered method pair.

    Args:
      matrix: ``[P, P]`` cross-play scores, entry (i, j) = seat-0 of member i with seat-1 of j.
      methods: ``[P]`` method label of each member.
    Returns:
      ``{"methods": {m: {"tp", "cp", "tp_minus_cp"}}, "method_pairs": [{"seat0", "seat1",
      "cp"}]}`` where TP describes the diagonal entries of m's members (one per run), CP the
      off-diagonal entries of m's block, a pair's CP every entry (i in seat0's members, j in
      seat1's members, i != j), and ``tp_minus_cp`` the drop of the IQMs. Each TP/CP is a
      ``describe`` dict.
    """
    matrix = np.asarray(matrix, np.float64)
    off = matrix.copy()
    np.fill_diagonal(off, np.nan)
    groups = method_groups(methods)
    per_method, pairs = {}, []
    for m, idx in groups.items():
        tp = describe(np.diag(matrix)[idx], reps, confidence, seed)
        cp = describe(off[np.ix_(idx, idx)], reps, confidence, seed)
        per_method[m] = {"tp": tp, "cp": cp, "tp_minus_cp": tp["iqm"] - cp["iqm"]}
    for a, ia in groups.items():
        for b, ib in groups.items():
            pairs.append({"seat0": a, "seat1": b,
                          "cp": describe(off[np.ix_(ia, ib)], reps, confidence, seed)})
    return {"methods": per_method, "method_pairs": pairs}
