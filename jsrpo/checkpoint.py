"""Orbax checkpoints of a run: the final parameters of every member (written after training,
read by ``load_run`` / ``load_policy``) and the periodic full learner states (``Checkpoints``).

What the saved arrays are is described by ``rundir.RunMeta``, so a run's policies are rebuilt
without the training config.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from jax.sharding import SingleDeviceSharding
from orbax.checkpoint import checkpoint_managers as cm

from jsrpo.agents import Agent, network_agent
from jsrpo.config import Config
from jsrpo.networks import ActorCritic
from jsrpo.rundir import MemberSpec, RunDir, RunFormatError, RunMeta


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match its own network description."""


def _restore(path: Path, read):
    try:
        return read()
    except Exception as e:  # orbax/tensorstore raise many types for damaged files
        raise CheckpointError(
            f"{path}: cannot be read ({type(e).__name__}: {str(e)[:200]}); the checkpoint is "
            "truncated, corrupted or from an incompatible version") from None


def _check_against_meta(params, meta: RunMeta, network: ActorCritic, where: Path) -> None:
    """The saved arrays must be exactly what the saved network description builds."""
    dummy = jnp.zeros((1,) + tuple(meta.obs_shape), jnp.float32)
    expected = jax.eval_shape(network.init, jax.random.PRNGKey(0), dummy)
    lead = (len(meta.members), meta.num_learners)
    exp_flat = {jax.tree_util.keystr(k): lead + tuple(v.shape)
                for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    got_flat = {jax.tree_util.keystr(k): tuple(v.shape)
                for k, v in jax.tree_util.tree_leaves_with_path(params)}
    if exp_flat != got_flat:
        diff = sorted(set(exp_flat.items()) ^ set(got_flat.items()))[:4]
        raise CheckpointError(
            f"{where}: parameters do not match the saved network/environment description "
            f"(final_meta.json); first differences (name, shape): {diff}")


@dataclass(frozen=True)
class RunCheckpoint:
    """The policies a run saved: ``params[member, learner, ...]`` with their description."""

    run_dir: Path
    params: Any  # params[member, learner, ...] (flax variables dict)
    meta: RunMeta
    network: ActorCritic

    @property
    def members(self) -> tuple[MemberSpec, ...]:
        return self.meta.members

    def learner_params(self, member: int, learner: int) -> Any:
        return jax.tree.map(lambda x: x[member, learner], self.params)

    def hero(self, member: int, seat: int, step: Optional[int] = None) -> Agent:
        """The deployed hero of ``seat`` in ``member`` as an ``Agent``."""
        if self.meta.hero_seats[seat] < 0:
            learned = [s for s, h in enumerate(self.meta.hero_seats) if h >= 0]
            raise ValueError(f"seat: got {seat}; {self.run_dir} learned seat(s) {learned} only "
                             "(its other seats were played by frozen policies)")
        m = self.members[member]
        name = m.label(seat) + ("" if step is None else f"-u{step}")
        return network_agent(name, self.network,
                             self.learner_params(member, self.meta.hero_seats[seat]),
                             seat if self.meta.seat_id_in_obs else None, self.meta.env_obs_shape,
                             num_seats=self.meta.num_seats)


def _local_target(metadata):
    """Abstract arrays on this process's first device for every saved array, so a checkpoint
    written sharded over other devices or hosts (a sharded sweep) restores anywhere."""
    device = SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                        getattr(metadata, "item_metadata", metadata))


def _restore_here(checkpointer, path):
    return checkpointer.restore(path, _local_target(checkpointer.metadata(path)))


def save_final(run_dir, meta: RunMeta, params, main_process: bool = True) -> Path:
    """Save every member's final learner params (``params[member, learner, ...]``) with orbax
    and, from the main process, their description. Every process saves its own shards."""
    rd = RunDir(run_dir)
    path = rd.final.absolute()
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path, {"params": params}, force=True)
    ckpt.wait_until_finished()
    if main_process:
        rd.write_meta(meta)
    return path


def saved_steps(run_dir) -> list[int]:
    """Update counts of the periodic checkpoints a run directory holds, ascending. Orbax writes
    a step into a temporary directory and renames it to the step number when complete, so only
    complete steps have a number for a name."""
    state_dir = RunDir(run_dir).state
    if not state_dir.is_dir():
        return []
    return sorted(int(p.name) for p in state_dir.iterdir() if p.is_dir() and p.name.isdigit())


