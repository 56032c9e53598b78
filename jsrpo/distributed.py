"""Sweeps over several hosts: ``jax.distributed`` start-up and moving results to the host.

After ``initialize``, ``jax.devices()`` lists every process's devices, the sweep's member mesh
(``sweep.sweep_mesh``) spans them all, and each process computes its own members. Results are
gathered to every process (``to_host``); only the main process writes files other than orbax
checkpoints (which every process saves its shards of).
"""
from __future__ import annotations

import os
import socket
import sys
import time
from typing import Optional

import jax
import numpy as np
from jax.experimental import multihost_utils

#: environment variables read when the flags are not given.
ENV_VARS = ("JSRPO_COORDINATOR", "JSRPO_NUM_PROCESSES", "JSRPO_PROCESS_ID")
#: seconds a process waits for the others to join (``JSRPO_JOIN_TIMEOUT`` overrides it).
JOIN_TIMEOUT = 300


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, auto: bool = False) -> bool:
    """Join a multi-process run; returns whether one was started.

    ``coordinator`` (``host:port`` of process 0), ``num_processes`` and ``process_id`` come from
    the arguments or else from ``JSRPO_COORDINATOR``, ``JSRPO_NUM_PROCESSES`` and
    ``JSRPO_PROCESS_ID``; with none of them and ``auto``, JAX detects the cluster itself
    (SLURM, Open MPI, Cloud TPU). On CPU, cross-process collectives use gloo.
    """
    coordinator = coordinator or os.environ.get(ENV_VARS[0])
    num_processes = _count("--num-processes", num_processes, ENV_VARS[1], 1)
    process_id = _count("--process-id", process_id, ENV_VARS[2], 0)
    given = [coordinator, num_processes, process_id]
    if not auto and all(v is None for v in given):
        return False
    if not auto and any(v is None for v in given):
        raise ValueError("--coordinator, --num-processes and --process-id: give all three "
                         f"(or the environment variables {', '.join(ENV_VARS)}), or --distributed")
    timeout = _count("JSRPO_JOIN_TIMEOUT", None, "JSRPO_JOIN_TIMEOUT", 1) or JOIN_TIMEOUT
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    where = (f"process {process_id} of {num_processes}, coordinator {coordinator}"
             if not auto else "the cluster's processes (detected by JAX)")
    print(f"[jsrpo] joining {where}; waiting up to {timeout} s for every process...",
          file=sys.stderr, flush=True)
    if not auto and coordinator is not None and process_id != 0:
        # JAX aborts the whole process when the coordinator never answers; wait for it here
        # first, so that case ends with a message instead.
        _wait_for(coordinator, timeout)
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout)
    except Exception as e:  # the coordination service raises several types
        raise ValueError(f"could not join {where} within {timeout} s ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else ''}); check that every "
                         "process was started with the same --coordinator and --num-processes "
                         "and a distinct --process-id, and that the address is reachable "
                         "(JSRPO_JOIN_TIMEOUT sets the wait)") from None
    return True


def _wait_for(address: str, timeout: float) -> None:
    """Return once ``host:port`` accepts a connection; ``ValueError`` after ``timeout`` s."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--coordinator: got {address!r}; allowed: HOST:PORT")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2.0).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise ValueError(f"--coordinator {address}: no answer within {timeout:g} s "
                                 f"({e.strerror or e}); start process 0 there first, check the "
                                 "address (JSRPO_JOIN_TIMEOUT sets the wait)") from None
            time.sleep(1.0)


def _count(flag: str, value, variable: str, least: int) -> Optional[int]:
    """The flag's value, else the environment variable's, as an integer >= ``least``."""
    name, text = (flag, value) if value is not None else (variable, os.environ.get(variable))
    if text is None or text == "":
        return None
    try:
        n = int(text)
    except (TypeError, ValueError):
        n = least - 1
    if n < least:
        raise ValueError(f"{name}: got {text!r}; allowed: an integer >= {least}")
    return n


def sync(name: str) -> None:
    """Wait until every process reaches this point (``name`` identifies the barrier)."""
    multihost_utils.sync_global_devices(name)


def all_ok(ok: bool) -> bool:
    """Whether every process reports ``ok``: a barrier at which the processes agree to go on
    or to stop together (every process must call it)."""
    flags = multihost_utils.process_allgather(np.array([int(bool(ok))], np.int32))
    return bool(np.all(np.asarray(flags)))


def is_main() -> bool:
    return jax.process_index() == 0


def to_host(tree):
    """Device arrays -> numpy, gathering shards other processes hold when there are several."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)
    return jax.tree.map(get, tree)


def put(tree, shardings):
    """Host arrays (the same on every process) -> global arrays laid out by ``shardings``."""
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)
    return jax.tree.map(
        lambda x, s: jax.make_array_from_callback(np.shape(x), s, lambda idx: np.asarray(x)[idx]),
        tree, shardings)
