"""A sweep (tau x eps x seeds) as one compiled program: ``scan`` over updates of ``vmap`` over
members, with the periodic hero-pair evaluation and a host callback for progress and logging.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from jsrpo import distributed
from jsrpo.config import ENV_PREFIX, Config
from jsrpo.frozen import member_pools
from jsrpo.train import FAILURES, Hyper, LearnerState, Trainer


@dataclass(frozen=True)
class Member:
    """One sweep member: its index, seed and the value of every sweepable hyper-parameter
    (``values``: dotted key -> value in ``Config.sweepable`` order; tau and eps among them)."""

    index: int
    tau: float
    eps: float
    seed: int
    values: Tuple[Tuple[str, Optional[float]], ...] = ()

    def value(self, key: str):
        return dict(self.values)[key]

    def swept(self, keys) -> dict:
        """``{key: value}`` of the given keys (a config's swept ones), for reports."""
        d = dict(self.values)
        return {k: d[k] for k in keys}


def random_draws(cfg: Config) -> list[tuple]:
    """The ``sweep.random`` draws: one tuple per draw, values in ``cfg.sweep.random`` order,
    from a generator seeded with ``sweep.random.seed`` (the same draws on every machine)."""
    rng = np.random.default_rng(cfg.sweep.random_seed)
    draws = []
    for _ in range(cfg.sweep.random_members):
        one = []
        for r in cfg.sweep.random:
            if r.dist == "choice":
                one.append(r.values[int(rng.integers(len(r.values)))])
            else:
                lo, hi = r.values
                u = float(rng.random())
                one.append(lo + (hi - lo) * u if r.dist == "uniform"
                           else float(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u)))
        draws.append(tuple(one))
    return draws


def members(cfg: Config) -> list[Member]:
    """Every member of the sweep, in a fixed order: the random draws (if any), then the grid
    axes in ``Config.sweepable`` order (a ``sweep.zip`` group is one axis), then the seeds
    ``cfg.seed .. cfg.seed + num_seeds - 1`` innermost."""
    rand = [r.key for r in cfg.sweep.random]
    zipped = {k: g for g in cfg.sweep.zip for k in g}
    axes: list = [(tuple(rand), random_draws(cfg))] if rand else []
    placed = set(rand)
    keys = cfg.sweepable()
    for key in keys:
        if key in placed:
            continue
        group = zipped.get(key, (key,))
        placed.update(group)
        axes.append((group, list(zip(*[cfg.values(k) for k in group]))))
    out = []
    seeds = range(cfg.seed, cfg.seed + cfg.num_seeds)
    for i, (*points, seed) in enumerate(itertools.product(*[a[1] for a in axes], seeds)):
        v = {k: x for (keys, _), pt in zip(axes, points) for k, x in zip(keys, pt)}
        out.append(Member(i, float(v["tau"]), float(v["eps"]), seed,
                          tuple((k, v[k]) for k in keys)))
    return out


def member_hyper(cfg: Config, index: int = 0) -> Hyper:
    """The ``Hyper`` of one member (leaves ``[]``), for calling a trainer's pieces directly."""
    return jax.tree.map(lambda x: x[0], Hyper.of([members(cfg)[index]], env_keys(cfg)))


def env_keys(cfg: Config) -> tuple:
    """The ``env.kwargs.*`` keys of ``cfg``'s env that are set in each member's env params.

    All the env's traced arguments, swept or not: the env then computes with the same traced
    values whether a member runs alone or in a sweep, so the two agree bit for bit (a value
    XLA sees as a constant may be folded into different floating-point operations)."""
    return tuple(k for k in cfg.sweepable() if k.startswith(ENV_PREFIX))