@contextlib.contextmanager
def _quiet_absl():
    """Orbax warns through absl that a read-only manager is read-only; say nothing."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_run(run_dir, step: Optional[int] = None) -> RunCheckpoint:
    """Load the parameters of every member of a run directory written by ``jsrpo train``.

    ``step=None`` loads the final parameters; ``step=U`` the periodic checkpoint taken after
    update U (see ``saved_steps``), e.g. the early and middle snapshots for partner pools. The
    description is the deployed one (``RunMeta.deployed``).
    """
    rd = RunDir(run_dir)
    try:
        meta = rd.read_meta()
    except RunFormatError as e:
        raise CheckpointError(f"not a valid checkpoint description: {e}") from None
    network = meta.network.build()
    if step is None:
        path = rd.final.absolute()
        if not path.is_dir():
            raise FileNotFoundError(f"{rd.path}: no final checkpoint ({path} is missing)")
        params = _restore(path, lambda: _restore_here(ocp.StandardCheckpointer(), path)["params"])
    else:
        steps = saved_steps(run_dir)
        if step not in steps:
            raise ValueError(f"step: got {step}; "
                             f"allowed: {steps or 'none (no periodic checkpoints)'}")
        with _quiet_absl():
            mngr = ocp.CheckpointManager(rd.state.absolute(),
                                         options=ocp.CheckpointManagerOptions(read_only=True))
        with _quiet_absl():  # orbax warns of the manager's default item, which is not read
            params = _restore(mngr.directory / str(step), lambda: mngr.restore(
                step, args=ocp.args.StandardRestore(_local_target(
                    mngr.item_metadata(step))))["states"]["params"])
    _check_against_meta(params, meta, network, rd.checkpoint_dir)
    # a run that met its pool in every seat is a policy of the whole game (``RunMeta.deployed``)
    return RunCheckpoint(run_dir=rd.path, params=params, meta=meta.deployed(), network=network)


def load_policy(run_dir, member: int = 0, seat: int = 0, step: Optional[int] = None) -> Agent:
    """The deployed hero of ``seat`` in sweep member ``member`` of a run, as an ``Agent``
    (final parameters, or those of the periodic checkpoint after update ``step``)."""
    ckpt = load_run(run_dir, step)
    if not 0 <= member < len(ckpt.members):
        raise ValueError(f"member: got {member}; allowed: 0..{len(ckpt.members) - 1}")
    if not 0 <= seat < ckpt.meta.num_seats:
        raise ValueError(f"seat: got {seat}; allowed: 0..{ckpt.meta.num_seats - 1}")
    return ckpt.hero(member, seat, step)


def snapshot_periods(layout, fractions) -> set[int]:
    """The logging periods (1..num_periods) at whose end the snapshots at ``fractions`` of
    training are taken: each on the nearest period boundary."""
    P = layout.num_periods
    return {min(max(round(f * P), 1), P) for f in fractions}


def snapshot_steps(layout, fractions) -> list[int]:
    """The update counts of the snapshots at ``fractions`` of training (``PATH@U`` specs),
    ascending, without the last update (the final policies)."""
    return sorted(layout.period_end(p) for p in snapshot_periods(layout, fractions)
                  if p < layout.num_periods)


class Checkpoints:
    """Periodic checkpoints of the full learner state of every member (orbax manager).

    Steps are update counts at period boundaries. Kept: the ``keep`` newest, plus the
    ``snapshot`` steps (early/middle snapshots for partner pools) and the last one, forever.
    Orbax writes each step to a temporary directory and renames it when complete, so a
    half-written checkpoint is never restored.
    """

    def __init__(self, directory, cfg: Config, every_updates: int, keep: int, snapshots=()):
        self.layout = lay = cfg.layout
        self.every_periods = every_updates // lay.log_interval if every_updates else None
        P = lay.num_periods
        self.snapshot_periods = snapshot_periods(lay, snapshots) | {P}
        keep_steps = sorted(self.step_of(p) for p in self.snapshot_periods)
        policy = cm.AnyPreservationPolicy([cm.LatestN(keep), cm.CustomSteps(keep_steps)])
        self._options = ocp.CheckpointManagerOptions(preservation_policy=policy, create=True)
        self.mngr = ocp.CheckpointManager(Path(directory).absolute(), options=self._options)

    def step_of(self, period: int) -> int:
        return self.layout.period_end(period)

    def due(self, period: int, num_periods: int) -> bool:
        periodic = self.every_periods is not None and period % self.every_periods == 0
        return periodic or period in self.snapshot_periods or period == num_periods

    def save(self, period: int, states, history) -> None:
        self.mngr.save(self.step_of(period), args=ocp.args.StandardSave(
            {"states": states, "history": history}))

    def restore_latest(self, abstract_states, abstract_period):
        """-> ``(states, history, periods done)`` from the newest checkpoint that can be read,
        or None when there is none. A newest step that cannot be read (emptied, truncated) is
        moved to ``checkpoint/broken/<step>`` with a warning and the previous step is used;
        ``CheckpointError`` when no step can be read (training never restarts silently)."""
        steps = sorted(self.mngr.all_steps(), reverse=True)
        for step in steps:
            if step not in self.mngr.all_steps():  # set aside with a broken newer step
                continue
            done = self.layout.periods_done(step)
            history = jax.tree.map(
                lambda s: jax.ShapeDtypeStruct((done,) + s.shape[1:], s.dtype), abstract_period)
            target = {"states": abstract_states, "history": history}
            try:
                r = self.mngr.restore(step, args=ocp.args.StandardRestore(target))
            except Exception as e:  # orbax/tensorstore raise many types for damaged files
                self._set_aside(step, e)
                continue
            return r["states"], r["history"], done
        if steps:
            raise CheckpointError(
                f"{self.mngr.directory}: none of the checkpoints ({', '.join(map(str, steps))}) "
                "can be read (set aside under checkpoint/broken/); the run cannot be continued: "
                "start it again with --overwrite")
        return None

    def _set_aside(self, step: int, error: Exception) -> None:
        broken = Path(self.mngr.directory).parent / "broken"
        broken.mkdir(exist_ok=True)
        target = broken / f"{step}-{int(time.time())}"
        shutil.move(str(Path(self.mngr.directory) / str(step)), str(target))
        print(f"[jsrpo] warning: checkpoint of update {step} cannot be read "
              f"({type(error).__name__}: {str(error)[:160]}); moved to {target}, trying the "
              "previous one", file=sys.stderr, flush=True)
        # A manager that failed a restore keeps state about it: start a new one.
        self.mngr.close()
        self.mngr = ocp.CheckpointManager(Path(self.mngr.directory), options=self._options)

    def wait(self) -> None:
        self.mngr.wait_until_finished()
