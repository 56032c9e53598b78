"""Command line: ``jsrpo train``, ``crossplay``, ``render``, ``solve``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a method (or a tau x eps x seed sweep) in one program",
                       description="Train from a YAML config; key=value overrides use dotted "
                                   "keys, e.g. train.lr=3e-4 tau=[1,10] num_seeds=4.")
    p.add_argument("--config", default=None, help="YAML config file (see configs/)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a stopped run from its newest complete checkpoint")
    p.add_argument("--out", default=None,
                   help="run directory (default: runs/<config name>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow writing into an existing non-empty --out directory")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    d = p.add_argument_group("several hosts", "every process runs the same command; the sweep's "
                             "members are split over all processes' devices")
    d.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0 (or JSRPO_COORDINATOR)")
    d.add_argument("--num-processes", type=int, default=None,
                   help="number of processes (or JSRPO_NUM_PROCESSES)")
    d.add_argument("--process-id", type=int, default=None,
                   help="this process, 0 .. num-processes - 1 (or JSRPO_PROCESS_ID)")
    d.add_argument("--distributed", action="store_true",
                   help="let JAX detect the cluster (SLURM, Open MPI, Cloud TPU)")


def _resume_setup(args):
    """Config and run directory of a run to resume; its metrics rows past the checkpoint go."""
    from jsrpo import config as config_mod
    from jsrpo.config import ConfigError

    run_dir = Path(args.resume)
    if args.config or args.overrides or args.out:
        raise ConfigError("--resume: continues a run with its own saved config; "
                          "do not pass --config, --out or overrides with it")
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: not a run directory (no config.yaml)")
    cfg = config_mod.load(run_dir / "config.yaml")
    if not (cfg.checkpoint.every_updates or cfg.checkpoint.snapshots):
        raise ConfigError(f"--resume {run_dir}: the run saved no periodic checkpoints "
                          "(checkpoint.every_updates was 0)")
    return cfg, run_dir


def _trim_metrics(path: Path, last_update) -> None:
    """Drop metrics rows written after the checkpoint a resumed run restarts from."""
    import json

    from jsrpo.outputs import atomic_write
    if not path.exists():
        return
    rows = [r for r in path.read_text().splitlines() if r.strip()]
    keep = [r for r in rows if last_update is not None and json.loads(r)["update"] <= last_update]
    atomic_write(path, "".join(r + "\n" for r in keep))


def run_train(args) -> int:
    import signal

    from jsrpo import config as config_mod
    from jsrpo import outputs
    from jsrpo.config import ConfigError

    from jsrpo import distributed
    several = args.several_processes  # joined in ``main`` before anything touched JAX
    main_process = distributed.is_main()
    if args.resume:
        cfg, run_dir = _resume_setup(args)
    else:
        if not args.config:
            raise ConfigError("--config: required (or --resume RUN_DIR)")
        cfg = config_mod.load(args.config, args.overrides)  # validated before anything compiles
        if several and not args.out:
            raise ConfigError("--out: required with several processes (they share one run dir)")
        out = Path(args.out) if args.out else Path("runs") / (
            f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
        if main_process:
            run_dir = outputs.prepare_run_dir(out, args.overwrite)
            outputs.write_config(run_dir, cfg)
        run_dir = out
    if several:  # the others wait until process 0 has checked and prepared the run dir
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices("jsrpo run dir ready")

    from jsrpo.checkpoint import Checkpoints
    from jsrpo.sweep import Interrupted, NonFiniteError, members, run_sweep
    from jsrpo.train import make_train

    trainer = make_train(cfg)
    ms = members(cfg)
    extra = tuple(trainer.venv.contribution_keys) + (
        ("action_probs",) if trainer.venv.max_steps == 1 else ())
    ck = None
    if cfg.checkpoint.every_updates or cfg.checkpoint.snapshots:
        ck = Checkpoints(run_dir / "checkpoint" / "state", cfg, cfg.checkpoint.every_updates,
                         cfg.checkpoint.keep, cfg.checkpoint.snapshots)
    metrics_path = run_dir / "metrics.jsonl"
    if args.resume:
        last = ck.mngr.latest_step()
        if main_process:
            _trim_metrics(metrics_path, last)
        print(f"[jsrpo] resuming {run_dir} from update {last or 0}", flush=True)
    elif main_process:
        metrics_path.write_text("")
    writer = outputs.MetricsWriter(cfg, ms, metrics_path if main_process else None,
                                   cfg.log.progress and main_process, extra)
    print(f"[jsrpo] {cfg.method} on {cfg.env.name}: {len(ms)} member(s), "
          f"{cfg.num_updates} updates x {cfg.env_steps_per_update} env steps; compiling...",
          flush=True)

    # Ctrl-C / SIGTERM: finish the current logging period, save a checkpoint, exit cleanly.
    stop = {"signal": None}

    def request_stop(signum, frame):
        if stop["signal"] is not None:  # a second signal: give up at once
            raise KeyboardInterrupt
        stop["signal"] = signum
        print(f"\n[jsrpo] signal {signum}: saving a checkpoint at the end of this period...",
              file=sys.stderr, flush=True)

    handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)} \
        if ck is not None else {}
    try:
        res = run_sweep(trainer, on_period=writer, ms=ms, on_compiled=writer.start,
                        checkpoints=ck, should_stop=lambda: stop["signal"] is not None)
    except Interrupted as e:
        print(f"[jsrpo] stopped after update {e.update}; checkpoint saved. Continue with:\n"
              f"  jsrpo train --resume {run_dir}", file=sys.stderr, flush=True)
        return 128 + int(stop["signal"])
    except NonFiniteError as e:
        print(f"[jsrpo] error: {e}", file=sys.stderr, flush=True)
        return 3
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    print(f"[jsrpo] compiled in {res.compile_seconds:.1f}s, trained in {res.run_seconds:.1f}s "
          f"({res.env_steps * len(ms) / res.run_seconds:,.0f} env steps/s)", flush=True)
    for f in res.failures:
        print(f"[jsrpo] warning: {f.describe()}; frozen at its last good parameters "
              "(train.on_nonfinite=continue)", file=sys.stderr, flush=True)
    data = outputs.summary(cfg, res, extra, getattr(trainer.venv.env, "action_names", None))
    outputs.save_checkpoint(run_dir, cfg, trainer, res)  # every process saves its shards
    if not main_process:
        return 0
    outputs.write_summary(run_dir, data)
    outputs.plot_learning_curves(cfg, res, run_dir / "learning_curve.png")
    for row in data["members"]:
        probs = f" P(a0)={[round(p[0], 4) for p in row['action_probs']]}" if "action_probs" in row else ""
        tau = f"tau={row['tau']} " if row["method"] == "srpo" else ""  # the others ignore tau
        print(f"  member {row['member']}: {tau}eps={row['eps']} seed={row['seed']} "
              f"return={[round(r, 3) for r in row['return']]} "
              f"cost={[round(c, 3) for c in row['private_cost']]} "
              f"free_riding={row['free_riding']:.3f}{probs}")
    print(f"[jsrpo] wrote {run_dir}/: config.yaml metrics.jsonl summary.json checkpoint/ "
          "learning_curve.png")
    return 0


def _join_processes(argv) -> bool:
    """``jsrpo train`` with several processes joins them first: ``jax.distributed`` must start
    before anything (even importing some modules) initialises a JAX backend."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--coordinator")
    pre.add_argument("--num-processes", type=int)
    pre.add_argument("--process-id", type=int)
    pre.add_argument("--distributed", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if known.command != "train":
        return False
    from jsrpo import distributed
    return distributed.initialize(known.coordinator, known.num_processes, known.process_id,
                                  auto=known.distributed)


def main(argv=None) -> int:
    from jsrpo.config import ConfigError
    try:
        several = _join_processes(sys.argv[1:] if argv is None else argv)
    except ValueError as e:
        print(f"jsrpo train: error: {e}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="jsrpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    from jsrpo.crossplay import add_crossplay_parser, run_crossplay
    from jsrpo.render import add_render_parser, run_render
    add_crossplay_parser(sub)
    add_render_parser(sub)
    commands = {"train": run_train, "crossplay": run_crossplay, "render": run_render}
    try:
        from jsrpo.equilibria.cli import add_solve_parser, run_solve
        add_solve_parser(sub)
        commands["solve"] = run_solve
    except ImportError:  # solvers not installed in this checkout
        pass
    args = parser.parse_args(argv)
    args.several_processes = several
    try:
        return commands[args.command](args)
    except (ConfigError, FileExistsError, FileNotFoundError) as e:
        print(f"jsrpo {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
