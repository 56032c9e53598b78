"""A fixed background load for benchmarks that measure speed on a busy machine."""
from __future__ import annotations

import os
import subprocess
import sys

#: The background load: a fixed single-threaded numeric loop, the same beside every system.
#: It stops by itself once the benchmark that started it (pid in argv[1]) is gone, even when
#: that was killed before this process got going.
LOAD_LOOP = ("import os, sys\nparent = int(sys.argv[1])\nx = 0.0\n"
             "while os.getppid() == parent:\n"
             "    for i in range(100000):\n        x = (x * 1.000001 + i) % 1e9\n")


class BackgroundLoad:
    """``K`` busy processes (``LOAD_LOOP``) for the duration of a ``with`` block."""

    def __init__(self, k: int):
        self.k, self.procs = k, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", LOAD_LOOP, str(os.getpid())],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for _ in range(self.k)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
