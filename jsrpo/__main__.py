"""Entry point of the ``jsrpo`` command (and ``python -m jsrpo``).

A multi-process ``jsrpo train`` (or ``jsrpo sweep``) must join its processes
(``jax.distributed.initialize``) before anything starts a JAX backend, and importing JaxMARL's
environments starts one. So this module joins them first and only then imports the commands
(``jsrpo.cli``): the one import in the project that has to come late.
"""
import argparse
import os
import sys

# Loading an executable from the persistent compilation cache makes XLA log two lines per
# program at error level ("Target machine feature +prefer-no-gather is not supported"): tuning
# options it compiled with, not instructions the CPU lacks (the cache directory is already keyed
# by the CPU's features, jsrpo/compile_cache.py). C++ log levels are read when JAX loads, so the
# command sets its default here, before any import of JAX; TF_CPP_MIN_LOG_LEVEL=0 shows them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from jsrpo import distributed  # noqa: E402


def _join_processes(argv) -> bool:
    """Join a multi-process ``jsrpo train`` or ``jsrpo sweep`` (flags or ``JSRPO_*`` variables);
    whether joined."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--coordinator")
    pre.add_argument("--num-processes")
    pre.add_argument("--process-id")
    pre.add_argument("--distributed", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if known.command not in ("train", "sweep"):
        return False
    return distributed.initialize(known.coordinator, known.num_processes, known.process_id,
                                  auto=known.distributed)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        several = _join_processes(argv)
    except ValueError as e:
        print(f"jsrpo {argv[0] if argv else 'train'}: error: {e}", file=sys.stderr)
        return 2
    from jsrpo import cli  # after joining the processes (see the module docstring)

    return cli.main(argv, several_processes=several)


if __name__ == "__main__":
    sys.exit(main())
