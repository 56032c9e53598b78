"""The ``jsrpo`` command: ``train``, ``crossplay``, ``render`` and ``solve``, in one place.

Every command checks its input before anything compiles or is written; a bad value ends the
command with ``jsrpo COMMAND: error: <field>: <what is wrong; what is allowed>`` and exit
status 2 (``USER_ERRORS``), the same way for every command.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional

import jax

from jsrpo import (
    compile_cache,
    crossplay,
    distributed,
    fcp,
    launcher,
    outputs,
    partners,
    population,
    psro,
    ranking,
    render,
)
from jsrpo import config as config_mod
from jsrpo import trackers as trackers_mod
from jsrpo.checkpoint import CheckpointError, Checkpoints, load_policy, save_final, saved_steps
from jsrpo.config import ConfigError
from jsrpo.equilibria import report as solve_report
from jsrpo.equilibria.games import GameError, get_game
from jsrpo.files import atomic_write, write_json
from jsrpo.frozen import FrozenSeats, env_of
from jsrpo.rundir import RunDir, RunFormatError, RunLock, RunLockedError
from jsrpo.sweep import Interrupted, NonFiniteError, members, run_sweep
from jsrpo.train import make_train


class UsageError(ValueError):
    """A bad command-line value; the message names the argument."""


#: errors that are the user's input, reported as one line with exit status 2.
USER_ERRORS = (UsageError, ConfigError, CheckpointError, RunFormatError, RunLockedError, GameError,
               solve_report.SolveError, FileExistsError, FileNotFoundError, NotADirectoryError)


#: largest episode, resample and start counts a command accepts (beyond: memory, not results).
MAX_COUNT = 1_000_000


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: an integer from 1 to {MAX_COUNT:,}")
    return value


def _budget(text: str) -> int:
    """An env-step budget: an integer, also written 5e6."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value.is_integer() and 1 <= value <= config_mod.MAX_ENV_STEPS):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: an integer from 1 to {config_mod.MAX_ENV_STEPS:.0e}")
    return int(value)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= config_mod.MAX_INT:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: an integer from 0 to {config_mod.MAX_INT}")
    return value


#: frames per second a GIF can show (GIF frame times are whole hundredths of a second).
FPS_RANGE = (0.1, 50.0)


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not FPS_RANGE[0] <= value <= FPS_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: a number from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}")
    return value


def _cache_flag(p) -> None:
    """``--no-compile-cache``, on every command that compiles training or evaluation programs
    (``main`` turns the cache on for them)."""
    p.add_argument("--no-compile-cache", action="store_true",
                   help="compile without the persistent compilation cache (on by default, in "
                        f"~/.cache/jsrpo/xla; {compile_cache.ENV_VAR}=DIR or off sets it)")


def _default_out(out: Optional[str], inputs: list, name: str) -> Path:
    """``--out`` checked, else the one input directory, else ``runs/<name>-<timestamp>``."""
    if out is not None:
        return _check_out(out)
    return Path(inputs[0]) if len(inputs) == 1 else (
        Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


# ---------------------------------------------------------------- train

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
                   help="replace the run in an existing --out directory (its files are deleted "
                        "first; a directory holding other files is refused)")
    p.add_argument("--total-env-steps", type=_budget, default=None, metavar="N",
                   help="with --resume: continue the run to N env steps per member")
    _cache_flag(p)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    _hosts_flags(p)
    p.set_defaults(run=run_train)


def _hosts_flags(p) -> None:
    """The multi-process flags (read by ``jsrpo.__main__``, which joins the processes)."""
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


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "kwargs":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _config_difference(a: config_mod.Config, b: config_mod.Config) -> list[str]:
    fa, fb = _flat(config_mod.to_dict(a)), _flat(config_mod.to_dict(b))
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k)]


