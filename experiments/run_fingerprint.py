"""Fingerprint of a run directory, to check that a change leaves training bitwise unchanged.

    python experiments/run_fingerprint.py RUN_DIR

Prints sha256 prefixes of the final parameters (every array, with its name), of metrics.jsonl,
and of summary.json without its timing fields (wall time and throughput change run to run).
"""
import hashlib
import json
import sys

import jax
import numpy as np

from jsrpo.checkpoint import load_run
from jsrpo.rundir import RunDir

TIMING = {"wall_seconds", "env_steps_per_second", "compile_seconds", "total_env_steps_per_second"}


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def main() -> None:
    rd = RunDir(sys.argv[1])
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_leaves_with_path(load_run(rd.path).params):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.asarray(leaf).tobytes())
    print("params ", h.hexdigest()[:16])
    print("metrics", hashlib.sha256(rd.metrics.read_bytes()).hexdigest()[:16])
    summary = _strip(json.loads(rd.summary.read_text()))
    print("summary", hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()[:16])


if __name__ == "__main__":
    main()
