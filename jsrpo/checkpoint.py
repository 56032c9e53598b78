"""Reading what a run saved: learner params of every member, rebuilt into networks and agents
without the training code's config objects (only ``final_meta.json`` and the orbax files)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jax

from jsrpo.agents import Agent, network_agent
from jsrpo.networks import ActorCritic


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match its own network description."""


def _restore(path: Path, read):
    try:
        return read()
    except Exception as e:  # orbax/tensorstore raise many types for damaged files
        raise CheckpointError(
            f"{path}: cannot be read ({type(e).__name__}: {str(e)[:200]}); the checkpoint is "
            "truncated, corrupted or from an incompatible version") from None


def _check_against_meta(params, meta: dict, network: ActorCritic, where: Path) -> None:
    """The saved arrays must be exactly what the saved network description builds."""
    import jax.numpy as jnp

    dummy = jnp.zeros((1,) + tuple(meta["obs_shape"]), jnp.float32)
    expected = jax.eval_shape(network.init, jax.random.PRNGKey(0), dummy)
    lead = (len(meta["members"]), meta["learners"]["num_learners"])
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
    run_dir: Path
    params: Any  # params[member, learner, ...] (flax variables dict)
    meta: dict
    network: ActorCritic

    @property
    def members(self) -> list[dict]:
        return self.meta["members"]

    def learner_params(self, member: int, learner: int) -> Any:
        return jax.tree.map(lambda x: x[member, learner], self.params)


def _local_target(metadata):
    """Abstract arrays on this process's first device for every saved array, so a checkpoint
    written sharded over other devices or hosts (a sharded sweep) restores anywhere."""
    from jax.sharding import SingleDeviceSharding

    device = SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                        getattr(metadata, "item_metadata", metadata))


def _restore_here(checkpointer, path):
    return checkpointer.restore(path, _local_target(checkpointer.metadata(path)))


def network_from_meta(meta: dict) -> ActorCritic:
    n = meta["network"]
    return ActorCritic(num_actions=n["num_actions"], obs_ndim=n["obs_ndim"],
                       hidden_sizes=tuple(n["hidden_sizes"]), activation=n["activation"],
                       kind=n.get("kind", "mlp"))


def saved_steps(run_dir) -> list[int]:
    """Update counts of the periodic checkpoints a run directory holds (complete ones only)."""
    import orbax.checkpoint as ocp

    state_dir = Path(run_dir) / "checkpoint" / "state"
    if not state_dir.is_dir():
        return []
    return list(ocp.CheckpointManager(state_dir.absolute(),
                                      options=ocp.CheckpointManagerOptions(read_only=True)).all_steps())


def load_run(run_dir, step: Optional[int] = None) -> RunCheckpoint:
    """Load the parameters of every member of a run directory written by ``jsrpo train``.

    ``step=None`` loads the final parameters; ``step=U`` the periodic checkpoint taken after
    update U (see ``saved_steps``), e.g. the early and middle snapshots for partner pools.
    """
    import orbax.checkpoint as ocp

    run_dir = Path(run_dir)
    meta_path = run_dir / "checkpoint" / "final_meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no checkpoint metadata ({meta_path} is missing)")
    try:
        meta = json.loads(meta_path.read_text())
        network = network_from_meta(meta)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_path}: not a valid checkpoint description ({e!r})") from None
    if step is None:
        path = (run_dir / "checkpoint" / "final").absolute()
        if not path.is_dir():
            raise FileNotFoundError(f"{run_dir}: no final checkpoint ({path} is missing)")
        params = _restore(path, lambda: _restore_here(ocp.StandardCheckpointer(), path)["params"])
    else:
        steps = saved_steps(run_dir)
        if step not in steps:
            raise ValueError(f"step: got {step}; allowed: {steps or 'none (no periodic checkpoints)'}")
        mngr = ocp.CheckpointManager((run_dir / "checkpoint" / "state").absolute(),
                                     options=ocp.CheckpointManagerOptions(read_only=True))
        params = _restore(mngr.directory / str(step), lambda: mngr.restore(
            step, args=ocp.args.StandardRestore(_local_target(
                mngr.item_metadata(step))))["states"]["params"])
    _check_against_meta(params, meta, network, run_dir / "checkpoint")
    return RunCheckpoint(run_dir=run_dir, params=params, meta=meta, network=network)