def _metrics_rows(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except (OSError, UnicodeDecodeError):
        return 0


def _resume_setup(args):
    """The config to continue a run with, checked against its checkpoints, and whether the run
    is already complete. Nothing is written here."""
    rd = RunDir(args.resume)
    if args.config or args.overrides or args.out or args.overwrite:
        raise ConfigError("--resume: continues a run with its own saved config; do not pass "
                          "--config, --out, --overwrite or overrides with it (use "
                          "--total-env-steps N to extend its budget)")
    if not rd.config.is_file():
        raise ConfigError(f"--resume {rd.path}: not a run directory (no config.yaml)")
    cfg = config_mod.load(rd.config)
    if rd.checkpoint_config.is_file():  # the config the checkpoints were trained with
        trained = config_mod.load(rd.checkpoint_config)
        diff = _config_difference(trained, cfg)
        if diff:
            raise ConfigError(
                f"--resume {rd.path}: config.yaml differs from the config its checkpoints were "
                f"trained with ({rd.checkpoint_config}): {'; '.join(diff)}. A run continues with "
                f"the config it started with: restore it (cp {rd.checkpoint_config} "
                f"{rd.config}); to extend the budget pass --total-env-steps N")
        cfg = trained
    if not (cfg.checkpoint.every_updates or cfg.checkpoint.snapshots):
        raise ConfigError(f"--resume {rd.path}: the run saved no periodic checkpoints "
                          "(checkpoint.every_updates was 0)")
    last = max(saved_steps(rd.path), default=None)
    if last is None and (_metrics_rows(rd.metrics) or rd.summary.exists()):
        raise ConfigError(
            f"--resume {rd.path}: no checkpoint to continue from ({rd.state} holds no complete "
            f"step) although the run had progressed ({_metrics_rows(rd.metrics)} metrics rows"
            f"{', a summary' if rd.summary.exists() else ''}); start it again with "
            f"jsrpo train --config {rd.config} --out {rd.path} --overwrite")
    if args.total_env_steps is not None:
        new = config_mod.from_dict(config_mod.merge(
            config_mod.to_dict(cfg), {"train": {"total_env_steps": args.total_env_steps}}))
        lay, old = new.layout, cfg.layout
        done = last or 0
        if lay.num_updates < done:
            raise ConfigError(
                f"--total-env-steps: got {args.total_env_steps}; allowed: at least "
                f"{done * cfg.train.num_envs * cfg.train.num_steps}, the budget of the "
                f"{done} updates its checkpoint has done")
        if done % old.log_interval and lay.num_updates != done:
            raise ConfigError(
                f"--total-env-steps: {rd.path} ended inside a logging period (update {done}, "
                f"log.interval {old.log_interval}), so it cannot be continued past it")
        cfg = new
    finished = (last is not None and last >= cfg.layout.num_updates
                and rd.summary.is_file() and rd.final.is_dir())
    return cfg, rd.path, last, finished


def _check_out(out: str) -> Path:
    """``--out`` must name a directory this process can create or write into."""
    if not str(out).strip():
        raise UsageError(f"--out: got {out!r}; allowed: a directory path")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path}: is a file, not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: cannot write into {existing} (permission denied or a "
                         "read-only file system)")
    return path


def _make_trainer(cfg):
    """The trainer, or a ``ConfigError`` naming the env/network setting that cannot be built."""
    try:
        return make_train(cfg)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        msg = str(e) if str(e).startswith("env.") else (
            f"env.kwargs: {cfg.env.name} cannot be built with {cfg.env.kwargs} "
            f"({type(e).__name__}: {e})")
        raise ConfigError(msg) from None


def _warn_unfinished_warmup(cfg) -> None:
    """Say so when an SRPO run never leaves its IPPO warm-up (a shipped Overcooked config with a
    shortened budget, say): it would train IPPO only, its adversaries never."""
    if cfg.method != "srpo":
        return
    warmup = cfg.value_range("srpo.ippo_warmup")[1]
    last_start = (cfg.layout.num_updates - 1) * cfg.layout.env_steps_per_update
    if warmup > last_start:
        print(f"[jsrpo] warning: srpo.ippo_warmup {warmup:g} is longer than this run "
              f"({cfg.layout.num_updates * cfg.layout.env_steps_per_update:,} env steps per "
              "member): it trains as IPPO throughout and its adversaries never train; "
              "lower srpo.ippo_warmup (0: SRPO from the start) or raise train.total_env_steps")