def member_inputs(ms: list[Member], traced_env=(), trainer: Optional[Trainer] = None):
    """Keys ``[M, 2]`` and ``Hyper`` with ``[M]`` leaves (``traced_env``: ``env_keys(cfg)``;
    ``trainer``: for a frozen seat, whose pools become inputs, ``frozen.member_pools``). A
    member's key depends only on its seed, so a member trains the same whether run alone or
    inside any sweep."""
    keys = jnp.stack([jax.random.PRNGKey(m.seed) for m in ms])
    pools = None
    if trainer is not None and trainer.config.env.frozen is not None:
        fz = trainer.config.env.frozen
        pools = member_pools(trainer.venv.env, fz.assign, [m.index for m in ms], fz.weights)
    return keys, Hyper.of(ms, traced_env, pools)


def build_pieces(trainer: Trainer, on_period: Optional[Callable] = None):
    """The sweep's three pure pieces, each over all members (``vmap`` inside ``scan``).

    Returns ``(init(keys, hyper) -> states, periods(states, hyper, n) -> (states, (metrics,
    evals)), final(states, hyper) -> (states, final eval))``. ``periods`` runs ``n`` logging
    periods of ``log.interval`` updates, each followed by a hero-pair evaluation; updates past
    ``num_updates`` are skipped by a ``cond`` (the last period may be partial, and the update
    is compiled once). ``on_period(update, metrics, evals)`` is called on the host after every
    period, from inside the program.
    """
    cfg = trainer.config
    lay = cfg.layout
    interval = lay.log_interval

    def init(keys, hyper):
        return jax.vmap(trainer.init)(keys, hyper)

    # A jitted function is traced once per argument shape: the shape query below and the call
    # inside ``cond`` share one trace of the update (the costliest function to trace).
    update = jax.jit(jax.vmap(trainer.update))

    def periods(states, hyper, n: int):
        m_shape = jax.eval_shape(update, states, hyper)[1]
        skipped = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), m_shape)

        stop_on_failure = cfg.train.on_nonfinite == "stop"

        def one_update(states, _):
            active = states.update[0] < lay.num_updates
            if stop_on_failure:  # the rest of the run is skipped; the host reports the failure
                active = active & ~jnp.any(states.failed_at >= 0)
            states, m = jax.lax.cond(
                active, lambda s: update(s, hyper), lambda s: (s, skipped),
                states)
            return states, (m, active)

        def period(states, _):
            states, (m, active) = jax.lax.scan(one_update, states, None, length=interval)
            count = jnp.maximum(active.sum(), 1)
            episodes = m.pop("train/episodes").sum(0)
            ret = m.pop("train/return_sum").sum(0) / jnp.maximum(episodes, 1)
            m = jax.tree.map(lambda x: x.sum(0) / count, m)
            m["train/return"] = jnp.where(episodes > 0, ret, jnp.nan)
            states, ev = jax.vmap(lambda s, h: trainer.evaluate(s, h, cfg.log.eval_envs))(
                states, hyper)
            if on_period is not None:
                jax.debug.callback(on_period, states.update[0], m, ev)
            return states, (m, ev)

        return jax.lax.scan(period, states, None, length=n)

    def final(states, hyper):
        return jax.vmap(lambda s, h: trainer.evaluate(s, h, cfg.log.final_eval_envs))(
            states, hyper)

    return init, periods, final


def sweep_mesh(num_members: int, devices=None):
    """A 1-D ``Mesh`` (axis ``"members"``) over the devices a sweep of ``num_members`` uses:
    the largest number of them that divides the member count, so every device holds the same
    number of whole members and no padding member changes what is computed or checkpointed.
    ``devices`` defaults to ``jax.devices()`` (every host's devices after
    ``jax.distributed.initialize()``). Returns None when only one device would be used."""
    devices = list(jax.devices() if devices is None else devices)
    n = max(d for d in range(1, len(devices) + 1) if num_members % d == 0)
    return None if n == 1 else Mesh(np.array(devices[:n]), ("members",))


