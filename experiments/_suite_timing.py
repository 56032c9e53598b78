"""pytest plugin for ``bench_suite.py``: how much of each test process's time went into JAX's
compile stages (tracing, lowering, XLA) and what the persistent cache saved.

Loaded with ``-p _suite_timing`` (``experiments/`` on ``PYTHONPATH``); every process (each xdist
worker) writes ``<JSRPO_SUITE_TIMING_DIR>/<worker>.json`` at the end of the session. Stages are
measured as the union of their intervals: a jit traced inside another jit's trace reports its
own duration inside the outer one, and summing the events would count it twice. The same
stages per test file (a test's module fixtures count for its file) under ``files``, with
each file's count and seconds per stage by program name under ``programs``. Programs
compiled by ``jsrpo`` processes that tests start are not seen here.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from jax import monitoring

STAGES = {"/jax/core/compile/jaxpr_trace_duration": "trace",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
          "/jax/core/compile/backend_compile_duration": "xla"}
SAVED = "/jax/compilation_cache/compile_time_saved_sec"

_intervals: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES.values()}
_saved = [0.0]
_programs = [0]
#: the test file running now ("" outside tests), and each file's intervals and compilations
_file = [""]
_by_file: dict[str, dict] = {}


def _file_row(name: str) -> dict:
    return _by_file.setdefault(name, {"intervals": {s: [] for s in STAGES.values()},
                                      "xla_compilations": 0, "programs": {}})


def _listener(event: str, duration: float, fun_name: str = "?", **_) -> None:
    stage = STAGES.get(event)
    if stage is not None:
        end = time.perf_counter()
        _intervals[stage].append((end - duration, end))
        row = _file_row(_file[0])
        row["intervals"][stage].append((end - duration, end))
        # Per program name: how often each stage ran and its summed (not unioned) seconds, to
        # find the tests that compile the same function over and over.
        prog = row["programs"].setdefault(fun_name, {s: [0, 0.0] for s in STAGES.values()})
        prog[stage][0] += 1
        prog[stage][1] += duration
        if stage == "xla":
            _programs[0] += 1
            row["xla_compilations"] += 1
    elif event == SAVED:
        _saved[0] += duration


monitoring.register_event_duration_secs_listener(_listener)


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``[start, end]`` intervals (nested or overlapping ones once)."""
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # A test's compile events (its module fixtures' included) count for its file.
    _file[0] = item.nodeid.split("::")[0]
    yield
    _file[0] = ""


def pytest_sessionfinish(session) -> None:
    out = os.environ.get("JSRPO_SUITE_TIMING_DIR")
    if not out:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    row = {s: union_seconds(iv) for s, iv in _intervals.items()}
    row.update(cache_saved=_saved[0], xla_compilations=_programs[0])
    row["files"] = {name: {**{s: union_seconds(iv) for s, iv in f["intervals"].items()},
                           "xla_compilations": f["xla_compilations"],
                           "programs": f["programs"]}
                    for name, f in _by_file.items()}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"{worker}.json").write_text(json.dumps(row))
