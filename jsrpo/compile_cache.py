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
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Optional

import jax
import jaxlib

#: environment variable naming the cache directory, or ``off``.
ENV_VAR = "JSRPO_COMPILE_CACHE"
OFF = ("off", "0", "false", "no", "none")
#: the cache keeps at most this many bytes; JAX drops the least recently used entries beyond it.
MAX_BYTES = 4 * 2**30
#: compile times remembered per config (the newest ones), for the "compiling" line's estimate.
MAX_TIMES = 500
TIMES_FILE = "compile_times.json"


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


# ------------------------------------------------------------ compile times of earlier runs
# Beside the cache (so per machine and JAX version), a small JSON file maps a hash of a run's
# config to how long its programs took to compile last time; the "compiling" line shows it.

def config_key(config: dict, num_members: int) -> str:
    """What a run's programs depend on: its whole config (as ``config.to_dict``) and its member
    count; the device count is part of it through the cache directory's machine."""
    text = json.dumps({"config": config, "members": num_members, "devices": jax.device_count()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _times_file() -> Optional[Path]:
    if not jax.config.values.get("jax_enable_compilation_cache"):
        return None
    d = jax.config.values.get("jax_compilation_cache_dir")
    return Path(d) / TIMES_FILE if d else None


def _read_times(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or torn by a concurrent writer: only an estimate is lost
    return data if isinstance(data, dict) else {}


def last_compile(key: str) -> Optional[dict[str, Any]]:
    """``{"seconds", "programs", "cache_hits"}`` of this config's previous compile on this
    machine, or None (never compiled here, or the cache is off)."""
    path = _times_file()
    entry = _read_times(path).get(key) if path is not None else None
    return entry if isinstance(entry, dict) and "seconds" in entry else None


def record_compile(key: str, seconds: float, programs: int, cache_hits: int) -> None:
    """Remember this compile (newest ``MAX_TIMES`` configs kept); never fails the run."""
    path = _times_file()
    if path is None:
        return
    times = _read_times(path)
    times.pop(key, None)
    times[key] = {"seconds": float(seconds), "programs": int(programs),
                  "cache_hits": int(cache_hits)}
    times = dict(list(times.items())[-MAX_TIMES:])
    tmp = path.with_name(f".{TIMES_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(times))
        os.replace(tmp, path)
    except OSError:
        pass


def describe_last(entry: Optional[dict]) -> str:
    """`` (last time 11.0s)``, `` (last time 2.1s, 3 of 3 programs cached)`` or ``""``."""
    if entry is None:
        return ""
    cached = (f", {entry['cache_hits']} of {entry['programs']} programs cached"
              if entry.get("cache_hits") else "")
    return f" (last time {entry['seconds']:.1f}s{cached})"