def run_train(args) -> int:
    several = args.several_processes  # joined in ``main`` before anything touched JAX
    last, finished = None, False
    if args.resume:
        stages = Path(args.resume) / population.STAGES
        if stages.is_file() and not RunDir(args.resume).config.is_file():
            staged = _staged_resume_config(args, stages)
            run = _train_psro if staged.method == "psro" else _train_fcp
            return run(args, staged, Path(args.resume))
        cfg, run_dir, last, finished = _resume_setup(args)
    else:
        if not args.config:
            raise ConfigError("--config: required (or --resume RUN_DIR)")
        if args.total_env_steps is not None:
            raise ConfigError("--total-env-steps: only with --resume RUN_DIR (for a new run "
                              "use train.total_env_steps=N)")
        cfg = config_mod.load(args.config, args.overrides)  # validated before anything compiles
        if several and not args.out:
            raise ConfigError("--out: required with several processes (they share one run dir)")
        run_dir = _check_out(args.out) if args.out is not None else Path("runs") / (
            f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
        if fcp.is_staged(cfg):
            return _train_fcp(args, cfg, run_dir)
        if cfg.method == "psro":
            return _train_psro(args, cfg, run_dir)
    return _train_dir(args, cfg, run_dir, last, finished)


def _staged_resume_config(args, stages: Path):
    """The staged config of an FCP run resumed before its stage 2 started, or of a PSRO run."""
    if args.config or args.overrides or args.out or args.overwrite:
        raise ConfigError("--resume: continues a run with its own saved config; do not pass "
                          "--config, --out, --overwrite or overrides with it")
    if args.total_env_steps is not None:
        raise ConfigError(f"--total-env-steps: {args.resume} runs in stages (FCP partners, "
                          "PSRO iterations); its stages' budgets are in its stages.yaml")
    return config_mod.load(stages)


def _prepare_staged(args, cfg, rd: RunDir) -> None:
    """A new staged run's directory (FCP, PSRO): empty (or ``--overwrite``), with the staged
    config in ``stages.yaml``."""
    if args.resume or not distributed.is_main():
        return
    if rd.entries() and not args.overwrite:
        raise FileExistsError(
            f"--out {rd.path}: directory exists and is not empty (another run's "
            "results?); choose a new --out or pass --overwrite")
    rd.clean()
    try:
        rd.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {rd.path}: cannot be created ({e.strerror})") from None
    atomic_write(rd.path / population.STAGES, outputs.config_text(cfg))


def _stage_args(args):
    """``args`` for one stage of a staged run: no config file, overrides or budget change."""
    return argparse.Namespace(**{**vars(args), "config": None, "overrides": [], "out": None,
                                 "overwrite": False, "total_env_steps": None, "resume": None})


def _train_stage(args, cfg, directory: Path, keep=()) -> int:
    """Train one stage of a staged run in ``directory``: nothing when it is complete, resumed
    from its newest checkpoint when it has one, else (not started, or stopped before its first
    checkpoint) from the start."""
    sub = _stage_args(args)
    rd = RunDir(directory)
    if rd.summary.is_file() and rd.final.is_dir():
        print(f"[jsrpo] {rd.path} is complete; nothing to do", flush=True)
        return 0
    if rd.config.is_file() and saved_steps(rd.path):
        sub.resume = str(directory)
        cfg, _, last, finished = _resume_setup(sub)
        return _train_dir(sub, cfg, directory, last, finished)
    # the stage's own files from a start that left no checkpoint: begin it again
    sub.overwrite = rd.config.is_file()
    return _train_dir(sub, cfg, directory, None, False, keep=keep)


def _train_psro(args, cfg, run_dir: Path) -> int:
    """A PSRO run (``jsrpo.psro``): its stages in ``RUN/iter_*``, resumed where it stopped."""
    rd = RunDir(run_dir)
    trackers_mod.check(cfg)
    psro.check(cfg)
    _make_trainer(psro.initial_config(cfg))  # bad settings stop here, nothing written
    _prepare_staged(args, cfg, rd)
    if args.several_processes:
        distributed.sync("jsrpo psro run dir ready")
    code = psro.run(cfg, rd.path, lambda c, d: _train_stage(args, c, d))
    if code == 0:
        print(f"[jsrpo] wrote {rd.path}/: psro.json metrics.jsonl meta_game.png "
              "meta_strategy.png", flush=True)
    return code


def _train_fcp(args, cfg, run_dir: Path) -> int:
    """An FCP run in two stages (``jsrpo.fcp``): the partners into ``RUN/partners`` (resumed
    when started), then the FCP agents in ``RUN`` against their pool."""
    rd = RunDir(run_dir)
    partners = rd.path / fcp.PARTNERS
    stage1 = fcp.partner_config(cfg)
    trackers_mod.check(cfg)
    fcp.check(cfg)  # stage 2's pool in every seat must fit the game
    _make_trainer(stage1)  # bad settings stop here, before anything is written
    _prepare_staged(args, cfg, rd)
    if args.several_processes:
        distributed.sync("jsrpo fcp run dir ready")
    print(f"[jsrpo] fcp stage 1/2: {cfg.fcp.num_partners} {cfg.fcp.partner_method} partners "
          f"in {partners}", flush=True)
    code = _train_stage(args, stage1, partners)
    if code:
        return code
    stage2 = fcp.agent_config(cfg, partners)
    print(f"[jsrpo] fcp stage 2/2: the FCP agents against {len(fcp.pool(cfg, partners))} "
          f"pool entries of {cfg.fcp.num_partners} partners each", flush=True)
    return _train_stage(args, stage2, rd.path, keep=(population.STAGES, fcp.PARTNERS))


def _train_dir(args, cfg, run_dir, last, finished, keep=()) -> int:
    """Train ``cfg`` in ``run_dir`` (new, or resumed from update ``last``). ``keep``: entries
    of a new run's directory that are not its own (an FCP run's stage 1) and stay."""
    several = args.several_processes
    main_process = distributed.is_main()
    trackers_mod.check(cfg)  # a requested tracker without its library stops here
    trainer = _make_trainer(cfg)  # builds the env: bad env arguments stop here, nothing written
    rd = RunDir(run_dir)
    if main_process and not finished:
        _warn_unfinished_warmup(cfg)
    if finished:
        print(f"[jsrpo] {rd.path} is complete (update {last}); nothing to do. To continue "
              f"training pass --total-env-steps N (now {cfg.train.total_env_steps})")
        return 0
    lock = RunLock(rd.path, "jsrpo " + " ".join(sys.argv[1:]))
    if main_process:
        try:
            rd.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out {rd.path}: cannot be created ({e.strerror})") from None
        lock.acquire()
    try:
        if main_process and not args.resume:
            if set(rd.entries()) - set(keep) and not args.overwrite:
                raise FileExistsError(
                    f"--out {rd.path}: directory exists and is not empty (another run's "
                    "results?); choose a new --out or pass --overwrite")
            rd.clean(keep)  # --overwrite starts from a clean directory, never from its old state
            outputs.write_config(rd.path, cfg)
            rd.metrics.write_text("")
        elif main_process and args.total_env_steps is not None:
            outputs.write_config(rd.path, cfg)  # the extended budget is the run's config now
        if several:  # the others wait until process 0 has checked and prepared the run dir
            distributed.sync("jsrpo run dir ready")
        return _train(args, cfg, trainer, rd, lock, main_process, last)
    finally:
        lock.release()


def _train(args, cfg, trainer, rd: RunDir, lock: RunLock, main_process: bool, last) -> int:
    ms = members(cfg)
    extra = tuple(trainer.venv.contribution_keys) + (
        ("action_probs",) if trainer.venv.max_steps == 1 else ())
    ck = None
    if cfg.checkpoint.every_updates or cfg.checkpoint.snapshots:
        ck = Checkpoints(rd.state, cfg, cfg.checkpoint.every_updates, cfg.checkpoint.keep,
                         cfg.checkpoint.snapshots)
    tracked = None
    if main_process and (cfg.log.wandb is not None or cfg.log.tensorboard):
        tracked = trackers_mod.Trackers(
            cfg, rd.path, [outputs.member_spec(cfg, m).label() for m in ms],
            [trackers_mod.hyper_config(cfg, m) for m in ms])
    writer = outputs.MetricsWriter(cfg, ms, rd.metrics if main_process else None,
                                   cfg.log.progress and main_process, extra, tracked)
    try:
        return _run_and_report(args, cfg, trainer, rd, lock, main_process, last, ms, ck,
                               writer, extra, tracked)
    finally:
        if tracked is not None:
            tracked.finish()  # a run that stopped early still closes its tracker runs


def _run_and_report(args, cfg, trainer, rd, lock, main_process, last, ms, ck, writer, extra,
                    tracked) -> int:
    """Train with the prepared writer (and trackers), then write the summary and the plot."""
    lay = cfg.layout
    if args.resume:
        if last is None and main_process:
            rd.metrics.write_text("")  # killed before its first checkpoint: start again
        print(f"[jsrpo] resuming {rd.path} from update {last or 0}"
              + (f" to {lay.num_updates}" if args.total_env_steps is not None else ""),
              flush=True)
        if args.total_env_steps is not None and cfg.train.anneal_lr:
            print("[jsrpo] note: train.anneal_lr: the learning rate now decays to 0 at the new "
                  "budget, so the result differs from a run that had it from the start",
                  flush=True)
    # A resumed run compiles a host loop that starts at its checkpoint: its own key.
    times_key = compile_cache.config_key(dict(config_mod.to_dict(cfg), resumed=bool(last)),
                                         len(ms))
    print(f"[jsrpo] {cfg.method} on {cfg.env.name}: {len(ms)} member(s), "
          f"{lay.num_updates} updates x {lay.env_steps_per_update} env steps; compiling"
          f"{compile_cache.describe_last(compile_cache.last_compile(times_key))}...",
          flush=True)

    # Ctrl-C / SIGTERM: finish the current logging period, save a checkpoint, exit cleanly.
    stop: dict[str, Optional[int]] = {"signal": None}

    def request_stop(signum, frame):
        if stop["signal"] is not None:  # a second signal: stop at once, in one line
            print(f"\n[jsrpo] signal {signum} again: stopped at once; the newest complete "
                  f"checkpoint is kept (jsrpo train --resume {rd.path})", file=sys.stderr,
                  flush=True)
            lock.release()
            os._exit(128 + signum)
        stop["signal"] = signum
        print(f"\n[jsrpo] signal {signum}: saving a checkpoint at the end of this period "
              "(again to stop at once)...", file=sys.stderr, flush=True)

    handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)} \
        if ck is not None else {}
    def compiled(seconds, stats):
        print(f"[jsrpo] compiled in {seconds:.1f}s ({stats.describe()}); training...",
              flush=True)
        if main_process:
            compile_cache.record_compile(times_key, seconds, stats.programs, stats.cache_hits)
        writer.start()

    try:
        # The host loop even without checkpoints: its programs have no host callback, so the
        # persistent compilation cache can keep them for the next run.
        res = run_sweep(trainer, on_period=writer, ms=ms, on_compiled=compiled,
                        checkpoints=ck, should_stop=lambda: stop["signal"] is not None,
                        on_restore=writer.rebuild, host_loop=True)
    except Interrupted as e:
        print(f"[jsrpo] stopped after update {e.update}; checkpoint saved. Continue with:\n"
              f"  jsrpo train --resume {rd.path}", file=sys.stderr, flush=True)
        signum = stop["signal"]
        if signum is None:  # run_sweep stops only once should_stop is true, i.e. after a signal
            raise RuntimeError("training was interrupted without a signal") from e
        return 128 + int(signum)
    except NonFiniteError as e:
        print(f"[jsrpo] error: {e}", file=sys.stderr, flush=True)
        return 3
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    print(f"[jsrpo] trained in {res.run_seconds:.1f}s "
          f"({res.env_steps * len(ms) / res.run_seconds:,.0f} env steps/s)", flush=True)
    for fail in res.failures:
        print(f"[jsrpo] warning: {fail.describe()}; frozen at its last good parameters "
              "(train.on_nonfinite=continue)", file=sys.stderr, flush=True)
    env = trainer.venv.env
    data = outputs.summary(cfg, res, extra, getattr(env, "action_names", None),
                           outputs.member_payoffs(cfg, ms, env))
    # Every process saves its shards of the final params; the main one writes the rest.
    save_final(rd.path, outputs.run_meta(cfg, trainer, ms), res.states.params, main_process)
    if not main_process:
        return 0
    outputs.write_summary(rd.path, data)
    outputs.plot_learning_curves(cfg, res, rd.learning_curve)
    for row in data["members"]:
        if row.get("converged") is False:
            print(f"[jsrpo] warning: member {row['member']} has not converged: its strategies "
                  f"are {row['nearest_rqe_distance']:.3f} from the nearest exact RQE "
                  f"(nearest_rqe_distance in summary.json; converged means <= "
                  f"{outputs.CONVERGED}); train longer or with a smaller train.lr",
                  file=sys.stderr, flush=True)
        probs = (f" P(a0)={[round(p[0], 4) for p in row['action_probs']]}"
                 if "action_probs" in row else "")
        tau = f"tau={row['tau']} " if row["method"] == "srpo" else ""  # the others ignore tau
        swept = "".join(f"{k.split('.')[-1]}={row[k]:g} " for k in cfg.swept()
                        if k not in ("tau", "eps"))
        print(f"  member {row['member']}: {tau}eps={row['eps']} {swept}seed={row['seed']} "
              f"return={[round(r, 3) for r in row['return']]} "
              f"cost={[round(c, 3) for c in row['private_cost']]} "
              f"free_riding={row['free_riding']:.3f}{probs}")
    if tracked is not None:
        tracked.finish(data["members"], images=(rd.learning_curve,))
    print(f"[jsrpo] wrote {rd.path}/: config.yaml metrics.jsonl summary.json checkpoint/ "
          "learning_curve.png" + (" tensorboard/" if cfg.log.tensorboard else "")
          + (" wandb/" if cfg.log.wandb is not None else ""))
    return 0


