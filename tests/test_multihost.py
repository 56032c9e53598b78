"""A sweep run by two processes (2 CPU devices each, joined by ``jax.distributed``) through
``jsrpo sweep --coordinator ...`` (its group's run spread over both processes) gives the
per-member results of a one-process run, and process 0 alone writes the sweep's files."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import yaml

from jsrpo.checkpoint import load_run
from jsrpo.config import from_dict
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train

RAW = {"method": "srpo", "tau": [0.0, 3.0], "num_seeds": 2, "env": {"name": "coop_grid"},
       "train": {"total_env_steps": 8 * 16 * 4, "num_envs": 8, "num_steps": 16,
                 "update_epochs": 2, "num_minibatches": 2},
       "log": {"interval": 2, "eval_envs": 4, "final_eval_envs": 4, "progress": False}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_one_process_results(tmp_path):
    cfg_path = tmp_path / "sweep.yaml"
    cfg_path.write_text(yaml.safe_dump(dict(RAW, structure={"train.num_minibatches": [2]})))
    sweep_dir = tmp_path / "sweep"
    out = sweep_dir / "groups" / "000-num_minibatches2"
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    port = _free_port()
    logs = [open(tmp_path / f"p{i}.log", "w") for i in range(2)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "jsrpo", "sweep", str(cfg_path), "--out", str(sweep_dir),
         "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
        env=env, stdout=logs[i], stderr=subprocess.STDOUT) for i in range(2)]
    codes = [p.wait(timeout=1200) for p in procs]
    for f in logs:
        f.close()
    assert codes == [0, 0], "\n".join((tmp_path / f"p{i}.log").read_text()[-2000:]
                                      for i in range(2))

    one = run_sweep(make_train(from_dict(RAW)))
    params = load_run(out).params
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(one.states.params)):
        # 1 member per device against 4 members on one device: float32 rounding, not bits.
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    np.testing.assert_allclose([m["team_return"] for m in summary["members"]],
                               one.final["team_return"], rtol=1e-5, atol=1e-5)
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 4 * 2  # written once (by process 0): 4 members x 2 periods
    table = json.loads((sweep_dir / "sweep.json").read_text())
    assert [g["status"] for g in table["groups"]] == ["done"]
    assert len(table["members"]) == 4 and (sweep_dir / "sweep.csv").exists()
