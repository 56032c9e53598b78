"""Compile time and time to start training of ``jsrpo train``, cold and from the persistent
compilation cache, per stage (trace, lower, XLA).

    python experiments/bench_compile.py [--configs configs/default.yaml ...] [--repeats 2]
        [--repo DIR] [--out DIR] [key=value ...]

For every config, each repeat runs ``jsrpo train`` as a fresh process:
  - ``cold``: without the cache (``--no-compile-cache``): what every run cost before;
  - ``first``: into an empty cache directory (compiles and fills it);
  - ``warm``: the same config again (loads the programs);
  - ``resume``: ``--resume`` of the warm run after a crash took its newest checkpoint;
  - ``finished``: ``--resume`` of a finished run without new budget (does nothing).
"start" is the wall time from launching the process to its first training step (the line
``compiled in ...; training...``), imports and config checks included; "compile" is what the
process reports, and its stages. ``--repo DIR`` runs another checkout's ``jsrpo`` (e.g. an
older commit, for a before/after table); output lines it does not print are left empty.

Writes DIR/results.json and prints a table (median over repeats).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPILED = re.compile(r"compiled in ([\d.]+)s(?: \(trace ([\d.]+)s, lower ([\d.]+)s, "
                      r"XLA ([\d.]+)s(?:, (\d+) of (\d+) from the cache)?\))?")
MODES = ("cold", "first", "warm", "resume", "finished")


def launch(repo: Path, args: list, cache: str) -> dict:
    """Run ``jsrpo`` from ``repo``; the wall time to its ``training...`` line and its report."""
    env = dict(os.environ, JSRPO_COMPILE_CACHE=cache, PYTHONPATH=str(repo))
    for k in [k for k in env if k.startswith("JAX_COMPILATION_CACHE")]:
        del env[k]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jsrpo", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, start = [], None
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if start is None and ("training..." in line or "nothing to do" in line):
            start = time.perf_counter() - t0
    proc.wait()
    wall = time.perf_counter() - t0
    text = "".join(out)
    if proc.returncode != 0:
        raise SystemExit(f"jsrpo {' '.join(args)} failed (exit {proc.returncode}):\n{text[-3000:]}")
    res: dict = {"wall_s": wall, "start_s": start}
    m = COMPILED.search(text)
    if m:
        res["compile_s"] = float(m.group(1))
        if m.group(2):
            res.update(trace_s=float(m.group(2)), lower_s=float(m.group(3)),
                       xla_s=float(m.group(4)), cache_hits=int(m.group(5) or 0))
    return res


def one_config(repo: Path, config: Path, overrides: list, tmp: Path, cold_only: bool) -> dict:
    cache = tmp / "cache"
    base = ["train", "--config", str(config.resolve()), "log.progress=false", *overrides]
    if cold_only:  # a checkout without the cache (and its flag)
        return {"cold": launch(repo, base + ["--out", str(tmp / "cold")], "off")}
    runs = {"cold": launch(repo, base + ["--out", str(tmp / "cold"), "--no-compile-cache"],
                           "off")}
    runs["first"] = launch(repo, base + ["--out", str(tmp / "first")], str(cache))
    # The warm run is resumed below, so it keeps periodic checkpoints (every logging period).
    interval = yaml.safe_load(Path(config).read_text()).get("log", {}).get("interval", 10)
    ck = [f"checkpoint.every_updates={interval}"]
    runs["warm"] = launch(repo, base + ck + ["--out", str(tmp / "warm")], str(cache))
    # A crash before the end: the newest checkpoint and the final outputs are lost; --resume
    # continues from the checkpoint before it with the same config (programs in the cache).
    state = tmp / "warm" / "checkpoint" / "state"
    shutil.rmtree(state / str(max(int(p.name) for p in state.iterdir() if p.name.isdigit())))
    for lost in ("summary.json", "checkpoint/final", "checkpoint/final_meta.json"):
        path = tmp / "warm" / lost
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    runs["resume"] = launch(repo, ["train", "--resume", str(tmp / "warm")], str(cache))
    runs["finished"] = launch(repo, ["train", "--resume", str(tmp / "warm")], str(cache))
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=Path, nargs="+", default=[ROOT / "configs" / "default.yaml"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--repo", type=Path, default=ROOT, help="checkout whose jsrpo runs")
    ap.add_argument("--cold-only", action="store_true",
                    help="only the cold mode, without --no-compile-cache (a checkout before the "
                         "persistent cache)")
    ap.add_argument("--out", type=Path, default=None, help="directory for results.json")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides for every run")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats: got {args.repeats}; allowed: an integer >= 1")
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    results: dict = {"command": " ".join(["python", "experiments/bench_compile.py"] + sys.argv[1:]),
                     "overrides": list(args.overrides), "repo": str(args.repo),
                     "commit": commit, "host_cpus": os.cpu_count(), "configs": {}}
    for config in args.configs:
        reps = []
        for r in range(args.repeats):
            tmp = Path(tempfile.mkdtemp(prefix="jsrpo-bench-compile-"))
            try:
                reps.append(one_config(args.repo, config, args.overrides, tmp, args.cold_only))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"{config.name} repeat {r + 1}/{args.repeats} done", flush=True)
        modes = [m for m in MODES if m in reps[0]]
        med = {mode: {k: statistics.median(x[mode][k] for x in reps)
                      for k in reps[0][mode] if reps[0][mode][k] is not None}
               for mode in modes}
        results["configs"][str(config.relative_to(ROOT) if config.is_absolute() else config)] = {
            "repeats": reps, "median": med}
        print(f"\n{config.name} (median of {args.repeats}; seconds)")
        print(f"{'mode':10s}{'start':>8s}{'compile':>9s}{'trace':>8s}{'lower':>8s}{'XLA':>8s}"
              f"{'hits':>6s}{'wall':>8s}")
        for mode in modes:
            m = med[mode]
            cell = lambda k, f="8.1f": format(m[k], f) if k in m else " " * int(f.split(".")[0])
            print(f"{mode:10s}{cell('start_s')}{cell('compile_s', '9.1f')}{cell('trace_s')}"
                  f"{cell('lower_s')}{cell('xla_s')}{cell('cache_hits', '6.0f')}"
                  f"{cell('wall_s')}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