# ---------------------------------------------------------------- crossplay

def _crossplay_parser(sub) -> None:
    p = sub.add_parser(
        "crossplay", help="cross-play matrix of pooled runs and held-out scripted partners",
        description="Pool every sweep member of the given runs; play every seat-0 hero with "
                    "every seat-1 hero (and scripted partners), no learning; write "
                    "crossplay.json, crossplay_heatmap.png and tp_cp.png.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories written by `jsrpo train` (all members are pooled)")
    listing = "; ".join(f"{', '.join(s.envs)}: {s.describe()}" for s in partners.sets())
    p.add_argument("--partners", default=None,
                   help="comma-separated held-out scripted partners, each name[:key=value]... "
                        f"({listing}; epsilon=P for any); 'none' for no partners; default: the "
                        "environment's default set")
    p.add_argument("--runners", default=None,
                   help="runs with a frozen seat (env.frozen, e.g. Tag's runner): also play "
                        "each member's own team against each of these comma-separated policies "
                        "in that seat (scripted agents or run directories PATH[#member][@update]), "
                        "the runner-shift test")
    p.add_argument("--episodes", type=_positive_int, default=crossplay.DEFAULT_EPISODES,
                   help=f"episodes per pair (default {crossplay.DEFAULT_EPISODES})")
    p.add_argument("--out", default=None,
                   help="output directory (default: the run directory when one is given, "
                        "else runs/crossplay-<timestamp>)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of episodes and bootstrap")
    p.add_argument("--bootstrap-reps", type=_positive_int,
                   default=crossplay.DEFAULT_BOOTSTRAP_REPS,
                   help="bootstrap resamples for the 95%% intervals "
                        f"(default {crossplay.DEFAULT_BOOTSTRAP_REPS})")
    _cache_flag(p)
    p.set_defaults(run=run_crossplay)


