"""A real ``jsrpo train`` process killed mid-run (SIGTERM, SIGKILL) and resumed ends with the very
parameters, metrics and summary of the uninterrupted run; a half-written checkpoint is ignored.

Slow-ish (five training processes): the compiled programs come from the session's cache."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from jsrpo.checkpoint import load_run, saved_steps

# 150 updates in periods of 5, a checkpoint every period: long enough to be killed mid-run.
OVERRIDES = ["method=srpo", "tau=[0.0,3.0]", "env.name=collab_defect", "train.num_envs=8",
             "train.num_steps=4", "train.update_epochs=1", "train.total_env_steps=4800",
             "log.interval=5", "log.eval_envs=8", "log.final_eval_envs=8", "log.progress=false",
             "checkpoint.every_updates=5", "checkpoint.keep=2"]


def _env():
    # Share the test session's compilation cache with the child processes.
    env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1", JAX_PLATFORMS="cpu")
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    return env


class _Run:
    """A ``jsrpo train`` child process; output goes to files (a full pipe would block it)."""

    def __init__(self, args, logs: Path):
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("*.out")))
        self.out_path, self.err_path = logs / f"{n}.out", logs / f"{n}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "jsrpo", "train"] + args,
                                         env=_env(), stdout=out, stderr=err)

    def finish(self, timeout=900):
        self.proc.wait(timeout=timeout)
        return self.proc.returncode, self.out_path.read_text(), self.err_path.read_text()


def _train(args, logs: Path) -> _Run:
    return _Run(args, logs)


def _start(out: Path, tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("{}\n")
    return _train(["--config", str(cfg), "--out", str(out)] + OVERRIDES, tmp_path / "logs")


def _wait_for_rows(run: _Run, metrics: Path, rows: int, timeout=600.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if run.proc.poll() is not None:
            pytest.fail("training ended before it could be interrupted:\n"
                        + run.err_path.read_text()[-2000:])
        if metrics.exists() and len(metrics.read_text().splitlines()) >= rows:
            return
        time.sleep(0.05)
    pytest.fail("training made no progress")


def _results(run: Path):
    r = load_run(run)
    return ([np.asarray(x) for x in jax.tree.leaves(r.params)],
            (run / "metrics.jsonl").read_text(),
            [{k: m[k] for k in ("return", "team_return", "private_cost")}
             for m in json.loads((run / "summary.json").read_text())["members"]])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    code, out, err = _start(tmp / "run", tmp).finish()
    assert code == 0, err
    return _results(tmp / "run")


def _assert_same(run: Path, reference):
    params, metrics, summary = _results(run)
    ref_params, ref_metrics, ref_summary = reference
    assert len(params) == len(ref_params)
    for a, b in zip(params, ref_params):
        np.testing.assert_array_equal(a, b)
    assert metrics == ref_metrics
    assert summary == ref_summary


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killed_and_resumed_equals_uninterrupted(sig, tmp_path, reference):
    run = tmp_path / "run"
    proc = _start(run, tmp_path)
    _wait_for_rows(proc, run / "metrics.jsonl", rows=2 * 5)  # 2 members x 5 periods
    proc.proc.send_signal(sig)
    code, _, err = proc.finish()
    assert code == (143 if sig == signal.SIGTERM else -signal.SIGKILL), err
    assert not (run / "summary.json").exists()
    steps = saved_steps(run)
    assert steps and steps[-1] < 150  # stopped mid-run, with a complete checkpoint
    if sig == signal.SIGTERM:
        assert "checkpoint saved" in err and "--resume" in err
    else:
        # What a kill during a save leaves behind: a newer step still in its temporary
        # directory, with garbage inside. Resuming must take the newest *complete* checkpoint.
        tmp_step = run / "checkpoint" / "state" / f"{steps[-1] + 5}.orbax-checkpoint-tmp-1234"
        tmp_step.mkdir(parents=True)
        (tmp_step / "garbage").write_bytes(b"\x00half written")
        assert saved_steps(run) == steps
    code, out, err = _train(["--resume", str(run)], tmp_path / "logs").finish()
    assert code == 0, err
    assert f"resuming {run} from update {steps[-1]}" in out
    _assert_same(run, reference)


def test_second_process_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, reference,
                                                                        capsys):
    """Two processes on one run directory: the second is refused with the holder named; once
    the holder is killed, its stale lock is taken over and the run resumes exactly."""
    from jsrpo.cli import main

    run = tmp_path / "run"
    first = _start(run, tmp_path)
    _wait_for_rows(first, run / "metrics.jsonl", rows=2 * 5)
    first.proc.send_signal(signal.SIGSTOP)  # alive but paused: it holds the run meanwhile
    # The second process is this test's own (it is refused before it would compile anything).
    for args in (["--resume", str(run)],
                 ["--config", str(tmp_path / "c.yaml"), "--out", str(run), "--overwrite"]
                 + OVERRIDES):
        capsys.readouterr()
        assert main(["train"] + args) == 2
        err = capsys.readouterr().err
        assert f"in use by another jsrpo process (pid {first.proc.pid} on " in err, err
    first.proc.send_signal(signal.SIGKILL)
    first.finish()
    assert json.loads((run / ".lock").read_text())["pid"] == first.proc.pid  # left behind
    code, out, err = _train(["--resume", str(run)], tmp_path / "logs").finish()
    assert code == 0, err
    assert not (run / ".lock").exists()
    _assert_same(run, reference)


def test_a_second_ctrl_c_stops_at_once_in_one_line(tmp_path):
    # Long periods (1000 updates), so that the second signal lands before the period ends.
    cfg = tmp_path / "c.yaml"
    cfg.write_text("{}\n")
    long = [o for o in OVERRIDES if not o.startswith(("log.", "checkpoint.", "train.total"))] + [
        "train.total_env_steps=160000", "log.interval=1000", "log.eval_envs=8",
        "log.final_eval_envs=8", "log.progress=true", "checkpoint.every_updates=1000"]
    run = tmp_path / "run"
    proc = _train(["--config", str(cfg), "--out", str(run)] + long, tmp_path / "logs")
    t0 = time.time()
    while "update 1000/" not in proc.out_path.read_text():
        assert proc.proc.poll() is None and time.time() - t0 < 600, proc.err_path.read_text()
        time.sleep(0.05)
    proc.proc.send_signal(signal.SIGINT)
    while "saving a checkpoint" not in proc.err_path.read_text():  # the first one is handled
        assert proc.proc.poll() is None and time.time() - t0 < 600, proc.err_path.read_text()
        time.sleep(0.01)
    proc.proc.send_signal(signal.SIGINT)
    code, _, err = proc.finish()
    assert code == 130, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "again: stopped at once" in line]) == 1
    assert not (run / ".lock").exists()


def test_a_killed_sweep_resumes_its_interrupted_group(tmp_path, reference):
    """``jsrpo sweep`` stopped by SIGTERM inside a group, then run again: the group continues
    from its checkpoint and ends as the uninterrupted run (its programs are the reference's)."""
    raw = {}
    for o in OVERRIDES:
        key, _, value = o.partition("=")
        *sections, name = key.split(".")
        d = raw
        for part in sections:
            d = d.setdefault(part, {})
        d[name] = yaml.safe_load(value)
    raw["structure"] = {"train.update_epochs": [1]}
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(raw))
    out = tmp_path / "sweep"
    run = out / "groups" / "000-update_epochs1"

    def sweep():
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        n = len(list(logs.glob("*.out")))
        with open(logs / f"{n}.out", "w") as o, open(logs / f"{n}.err", "w") as e:
            proc = subprocess.Popen([sys.executable, "-m", "jsrpo", "sweep", str(sweep_file),
                                     "--out", str(out)], env=_env(), stdout=o, stderr=e)
        return proc, logs / f"{n}.err"

    proc, err = sweep()
    t0 = time.time()
    while not ((run / "metrics.jsonl").exists()
               and len((run / "metrics.jsonl").read_text().splitlines()) >= 2 * 5):
        assert proc.poll() is None, err.read_text()[-2000:]
        assert time.time() - t0 < 600, "no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=600) == 143, err.read_text()[-2000:]
    assert not (run / "summary.json").exists() and saved_steps(run)
    proc, err = sweep()
    assert proc.wait(timeout=900) == 0, err.read_text()[-2000:]
    _assert_same(run, reference)
    assert json.loads((out / "sweep.json").read_text())["groups"][0]["status"] == "done"
