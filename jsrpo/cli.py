"""Command line: ``jsrpo train``, ``jsrpo solve``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a method (or a tau x eps x seed sweep) in one program",
                       description="Train from a YAML config; key=value overrides use dotted "
                                   "keys, e.g. train.lr=3e-4 tau=[1,10] num_seeds=4.")
    p.add_argument("--config", required=True, help="YAML config file (see configs/)")
    p.add_argument("--out", default=None,
                   help="run directory (default: runs/<config name>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow writing into an existing non-empty --out directory")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")


def run_train(args) -> int:
    from jsrpo import config as config_mod

    cfg = config_mod.load(args.config, args.overrides)  # validated before anything compiles
    out = Path(args.out) if args.out else Path("runs") / (
        f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    from jsrpo import outputs
    run_dir = outputs.prepare_run_dir(out, args.overwrite)
    outputs.write_config(run_dir, cfg)

    from jsrpo.sweep import members, run_sweep
    from jsrpo.train import make_train

    trainer = make_train(cfg)
    ms = members(cfg)
    extra = tuple(trainer.venv.contribution_keys) + (
        ("action_probs",) if trainer.venv.max_steps == 1 else ())
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.write_text("")
    writer = outputs.MetricsWriter(cfg, ms, metrics_path, cfg.log.progress, extra)
    print(f"[jsrpo] {cfg.method} on {cfg.env.name}: {len(ms)} member(s), "
          f"{cfg.num_updates} updates x {cfg.env_steps_per_update} env steps; compiling...",
          flush=True)
    res = run_sweep(trainer, on_period=writer, ms=ms, on_compiled=writer.start)
    print(f"[jsrpo] compiled in {res.compile_seconds:.1f}s, trained in {res.run_seconds:.1f}s "
          f"({res.env_steps * len(ms) / res.run_seconds:,.0f} env steps/s)", flush=True)
    data = outputs.summary(cfg, res, extra, getattr(trainer.venv.env, "action_names", None))
    outputs.write_summary(run_dir, data)
    outputs.save_checkpoint(run_dir, cfg, trainer, res)
    outputs.plot_learning_curves(cfg, res, run_dir / "learning_curve.png")
    for row in data["members"]:
        probs = f" P(a0)={[round(p[0], 4) for p in row['action_probs']]}" if "action_probs" in row else ""
        print(f"  member {row['member']}: tau={row['tau']} eps={row['eps']} seed={row['seed']} "
              f"return={[round(r, 3) for r in row['return']]} "
              f"cost={[round(c, 3) for c in row['private_cost']]} "
              f"free_riding={row['free_riding']:.3f}{probs}")
    print(f"[jsrpo] wrote {run_dir}/: config.yaml metrics.jsonl summary.json checkpoint/ "
          "learning_curve.png")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jsrpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    try:
        from jsrpo.equilibria.cli import add_solve_parser, run_solve
        add_solve_parser(sub)
    except ImportError:  # solvers not installed in this checkout
        run_solve = None
    args = parser.parse_args(argv)
    from jsrpo.config import ConfigError
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "solve":
            return run_solve(args)
    except (ConfigError, FileExistsError) as e:
        print(f"jsrpo {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