def _partner_specs(arg, env_name: str) -> tuple[str, ...]:
    if arg is None:
        return partners.default_specs(env_name)
    if arg.strip().lower() == "none":
        return ()
    return tuple(s.strip() for s in arg.split(",") if s.strip())


def run_crossplay(args) -> int:
    """Evaluate, write the three files, print TP/CP per method."""
    run_dirs = [Path(d) for d in args.run_dirs]
    seen: dict = {}
    for d in run_dirs:
        first = seen.setdefault(d.resolve(), d)
        if first is not d:
            raise UsageError(f"RUN_DIR: {d} is given twice ({first} and {d}); each run is pooled "
                             "once (its own pairs are its training performance, not cross-play)")
    out = _default_out(args.out, run_dirs, "crossplay")
    try:
        meta = (population.load(run_dirs[0]).meta if population.is_psro_run(run_dirs[0])
                else RunDir(run_dirs[0]).read_meta().deployed())
        env = meta.member_env(0)
        specs = _partner_specs(args.partners, env.name)
        # bad names fail before compiling
        crossplay.partner_agents(env.name, specs, env.kwargs, meta.num_seats)
        runners = tuple(r.strip() for r in (args.runners or "").split(",") if r.strip())
        result = crossplay.crossplay(run_dirs, specs, args.episodes, args.seed,
                                     args.bootstrap_reps, runners)
    except ValueError as e:  # unreadable runs, mixed envs, unplayable partners
        raise UsageError(str(e)) from None
    paths = crossplay.write_outputs(result, out)
    print("\n".join(crossplay.summary_lines(result)))
    print(f"[jsrpo] pool evaluated in {result['seconds']['pool']:.1f}s (incl. compile); wrote "
          + " ".join(str(p) for p in paths))
    return 0


