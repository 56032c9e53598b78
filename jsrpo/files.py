"""Generic file helpers: atomic writes (temp file + rename) and JSON of numpy data.

Nothing here knows about runs; ``jsrpo.rundir`` says what a run directory holds.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename,
    on failure it is removed, so readers never see a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see ``atomic_path``), flushed to disk."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def json_safe(x: Any) -> Any:
    """Arrays to lists, non-finite floats to None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "__array__"):
        return json_safe(np.asarray(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path, data: Any, indent: int = 2) -> None:
    """``json_safe(data)`` written atomically to ``path``."""
    atomic_write(path, json.dumps(json_safe(data), indent=indent))


def savefig(fig, path) -> None:
    """Save a matplotlib figure as PNG atomically (readers never see half a PNG)."""
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120)