def load_policy(run_dir, member: int = 0, seat: int = 0, step: Optional[int] = None) -> Agent:
    """The deployed hero of ``seat`` in sweep member ``member`` of a run, as an ``Agent``
    (final parameters, or those of the periodic checkpoint after update ``step``)."""
    ckpt = load_run(run_dir, step)
    if not 0 <= member < len(ckpt.members):
        raise ValueError(f"member: got {member}; allowed: 0..{len(ckpt.members) - 1}")
    if seat not in (0, 1):
        raise ValueError(f"seat: got {seat}; allowed: 0 or 1")
    learner = ckpt.meta["learners"]["hero_pair"][seat]
    m = ckpt.members[member]
    name = f"{m['method']}-tau{m['tau']:g}-eps{m['eps']:g}-s{m['seed']}-seat{seat}"
    if step is not None:
        name += f"-u{step}"
    seat_id = seat if ckpt.meta.get("seat_id_in_obs") else None
    return network_agent(name, ckpt.network, ckpt.learner_params(member, learner), seat_id,
                         env_obs_shape(ckpt.meta))


def env_obs_shape(meta: dict) -> tuple:
    """The environment's observation shape a saved network plays (its input minus the seat id)."""
    shape = list(meta["obs_shape"])
    if meta.get("seat_id_in_obs"):
        shape[-1] -= 2
    return tuple(shape)


class Checkpoints:
    """Periodic checkpoints of the full learner state of every member (orbax manager).

    Steps are update counts at period boundaries. Kept: the ``keep`` newest, plus the
    ``snapshot`` steps (early/middle snapshots for partner pools) and the last one, forever.
    Orbax writes each step to a temporary directory and renames it when complete, so a
    half-written checkpoint is never restored.
    """

    def __init__(self, directory, cfg, every_updates: int, keep: int, snapshots=()):
        import orbax.checkpoint as ocp
        from orbax.checkpoint import checkpoint_managers as cm

        self.cfg = cfg
        self.interval = min(cfg.log.interval, cfg.num_updates)
        self.every_periods = every_updates // self.interval if every_updates else None
        P = -(-cfg.num_updates // self.interval)
        # Snapshots land on the nearest period boundary.
        self.snapshot_periods = {min(max(round(f * P), 1), P) for f in snapshots} | {P}
        keep_steps = sorted(self.step_of(p) for p in self.snapshot_periods)
        policy = cm.AnyPreservationPolicy([cm.LatestN(keep), cm.CustomSteps(keep_steps)])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, create=True)
        self._ocp = ocp
        self.mngr = ocp.CheckpointManager(Path(directory).absolute(), options=options)

    def step_of(self, period: int) -> int:
        return min(period * self.interval, self.cfg.num_updates)

    def due(self, period: int, num_periods: int) -> bool:
        periodic = self.every_periods is not None and period % self.every_periods == 0
        return periodic or period in self.snapshot_periods or period == num_periods

    def save(self, period: int, states, history) -> None:
        self.mngr.save(self.step_of(period), args=self._ocp.args.StandardSave(
            {"states": states, "history": history}))

    def restore_latest(self, abstract_states, abstract_period):
        """-> ``(states, history, periods done)`` from the newest complete checkpoint, or None."""
        step = self.mngr.latest_step()
        if step is None:
            return None
        done = -(-step // self.interval)
        history = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct((done,) + s.shape[1:], s.dtype), abstract_period)
        target = {"states": abstract_states, "history": history}
        r = self.mngr.restore(step, args=self._ocp.args.StandardRestore(target))
        return r["states"], r["history"], done

    def wait(self) -> None:
        self.mngr.wait_until_finished()