# ---------------------------------------------------------------- render

def _render_parser(sub) -> None:
    listing = "; ".join(f"{', '.join(s.envs)}: {s.describe()}" for s in partners.sets()
                        if set(s.envs) & set(render.DRAWABLE + render.TEXT))
    p = sub.add_parser("render", help="one episode as a GIF (coop_grid, Overcooked, Tag) or as "
                                      "text (Hanabi)",
                       description="Play one episode of a member's heroes (or its seat-0 hero "
                                   "with a scripted partner in the other seats) and write a GIF "
                                   f"({', '.join(render.DRAWABLE)}) or a text file "
                                   f"({', '.join(render.TEXT)}).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `jsrpo train`")
    p.add_argument("--member", type=int, default=0,
                   help="sweep member whose heroes play (default 0)")
    p.add_argument("--partner", default=None,
                   help="scripted partner in every seat but 0 instead of the member's "
                        f"heroes, name[:key=value]... ({listing})")
    p.add_argument("--out", required=True, help="GIF (or, for Hanabi, text) file to write")
    p.add_argument("--seed", type=_seed, default=0, help="episode seed")
    p.add_argument("--fps", type=_fps, default=4.0,
                   help=f"frames per second, {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} (default 4)")
    p.add_argument("--frames", type=_positive_int, default=None,
                   help="draw only the first N frames (default: the whole episode, T + 1)")
    p.set_defaults(run=run_render)


