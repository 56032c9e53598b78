"""Resumable experiment pieces, shared by the long experiment scripts.

A ``Piece`` is a named step with a result file: it is skipped when done, waits while an earlier
piece it needs has not run, and records its wall time in ``timing.json``. Training pieces go
through ``train``, which resumes a run an earlier attempt left unfinished.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


@dataclass
class Piece:
    name: str
    done: Callable[[], bool]
    ready: Callable[[], bool]
    run: Callable[[], None]


def train(run_dir: Path, config: Path, overrides: list[str]) -> None:
    """``jsrpo train`` into ``run_dir``: resumes it when an earlier attempt left checkpoints."""
    from jsrpo.cli import main as jsrpo
    from jsrpo.rundir import RunDir

    state = RunDir(run_dir).state
    if (run_dir / "config.yaml").exists() and state.is_dir() and any(state.iterdir()):
        # an earlier attempt was interrupted: continue it
        rc = jsrpo(["train", "--resume", str(run_dir)])
    else:
        rc = jsrpo(["train", "--config", str(config), "--out", str(run_dir), "--overwrite",
                    "log.progress=false"] + overrides)
    if rc != 0:
        raise SystemExit(f"jsrpo train {run_dir} failed with exit code {rc}")


def jsrpo_command(argv: list[str], what: str) -> None:
    """Run a ``jsrpo`` command in this process; stop the script when it fails."""
    from jsrpo.cli import main as jsrpo

    rc = jsrpo(argv)
    if rc != 0:
        raise SystemExit(f"{what} failed with exit code {rc}")


def keep(run_dir: Path, dest: Path, prefix: str) -> None:
    """Copy a run's summary and learning curve into the results directory, with its members'
    evaluation curves as data (``<prefix>curve.json``, ``write_curve``)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "summary.json", dest / f"{prefix}summary.json")
    shutil.copy(run_dir / "learning_curve.png", dest / f"{prefix}learning_curve.png")
    write_curve(run_dir / "metrics.jsonl", dest / f"{prefix}curve.json")


def write_curve(metrics: Path, path: Path) -> None:
    """The periodic evaluation of every member from a run's ``metrics.jsonl`` as
    ``{"env_steps": [K], "members": [{"method", "tau", "seed", "team_return": [K]}]}`` (a row
    written again by a resumed run counts once: the last one)."""
    rows: dict = {}
    for line in metrics.read_text().splitlines():
        r = json.loads(line)
        rows[(r["member"], r["env_steps"])] = r
    steps = sorted({k[1] for k in rows})
    members = []
    for m in sorted({k[0] for k in rows}):
        first = rows[(m, steps[0])]
        members.append({"member": m, "method": first["method"], "tau": first["tau"],
                        "seed": first["seed"],
                        "team_return": [rows[(m, t)]["team_return"] for t in steps]})
    path.write_text(json.dumps({"env_steps": steps, "members": members}))


def plot_curves(curves: dict, path: Path, title: str) -> None:
    """Team return against env steps, mean and min-max over seeds, one line per method (and
    tau) of the ``{name: curve.json path}`` given."""
    import statistics

    from matplotlib.figure import Figure

    from jsrpo.files import savefig

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for name, f in curves.items():
        c = json.loads(Path(f).read_text())
        groups: dict = {}
        for m in c["members"]:
            label = m["method"] + (f" tau={m['tau']:g}" if m["method"] == "srpo" else "")
            groups.setdefault(label, []).append(m["team_return"])
        for label, ys in groups.items():
            cols = list(zip(*ys))
            line, = ax.plot(c["env_steps"], [statistics.mean(v) for v in cols],
                            label=f"{label} (n={len(ys)})")
            ax.fill_between(c["env_steps"], [min(v) for v in cols], [max(v) for v in cols],
                            color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps per member")
    ax.set_ylabel("team return (evaluation, mean of seats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    savefig(fig, path)


def list_pieces(todo: Sequence[Piece]) -> None:
    for p in todo:
        print(f"{'done' if p.done() else 'ready' if p.ready() else 'waiting':8s} {p.name}")


def run_pieces(todo: Sequence[Piece], out: Path, tag: str) -> None:
    """Run every piece of ``todo`` that is not done and is ready, in order, recording wall
    times in ``out/timing.json``."""
    timing_file = out / "timing.json"
    for p in todo:
        if p.done():
            continue
        if not p.ready():
            print(f"[{tag}] {p.name}: waiting for an earlier piece")
            continue
        print(f"[{tag}] {p.name}: running", flush=True)
        t0 = time.perf_counter()
        p.run()
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}
        timing[p.name] = round(time.perf_counter() - t0, 1)
        timing_file.parent.mkdir(parents=True, exist_ok=True)
        timing_file.write_text(json.dumps(timing, indent=2, sort_keys=True) + "\n")
        print(f"[{tag}] {p.name}: done in {timing[p.name]:.0f} s", flush=True)


def piece_args(ap: argparse.ArgumentParser, runs: Path, out: Path) -> None:
    """The flags every piece script takes: where runs and results go, extra training overrides,
    and ``--list``."""
    ap.add_argument("--runs", type=Path, default=runs)
    ap.add_argument("--out", type=Path, default=out)
    ap.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                    help="extra `jsrpo train` overrides for every training piece (smoke runs)")
    ap.add_argument("--list", action="store_true", help="list the pieces and their state")


def list_or_run(todo: Sequence[Piece], args: argparse.Namespace, tag: str) -> None:
    """``--list``: the pieces and their state; otherwise run them."""
    if args.list:
        list_pieces(todo)
    else:
        run_pieces(todo, args.out, tag)
