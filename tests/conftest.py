"""Test-session settings, applied before JAX starts (and inherited by the processes tests spawn).

- XLA's backend optimisation level 0: the suite's programs are tiny and run for a few steps,
  so LLVM's optimisation passes are most of their compile time (about a third less with this
  flag); results keep their meaning, and every comparison a test makes is between programs
  compiled the same way. Benchmarks and real runs are not affected.
- One persistent compilation cache per test session, shared by the test workers and the
  ``jsrpo`` processes tests start, so identical programs (the same config with other
  tau/eps/seed values, a killed run and its resume) compile once.
"""
import os
import tempfile

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
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
    flags = os.environ.get("XLA_FLAGS", "").replace(_FLAG, "").strip()
    return dict(os.environ, XLA_FLAGS=flags)