def run_render(args) -> int:
    """Play one episode and write the GIF (or the text)."""
    # a PSRO run plays its final meta-strategy mixtures (``population.load``)
    pol = population.load(args.run_dir) if population.is_psro_run(args.run_dir) else None
    own_seat = None
    meta: Any
    if pol is not None:
        meta = pol.meta
    else:
        trained = RunDir(args.run_dir).read_meta()
        meta = trained.deployed()
        if not meta.plays_every_seat:  # one fixed learning seat: drawn as it trained
            own_seat = next(s for s, h in enumerate(meta.hero_seats) if h >= 0)
            meta = trained
    if meta.env.name not in render.DRAWABLE + render.TEXT:
        raise UsageError(f"RUN_DIR: nothing to draw: this run plays {meta.env.name}, a one-shot "
                         "game (its strategies are action_probs in summary.json); render draws "
                         + ", ".join(render.DRAWABLE) + " and writes "
                         + ", ".join(render.TEXT) + " as text")
    text = meta.env.name in render.TEXT
    gif = Path(args.out)
    if gif.is_dir() or str(args.out).endswith(os.sep):
        raise UsageError(f"--out {gif}: is a directory; give the {'text' if text else 'GIF'} "
                         "file to write")
    if not gif.parent.is_dir():
        raise UsageError(f"--out {gif}: the folder {gif.parent} does not exist")
    if not os.access(gif.parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {gif}: cannot write into {gif.parent} (permission denied or a "
                         "read-only file system)")
    if not 0 <= args.member < len(meta.members):
        raise UsageError(f"--member: got {args.member}; allowed: 0..{len(meta.members) - 1}")
    partner = None
    if args.partner is not None:
        try:
            partner = partners.parse(meta.env.name, args.partner, seat=1,
                                     env_kwargs=meta.member_env(args.member).kwargs)
        except ValueError as e:
            raise UsageError(f"--partner: {e}") from None
    seats = range(meta.num_seats)
    hero = ((lambda s: pol.hero(args.member, s)) if pol is not None
            else (lambda s: load_policy(args.run_dir, args.member,
                                        seat=s if own_seat is None else own_seat)))
    agents = [hero(s) if s == 0 or partner is None else partner for s in seats]
    names = [a.name for a in agents]
    member_env = meta.member_env(args.member)
    env = env_of(member_env)
    episode = render.record_episode(env, agents, jax.random.PRNGKey(args.seed))
    ret = episode["rewards"][:episode["length"]].sum(0)  # the learning seats'
    drawn_names = names
    if isinstance(env, FrozenSeats):  # draw the whole game, the frozen seat too
        env, episode, drawn_names = env.unwrap(episode, names)
    if text:
        n = render.write_text(env, episode, drawn_names, gif)
        what = f"{n} turns"
    else:
        n = render.write_gif(env, episode, (drawn_names[0], drawn_names[1]), gif, args.fps,
                             args.frames)
        what = f"{n} frames"
    print(f"[jsrpo] {' with '.join(dict.fromkeys(names))}: returns "
          f"{[round(float(r), 2) for r in ret]}, team return {ret.mean():.2f}; wrote {args.out} "
          f"({what})")
    return 0


# ---------------------------------------------------------------- solve

def _solve_parser(sub) -> None:
    p = sub.add_parser("solve", help="exact RQE / QRE / Nash / RAE of a two-player normal-form "
                                     "game", description=solve_report.__doc__.split("\n\n")[0])
    p.add_argument("--game", required=True, metavar="NAME_OR_FILE",
                   help="a registered game (collab_defect, stag_hunt, car_overtake, coordination, "
                        "rock_paper_scissors, matching_pennies) or a YAML/JSON payoff file")
    p.add_argument("--concept", required=True, choices=solve_report.CONCEPTS,
                   help="solution concept")
    p.add_argument("--tau", type=float, nargs="+", help="risk aversion(s), rqe (default 1)")
    p.add_argument("--eps", type=float, nargs="+",
                   help="entropy weight(s), rqe and qre (default 0.1)")
    p.add_argument("--gamma", type=float, nargs="+", help="variance weight(s), rae (default 0.1)")
    p.add_argument("--starts", type=_positive_int, default=64,
                   help="random starts of the rqe/qre search (default 64)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=run_solve)


def run_solve(args) -> int:
    """Print every equilibrium of the game for each parameter combination."""
    grid = solve_report.parameter_grid(
        args.concept, {"tau": args.tau, "eps": args.eps, "gamma": args.gamma}, args.starts)
    if not args.game.strip():
        raise UsageError("--game: got ''; allowed: a registered game name or a payoff file")
    try:
        game = get_game(args.game)
    except GameError as err:
        raise UsageError(f"--game: {err}") from None
    results = solve_report.solve(game, args.concept, grid, args.starts)
    if args.json:
        print(json.dumps(solve_report.as_json(game, args.concept, grid, results), indent=2))
    else:
        print("\n".join(solve_report.text_lines(game, args.concept, grid, results)))
    return 0


# ---------------------------------------------------------------- sweep

def _sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="groups of runs over settings that change shapes",
                       description="Train every combination of a sweep file's `structure` "
                                   "values as its own run (one compiled program per group, "
                                   "its traced sweep inside), one after another, into one sweep "
                                   "directory; run again to resume the groups not finished.")
    p.add_argument("sweep_file", metavar="SWEEP_FILE",
                   help="a run config with a `structure` mapping of keys to lists")
    p.add_argument("--out", required=True, help="sweep directory (created, or resumed)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    _cache_flag(p)
    _hosts_flags(p)
    p.set_defaults(run=run_sweep_cmd)


def run_sweep_cmd(args) -> int:
    """Check every group, then train the unfinished ones; write sweep.json/csv and the plot.

    With several processes every group's run spans all of them (its members spread over every
    process's devices); process 0 alone checks and writes the sweep directory's own files."""
    raw, groups = launcher.load(args.sweep_file, args.overrides)  # every group checked first
    out = _check_out(args.out)
    text = launcher.sweep_file_text(raw)
    saved = out / "sweep.yaml"
    main_process = distributed.is_main()
    if saved.exists():
        if saved.read_text() != text:
            raise UsageError(f"--out {out}: holds another sweep (its sweep.yaml differs from "
                             "this file and overrides); choose a new --out")
        print(f"[jsrpo] resuming the sweep in {out}", flush=True)
    elif out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out}: directory exists and is not a sweep directory; choose "
                         "a new --out")
    several = args.several_processes
    if several:  # every process has checked the directory before it changes
        distributed.sync("jsrpo sweep dir checked")
    ok = True
    if main_process:
        try:
            (out / "configs").mkdir(parents=True, exist_ok=True)
            atomic_write(saved, text)
            for g in groups:
                atomic_write(out / "configs" / f"{g.name}.yaml", outputs.config_text(g.config))
        except OSError as e:
            if not several:
                raise
            print(f"[jsrpo] error: {out}: {e}", file=sys.stderr, flush=True)
            ok = False
    # With several processes they agree after every step that one of them may fail alone (the
    # others would otherwise wait for it at the next barrier for ever).
    if several and not distributed.all_ok(ok):
        return 2
    # Every process decides from the same files, read after the barrier.
    states = [launcher.status(out / "groups" / g.name) for g in groups]
    for i, (g, state) in enumerate(zip(groups, states)):
        gdir = out / "groups" / g.name
        print(f"[jsrpo] group {i + 1}/{len(groups)} {g.name} ({state}): "
              + ", ".join(f"{k}={v}" for k, v in g.values.items()), flush=True)
        if state == "done":
            continue
        resume = state == "resumable"  # a --resume takes the run's own config and directory
        group_args = argparse.Namespace(
            config=None if resume else str(out / "configs" / f"{g.name}.yaml"), overrides=[],
            out=None if resume else str(gdir), overwrite=not resume,
            resume=str(gdir) if resume else None, total_env_steps=None, several_processes=several)
        try:
            rc = run_train(group_args)
        except Exception as e:  # noqa: BLE001  (reported, then every process stops)
            if not several:
                raise
            print(f"[jsrpo] error: group {g.name}: {e}", file=sys.stderr, flush=True)
            rc = 2
        if several and not distributed.all_ok(rc == 0):
            rc = rc or 2  # another process failed in this group
        if rc != 0:
            if main_process:
                launcher.write_outputs(out, groups)
            print(f"[jsrpo] group {g.name} stopped (exit {rc}); run the same command again to "
                  "resume the sweep", file=sys.stderr, flush=True)
            return rc
    if not main_process:
        return 0
    paths = launcher.write_outputs(out, groups)
    print(f"[jsrpo] sweep of {len(groups)} group(s) done; wrote "
          + " ".join(str(p) for p in paths))
    return 0