def _member_shardings(mesh, tree, axis: int):
    """A ``NamedSharding`` per leaf of ``tree`` splitting its ``axis`` (the member axis) over
    ``mesh``; the ``jit`` in/out shardings of the sweep's programs."""
    spec = PartitionSpec(*([None] * axis + ["members"]))
    return jax.tree.map(lambda _: NamedSharding(mesh, spec), tree)


@dataclass
class CompileStats:
    """Where a sweep's compile time went, summed over its programs (seconds): ``trace``
    (Python to jaxpr), ``lower`` (jaxpr to StableHLO), ``compile`` (XLA, or loading the
    executable from the persistent cache: ``cache_hits`` of ``programs`` were loaded)."""

    trace: float = 0.0
    lower: float = 0.0
    compile: float = 0.0
    programs: int = 0
    cache_hits: int = 0

    def describe(self) -> str:
        cached = f", {self.cache_hits} of {self.programs} from the cache" if self.cache_hits else ""
        return (f"trace {self.trace:.1f}s, lower {self.lower:.1f}s, "
                f"XLA {self.compile:.1f}s{cached}")


_CACHE_HITS = [0]


def _count_cache_hit(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _CACHE_HITS[0] += 1


jax.monitoring.register_event_listener(_count_cache_hit)


def _compile(fn, mesh, args, in_axes, out_axes, stats: Optional[CompileStats] = None):
    """``jax.jit(fn).trace(*args).lower().compile()``, with the member axis of every argument
    and output split over ``mesh`` when there is one. ``in_axes``: the member axis of each
    argument; ``out_axes``: of each output when ``fn`` returns a tuple, else one int. The time
    of each stage is added to ``stats``."""
    t0 = time.perf_counter()
    if mesh is None:
        jitted = jax.jit(fn)
    else:
        ins = tuple(_member_shardings(mesh, a, ax) for a, ax in zip(args, in_axes))
        out = jax.eval_shape(fn, *args)
        if isinstance(out_axes, tuple):
            outs = tuple(_member_shardings(mesh, o, ax) for o, ax in zip(out, out_axes))
        else:
            outs = _member_shardings(mesh, out, out_axes)
        jitted = jax.jit(fn, in_shardings=ins, out_shardings=outs)
    traced = jitted.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    hits = _CACHE_HITS[0]
    compiled = lowered.compile()
    t3 = time.perf_counter()
    if stats is not None:
        stats.trace += t1 - t0
        stats.lower += t2 - t1
        stats.compile += t3 - t2
        stats.programs += 1
        stats.cache_hits += _CACHE_HITS[0] - hits
    return compiled


def build_run(trainer: Trainer, on_period: Optional[Callable] = None):
    """The whole sweep as one function of ``(keys [M], hyper [M])`` to jit: init, every
    period, final evaluation. Returns ``(states, period metrics, period evals, final eval)``
    with period outputs shaped ``[periods, members, ...]``."""
    init, periods, final = build_pieces(trainer, on_period)
    P = trainer.config.layout.num_periods

    def run(keys, hyper):
        states, (metrics, evals) = periods(init(keys, hyper), hyper, P)
        states, fin = final(states, hyper)
        return states, metrics, evals, fin

    return run


@dataclass(frozen=True)
class Failure:
    """A sweep member whose training turned non-finite (it keeps its last good params)."""

    member: Member
    update: int  # the update that produced the non-finite value (1-based)
    quantity: str  # one of ``train.FAILURES[1:]``

    def describe(self) -> str:
        m = self.member
        return (f"non-finite {self.quantity} in sweep member {m.index} (tau={m.tau:g}, "
                f"eps={m.eps:g}, seed={m.seed}) at update {self.update}")


def failures(ms: list[Member], states) -> list[Failure]:
    """Failed members of a batched ``LearnerState`` (host side)."""
    at, code = distributed.to_host((states.failed_at, states.failure))
    return [Failure(m, int(at[i]), FAILURES[int(code[i])]) for i, m in enumerate(ms) if at[i] >= 0]


class NonFiniteError(RuntimeError):
    """``train.on_nonfinite: stop`` and a member failed; nothing after the failure was saved."""

    def __init__(self, found: list[Failure], last_good: Optional[int]):
        self.failures, self.last_good = found, last_good
        where = (f"the last good checkpoint (update {last_good}) is kept"
                 if last_good is not None else "no periodic checkpoint had been saved")
        super().__init__("; ".join(f.describe() for f in found) + f". Training stopped; {where}. "
                         "Lower train.lr, set train.max_grad_norm, or check the environment's "
                         "rewards; train.on_nonfinite=continue trains the healthy members on.")


class Interrupted(Exception):
    """Training stopped at a period boundary on request; a checkpoint was saved."""

    def __init__(self, update: int):
        super().__init__(f"interrupted after update {update}")
        self.update = update


@dataclass
class SweepResult:
    members: list
    states: LearnerState  # member-stacked
    metrics: dict  # name -> [P, M, ...]
    evals: dict  # name -> [P, M, ...]
    final: dict  # name -> [M, ...]
    period_updates: np.ndarray  # [P] update count at the end of each period
    compile_seconds: float
    run_seconds: float
    compile_stats: CompileStats
    env_steps: int  # per member
    failures: list  # [Failure]: members frozen after a non-finite value (on_nonfinite=continue)


def run_sweep(trainer: Trainer, on_period: Optional[Callable] = None, ms=None,
              on_compiled: Optional[Callable] = None, checkpoints=None,
              should_stop: Optional[Callable[[], bool]] = None,
              on_restore: Optional[Callable] = None, host_loop: bool = False) -> SweepResult:
    """Compile and run every member of ``trainer.config``'s sweep.

    Without ``checkpoints`` the whole run is one compiled program. With a
    ``jsrpo.checkpoint.Checkpoints`` manager, the compiled period program is called once per
    logging period from a thin host loop that saves the full learner state of every member on
    the manager's schedule and resumes from its newest complete checkpoint if there is one.
    ``should_stop()`` is polled between periods: when true, a checkpoint is saved and
    ``Interrupted`` raised. ``on_restore(period_updates, metrics, evals)`` receives the history
    of the periods a resumed run restored (``[P_done, M, ...]``). ``on_compiled(seconds,
    stats)`` is called between compilation and the run with the compile time and its
    ``CompileStats``. ``host_loop=True`` takes the host loop even without
    checkpoints: its programs have no host callback, so the persistent compilation cache keeps
    them (a program with a callback is compiled again in every process).
    With ``train.on_nonfinite: stop``, a member whose training turns non-finite ends the run
    with ``NonFiniteError`` and the period that failed is not checkpointed.
    """
    cfg = trainer.config
    ms = members(cfg) if ms is None else ms
    if trainer.needs_positive_tau and any(not m.tau > 0 for m in ms):
        raise ValueError(f"tau: this SRPO trainer was built for taus {list(cfg.taus)} (all > 0, "
                         "so its stream table is fixed); members with tau <= 0 need a config "
                         "whose tau list includes them")
    keys, hyper = member_inputs(ms, env_keys(cfg), trainer)
    lay = cfg.layout
    P = lay.num_periods
    mesh = sweep_mesh(len(ms))
    if mesh is not None:  # members laid out over the devices; every program keeps them there
        keys, hyper = distributed.put((keys, hyper), _member_shardings(mesh, (keys, hyper), 0))
    to_np = distributed.to_host
    stop_on_failure = cfg.train.on_nonfinite == "stop"
    t0 = time.perf_counter()
    # Several processes: the host loop below, so results and progress reach the host through
    # ``to_host`` rather than through a callback inside the program.
    stats = CompileStats()
    late = 0.0  # compile time spent after training started (the final evaluation's program)
    if checkpoints is None and jax.process_count() == 1 and not host_loop:
        compiled = _compile(build_run(trainer, on_period), mesh, (keys, hyper), (0, 0),
                            (0, 1, 1, 0), stats)
        if on_compiled is not None:
            on_compiled(time.perf_counter() - t0, stats)
        t1 = time.perf_counter()
        states, metrics, evals, final = jax.block_until_ready(compiled(keys, hyper))
        metrics, evals = to_np(metrics), to_np(evals)
        if stop_on_failure and failures(ms, states):
            raise NonFiniteError(failures(ms, states), None)
    else:
        # The host loop reports each period itself: no callback inside the program, which
        # also lets the persistent compilation cache keep it (programs with host callbacks
        # are never cached).
        init, periods, final_fn = build_pieces(trainer, None)
        init_c = _compile(init, mesh, (keys, hyper), (0, 0), 0, stats)
        abstract = init_c.out_info
        # Restored checkpoints land on this run's devices directly, whatever device layout
        # saved them (a sweep may resume on another number of devices).
        if mesh is not None:
            place = _member_shardings(mesh, abstract, 0)
        else:
            local = SingleDeviceSharding(jax.local_devices()[0])
            place = jax.tree.map(lambda _: local, abstract)
        abstract = jax.tree.map(lambda a, sh: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh),
                                abstract, place)
        step_c = _compile(lambda s, h: periods(s, h, 1), mesh, (abstract, hyper), (0, 0), (0, 1),
                          stats)
        if on_compiled is not None:
            on_compiled(time.perf_counter() - t0, stats)
        t1 = time.perf_counter()
        _, (m1, e1) = step_c.out_info  # the period's output shapes, without tracing again
        restored = None if checkpoints is None else checkpoints.restore_latest(abstract, (m1, e1))
        if restored is None:
            states, hist, done = init_c(keys, hyper), [], 0
        else:
            states, (m_hist, e_hist), done = restored
            hist = [(jax.tree.map(lambda x: x[i:i + 1], m_hist),
                     jax.tree.map(lambda x: x[i:i + 1], e_hist)) for i in range(done)]
            if on_restore is not None:
                on_restore(np.array([lay.period_end(p) for p in range(1, done + 1)]),
                           *to_np((m_hist, e_hist)))
        for p in range(done, P):
            states, out = step_c(states, hyper)
            if stop_on_failure and failures(ms, states):
                if checkpoints is None:
                    raise NonFiniteError(failures(ms, states), None)
                checkpoints.wait()
                raise NonFiniteError(failures(ms, states), checkpoints.mngr.latest_step())
            out = to_np(out)
            hist.append(out)
            if on_period is not None:
                on_period(to_np(states.update)[0], *jax.tree.map(lambda x: x[0], out))
            stop = should_stop is not None and should_stop()
            if checkpoints is None:
                continue
            if checkpoints.due(p + 1, P) or stop:
                checkpoints.save(p + 1, states, _concat(hist))
            if stop and p + 1 < P:
                checkpoints.wait()
                raise Interrupted(int(to_np(states.update)[0]))
        metrics, evals = _concat(hist)
        # The final evaluation is compiled only now, so training starts sooner; its compile
        # time counts as compile time, not run time.
        t_final = time.perf_counter()
        final_c = _compile(final_fn, mesh, (abstract, hyper), (0, 0), (0, 0), stats)
        late = time.perf_counter() - t_final
        states, final = jax.block_until_ready(final_c(states, hyper))
        if checkpoints is not None:
            checkpoints.wait()
    t2 = time.perf_counter()
    periods_end = np.array([lay.period_end(p) for p in range(1, P + 1)])
    return SweepResult(
        members=ms, states=states, metrics=metrics, evals=evals,
        final=to_np(final), period_updates=periods_end, compile_seconds=t1 - t0 + late,
        run_seconds=t2 - t1 - late, compile_stats=stats, env_steps=lay.env_steps_per_member,
        failures=failures(ms, states))


def _concat(hist):
    """List of per-period ``(metrics, evals)`` with leading axis 1 -> stacked ``[P, ...]``."""
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *hist)
