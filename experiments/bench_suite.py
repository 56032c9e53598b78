"""Wall time of the test suite (the README's test command), idle or beside a fixed busy load.

    python experiments/bench_suite.py [--background-load K] [--out DIR] [-- PYTEST_ARGS ...]

Runs ``python -m pytest -q`` (the project's addopts: one worker per core) once with
``--durations=0`` and a plugin (``_suite_timing.py``) that measures, per test process, the time
spent tracing, lowering and compiling with XLA, and what the persistent compilation cache saved.
``--background-load K`` keeps K busy single-threaded processes running throughout (the same loop
as ``bench_vs_jaxmarl.py --background-load``). The 1-minute load average before the start says
how quiet the machine was otherwise.

Writes DIR/results.json (default experiments/results/bench_suite, or _load<K> with a load) and
prints wall time, test counts, the compile stages and the slowest tests.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _load import BackgroundLoad  # noqa: E402

DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+)$")
COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")
SLOWEST = 15


def parse(text: str) -> dict:
    """Per-phase durations and the final counts from pytest's output."""
    tests: dict[str, float] = {}
    for line in text.splitlines():
        m = DURATION.match(line.strip())
        if m:
            tests[m.group(3)] = tests.get(m.group(3), 0.0) + float(m.group(1))
    counts: dict[str, int] = {}
    summary = [ln for ln in text.splitlines() if re.search(r" in [\d.]+s", ln)]
    if summary:
        for n, kind in COUNTS.findall(summary[-1]):
            counts["errors" if kind.startswith("error") else kind] = int(n)
    return {"tests": tests, "counts": counts}


#: program names kept per test file in results.json
TOP_PROGRAMS = 5


def per_file(tests: dict[str, float], stages: list[dict],
             top: int = TOP_PROGRAMS) -> list[dict]:
    """Per test file, heaviest first: tests (those pytest reports a duration for: over 5 ms),
    summed test time and the compile stages its tests spent (``stages``: the plugin's
    ``files`` of every process), with its ``top`` program names by compile time."""
    rows: dict[str, dict] = {}
    for test, seconds in tests.items():
        r = rows.setdefault(test.split("::")[0], {"tests": 0, "seconds": 0.0})
        r["tests"] += 1
        r["seconds"] += seconds
    programs: dict[str, dict[str, list]] = {}
    for by_file in stages:
        for name, st in by_file.items():
            if name not in rows:
                continue  # compile events outside any test (collection, session fixtures)
            st = dict(st)
            for prog, by_stage in st.pop("programs", {}).items():
                acc = programs.setdefault(name, {}).setdefault(prog, [0, 0.0])
                acc[0] += by_stage["trace"][0] + by_stage["xla"][0]
                acc[1] += sum(seconds for _, seconds in by_stage.values())
            for k, v in st.items():
                rows[name][k] = rows[name].get(k, 0) + v
    for name, progs in programs.items():
        rows[name]["top_programs"] = top_programs(progs, top)
    return [{"file": f, **r} for f, r in sorted(rows.items(), key=lambda kv: -kv[1]["seconds"])]


def top_programs(progs: dict[str, list], n: int = TOP_PROGRAMS) -> list[dict]:
    """The ``n`` program names of one file that took the most compile time: ``{name, events,
    seconds}`` with ``events`` the traces plus XLA compilations of that name and ``seconds``
    their stage times summed (a program traced inside another counts in both)."""
    top = sorted(progs.items(), key=lambda kv: -kv[1][1])[:n]
    return [{"name": k, "events": c, "seconds": round(sec, 2)} for k, (c, sec) in top]


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--background-load", type=int, default=0, metavar="K",
                    help="busy single-threaded processes kept running during the suite")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for results.json (default experiments/results/bench_suite"
                         "[_load<K>])")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)
    if args.background_load < 0:
        ap.error(f"--background-load: got {args.background_load}; allowed: an integer >= 0")
    out = args.out or (HERE / "results" / ("bench_suite" + (
        f"_load{args.background_load}" if args.background_load else "")))
    out.mkdir(parents=True, exist_ok=True)

    timing = Path(tempfile.mkdtemp(prefix="jsrpo-suite-timing-"))
    env = dict(os.environ, JSRPO_SUITE_TIMING_DIR=str(timing),
               PYTHONPATH=os.pathsep.join([str(HERE)] + [p for p in [
                   os.environ.get("PYTHONPATH")] if p]))
    cmd = [sys.executable, "-m", "pytest", "-q", "--durations=0", "-p", "_suite_timing",
           *args.pytest_args]
    load_before = os.getloadavg()[0]
    print(f"[bench_suite] {' '.join(cmd[1:])} with {args.background_load} busy process(es); "
          f"load average {load_before:.2f}", flush=True)
    with BackgroundLoad(args.background_load):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    parsed = parse(proc.stdout)
    workers = [json.loads(p.read_text()) for p in sorted(timing.glob("*.json"))]
    stages = {k: sum(w[k] for w in workers)
              for k in ("trace", "lower", "xla", "cache_saved", "xla_compilations")}
    slowest = sorted(parsed["tests"].items(), key=lambda kv: -kv[1])[:SLOWEST]
    files = per_file(parsed["tests"], [w.get("files", {}) for w in workers])
    result = {
        "commit": git_commit(), "command": " ".join(["python", "-m"] + cmd[2:]),
        "cpus": os.cpu_count(), "background_load": args.background_load,
        "load_average_before": load_before, "wall_s": wall, "exit_code": proc.returncode,
        "counts": parsed["counts"], "test_processes": len(workers),
        "compile_stages_s": stages,
        "tests_total_s": sum(parsed["tests"].values()),
        "slowest": [{"test": t, "seconds": s} for t, s in slowest],
        "files": files,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wall {wall:.0f} s, exit {proc.returncode}, {parsed['counts']}")
    print(f"summed over {len(workers)} test processes: trace {stages['trace']:.0f} s, lower "
          f"{stages['lower']:.0f} s, XLA {stages['xla']:.0f} s ({stages['xla_compilations']:.0f}"
          f" compilations), cache saved {stages['cache_saved']:.0f} s")
    for t, s in slowest:
        print(f"  {s:7.1f} s  {t}")
    print("per file: test time s (trace / lower / XLA s, compilations)")
    for f in files[:SLOWEST]:
        print(f"  {f['seconds']:7.1f} s  ({f.get('trace', 0):.0f} / {f.get('lower', 0):.0f} / "
              f"{f.get('xla', 0):.0f} s, {f.get('xla_compilations', 0)})  {f['file']} "
              f"[{f['tests']} tests]")
        for t in f.get("top_programs", [])[:3]:
            print(f"           {t['seconds']:7.1f} s in {t['events']} traces/compilations of "
                  f"{t['name']}")
    print(f"wrote {out / 'results.json'}")
    if proc.returncode != 0:
        print(proc.stdout[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
