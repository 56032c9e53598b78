"""A check of a test module run in a child Python process with another environment.

XLA reads its flags once, when JAX starts, so a claim that holds for programs compiled with
other flags than the suite's (``exact_env`` in conftest.py) is checked in a process of its own:
``run_check(env, module, name)`` imports the test module ``module`` there and calls its
function ``name``, whose assertion error (if any) fails the calling test.
"""
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_check(env: dict, module: str, name: str, timeout: float = 1200) -> None:
    """Call ``module.name()`` in a child process with environment ``env``; fail with the
    child's traceback when it raises."""
    path = os.pathsep.join([str(TESTS)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-c", f"import {module}; {module}.{name}()"],
                          env=dict(env, PYTHONPATH=path), capture_output=True, text=True,
                          timeout=timeout, cwd=TESTS.parent)
    assert proc.returncode == 0, f"{module}.{name} in a child process:\n{proc.stderr[-4000:]}"
