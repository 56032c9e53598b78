"""Test-session settings, applied before JAX starts (and inherited by the processes tests spawn).

- XLA's backend optimisation level 0 and its older CPU fusion emitters: the suite's programs
  are tiny and run for a few steps, so code generation is most of their compile time (each
  flag takes about a third off it); results keep their meaning, and every comparison a test
  makes is between programs compiled the same way. Benchmarks and real runs are not affected.
  The exception: with the older emitters a program over a batch of members rounds differently
  from one over a single member, so claims of bit-for-bit equality between such programs run
  in a child process compiled with the default emitters (``exact_env``).
- One persistent compilation cache per test session, shared by the test workers and the
  ``jsrpo`` processes tests start, so identical programs (the same config with other
  tau/eps/seed values, a killed run and its resume) compile once.
"""
import os
import tempfile

_OPT_FLAG = "--xla_backend_optimization_level=0"
_EMITTER_FLAG = "--xla_cpu_use_fusion_emitters=false"
for _flag in (_OPT_FLAG, _EMITTER_FLAG):
    if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_cache = (os.path.join(tempfile.gettempdir(), f"jsrpo-xla-cache-{_run}") if _run
          else tempfile.mkdtemp(prefix="jsrpo-xla-cache-"))
os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


@pytest.fixture(scope="session")
def optimised_env():
    """Environment for child processes that must compile as real runs do: the learning tests,
    whose outcome is a training result (it follows the float path of a normal run, and their
    long runs would be slower without the optimisation)."""
    return _without(_OPT_FLAG, _EMITTER_FLAG)


@pytest.fixture(scope="session")
def exact_env():
    """Environment for child processes that check bit-for-bit equality between programs over
    different numbers of members (``tests/child.py``): XLA's default CPU fusion emitters, as real
    runs use (the optimisation level stays at 0: it does not change this rounding)."""
    return _without(_EMITTER_FLAG)


def _without(*flags):
    """This process's environment with ``flags`` removed from ``XLA_FLAGS``."""
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if f not in flags]
    return dict(os.environ, XLA_FLAGS=" ".join(kept))
