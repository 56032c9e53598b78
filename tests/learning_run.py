"""Shared by the learning tests: ``jsrpo train`` in a child process compiled as real runs are."""
import json
import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def train(env, out, *args):
    """``jsrpo train`` in a child process compiled as real runs are (``optimised_env``)."""
    proc = subprocess.run([sys.executable, "-m", "jsrpo", "train", "--out", str(out), *args,
                           "log.progress=false"], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())["members"]