# ---------------------------------------------------------------- report

def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="rank the settings of runs by a metric; the best as a config",
                       description="Pool each run's members over seeds per setting of the swept "
                                   "values, rank the settings by the IQM of a metric (with a "
                                   "95%% bootstrap interval), and write report.json, report.txt "
                                   "and best_config.yaml.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="finished run directories written by `jsrpo train`, or sweep "
                        "directories written by `jsrpo sweep`")
    p.add_argument("--metric", default="team_return",
                   help="a summary.json member field (default team_return), or crossplay (mean "
                        "team return with the other members of the run's crossplay.json)")
    p.add_argument("--lower-is-better", action="store_true",
                   help="rank ascending (e.g. --metric free_riding)")
    p.add_argument("--top", type=_positive_int, default=20, help="rows printed (default 20)")
    p.add_argument("--out", default=None,
                   help="output directory (default: the run directory when one is given, else "
                        "runs/report-<timestamp>)")
    p.set_defaults(run=run_report)


def run_report(args) -> int:
    """Rank, print, and write report.json, report.txt and best_config.yaml."""
    run_dirs = []
    for d in map(Path, args.run_dirs):  # a sweep directory stands for its finished groups
        run_dirs += launcher.finished_runs(d) if (d / "sweep.yaml").exists() else [d]
    if not run_dirs:
        raise UsageError(f"RUN_DIR: {args.run_dirs[0]} is a sweep directory with no finished "
                         "group yet")
    out = _default_out(args.out, args.run_dirs, "report")
    try:
        result = ranking.rank(run_dirs, args.metric, higher=not args.lower_is_better)
    except (ValueError, ConfigError) as e:
        raise UsageError(str(e)) from None
    text = ranking.lines(result, args.top)
    print("\n".join(text))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "report.json", result)
    atomic_write(out / "report.txt", "\n".join(ranking.lines(result, len(result["settings"])))
                 + "\n")
    atomic_write(out / "best_config.yaml", outputs.config_text(ranking.best_config(result)))
    print(f"[jsrpo] wrote {out / 'report.json'}, report.txt and best_config.yaml (jsrpo train "
          f"--config {out / 'best_config.yaml'})")
    return 0


# ---------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jsrpo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_train_parser, _sweep_parser, _crossplay_parser, _render_parser, _report_parser,
                _solve_parser):
        add(sub)
    return parser


def main(argv=None, several_processes: bool = False) -> int:
    """Run one command; ``several_processes``: a multi-process run was joined (by
    ``jsrpo.__main__``, which must do it before this module is imported)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    args.several_processes = several_processes
    try:
        if hasattr(args, "no_compile_cache"):  # the commands that compile training programs
            try:
                compile_cache.enable(args.no_compile_cache)
            except ValueError as e:
                raise UsageError(str(e)) from None
        return args.run(args)
    except KeyboardInterrupt:
        print(f"\njsrpo {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        print(f"jsrpo {args.command}: error: {e}", file=sys.stderr)
        return 2

