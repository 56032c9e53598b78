"""The persistent compilation cache: compile a program once per machine, not once per run.

``jsrpo train`` turns JAX's persistent cache on by default, in a directory of the user's cache
(``$XDG_CACHE_HOME/jsrpo/xla`` or ``~/.cache/jsrpo/xla``), so a second run of the same config
and every ``--resume`` load their programs instead of compiling them. ``JSRPO_COMPILE_CACHE``
sets another directory, or ``off``; ``--no-compile-cache`` turns it off for one command.

An executable compiled for one CPU may use instructions another lacks (a cache on a shared home
directory seen by several machines), so each machine and JAX version gets its own
subdirectory, named by a hash of the CPU's model and feature flags and the jax/jaxlib versions.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Optional

import jax
import jaxlib

#: environment variable naming the cache directory, or ``off``.
ENV_VAR = "JSRPO_COMPILE_CACHE"
OFF = ("off", "0", "false", "no", "none")
#: the cache keeps at most this many bytes; JAX drops the least recently used entries beyond it.
MAX_BYTES = 4 * 2**30


def machine_key() -> str:
    """A short hash of what an executable compiled here depends on: CPU model and feature
    flags, machine architecture, and the jax/jaxlib versions."""
    parts = [platform.machine(), jax.__version__, jaxlib.__version__]
    try:  # Linux: model name and the instruction-set flags of the first CPU
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        parts += sorted({ln.split(":", 1)[1].strip() for ln in lines
                         if ln.split(":", 1)[0].strip() in ("model name", "flags", "Features")})
    except OSError:
        parts.append(platform.processor())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jsrpo" / "xla"


def resolve(disabled: bool = False) -> Optional[Path]:
    """The cache directory this process should use, or None when the cache is off.

    Off with ``disabled`` or ``JSRPO_COMPILE_CACHE=off``; a cache directory JAX already has
    (``JAX_COMPILATION_CACHE_DIR``, e.g. the test suite's) is kept as it is.
    Raises ``ValueError`` naming the variable when it is set to an empty string."""
    value = os.environ.get(ENV_VAR)
    if disabled or (value is not None and value.strip().lower() in OFF):
        return None
    if value is not None and not value.strip():
        raise ValueError(f"{ENV_VAR}: got an empty value; allowed: a directory, or 'off' to "
                         "turn the compilation cache off")
    current = jax.config.values.get("jax_compilation_cache_dir")
    if value is None and current:
        return Path(current)
    root = Path(value).expanduser() if value else default_root()
    return root / machine_key()


def enable(disabled: bool = False) -> Optional[Path]:
    """Turn the persistent cache on for this process (before anything compiles); returns its
    directory, or None when it is off. A directory that cannot be created turns it off with a
    warning rather than failing the run: the cache only saves time."""
    path = resolve(disabled)
    if path is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"[jsrpo] warning: compilation cache {path} cannot be created ({e.strerror}); "
              f"compiling without it (set {ENV_VAR})", file=sys.stderr, flush=True)
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every program of a run is worth keeping: the small ones (init, final evaluation) still
    # take a second or more each to compile.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path
