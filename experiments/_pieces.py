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
    """Copy a run's summary and learning curve into the results directory."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "summary.json", dest / f"{prefix}summary.json")
    shutil.copy(run_dir / "learning_curve.png", dest / f"{prefix}learning_curve.png")


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
