"""Numerical faults: non-finite values are caught inside the compiled loop, the failed member is
frozen at its last good parameters, and a stopped run keeps its last good checkpoint."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from jaxmarl.environments import spaces

import envs
from envs.base import ParamEnv
from jsrpo import config, outputs
from jsrpo.checkpoint import saved_steps
from jsrpo.cli import main
from jsrpo.sweep import NonFiniteError, run_sweep
from jsrpo.train import make_train


@struct.dataclass
class _State:
    t: jax.Array  # [] int32 steps taken (episodes never end before max_steps)


class NanAfter(ParamEnv):
    """Both seats get reward 1 for action 0 until step ``after_steps``, then NaN rewards."""

    max_steps = 10_000

    def __init__(self, after_steps: int = 24):
        super().__init__(num_agents=2)
        self.after_steps = after_steps
        self.observation_spaces = {a: spaces.Box(0.0, 1.0, (1,)) for a in self.agents}
        self.action_spaces = {a: spaces.Discrete(2) for a in self.agents}

    @property
    def default_params(self):
        return {}

    def reset_env(self, key, params):
        return {a: jnp.ones((1,)) for a in self.agents}, _State(t=jnp.int32(0))

    def step_env(self, key, state, actions, params):
        t = state.t + 1
        poison = jnp.where(t > self.after_steps, jnp.nan, 0.0)
        rewards = {a: (actions[a] == 0).astype(jnp.float32) + poison for a in self.agents}
        done = t >= self.max_steps
        dones = {a: done for a in self.agents} | {"__all__": done}
        infos = {"private_cost": jnp.zeros((2,))}
        return {a: jnp.ones((1,)) for a in self.agents}, _State(t=t), rewards, dones, infos


if "nan_after" not in envs.registered():
    envs.register("nan_after", NanAfter)

SMALL = {"train": {"num_envs": 4, "num_steps": 8, "update_epochs": 1},
         "log": {"interval": 1, "eval_envs": 4, "final_eval_envs": 4, "progress": False}}


def _poison_obs_of(trainer, tau, at_update):
    """Wrap ``update`` so the member with this ``tau`` sees NaN observations from update
    ``at_update + 1`` on (its loss turns non-finite; its parameters were still good)."""
    def update(state, hyper):
        hit = (hyper.tau == tau) & (state.update >= at_update)
        state = state.replace(obs=jnp.where(hit, jnp.nan, state.obs))
        return trainer.update(state, hyper)
    return dataclasses.replace(trainer, update=update)


def _srpo_cfg(on_nonfinite):
    raw = {"method": "srpo", "tau": [1.0, 2.0], "eps": 0.1, "env": {"name": "collab_defect"},
           **SMALL}
    raw["train"] = raw["train"] | {"total_env_steps": 4 * 8 * 6, "on_nonfinite": on_nonfinite}
    return config.from_dict(raw)


def test_continue_freezes_only_the_failed_member():
    cfg = _srpo_cfg("continue")
    trainer = make_train(cfg)
    clean = run_sweep(trainer)  # same program without the fault: the reference
    res = run_sweep(_poison_obs_of(trainer, 2.0, at_update=3))
    assert [(f.member.index, f.update, f.quantity) for f in res.failures] == [(1, 4, "loss")]
    assert clean.failures == []
    # The healthy member trained on exactly as without the fault.
    for a, b in zip(jax.tree.leaves(res.states.params), jax.tree.leaves(clean.states.params)):
        np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[0])
        assert np.all(np.isfinite(np.asarray(a)))  # the failed member's params stay good
    assert np.asarray(res.states.update).tolist() == [6, 6]
    data = outputs.summary(cfg, res)
    assert data["members"][0]["failed"] is None
    assert data["members"][1]["failed"] == {"update": 4, "quantity": "loss"}
    assert data["failed_members"] == [
        "non-finite loss in sweep member 1 (tau=2, eps=0.1, seed=0) at update 4"]


def test_stop_raises_naming_member_update_and_quantity():
    trainer = _poison_obs_of(make_train(_srpo_cfg("stop")), 2.0, at_update=3)
    with pytest.raises(NonFiniteError) as e:
        run_sweep(trainer)
    msg = str(e.value)
    assert "non-finite loss in sweep member 1 (tau=2, eps=0.1, seed=0) at update 4" in msg
    assert "no periodic checkpoint" in msg and "train.on_nonfinite=continue" in msg


def test_cli_stop_keeps_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    # 4 envs x 8 steps per update; rewards turn NaN at env step 25, i.e. in update 4.
    args = ["train", "--out", str(out), "method=ippo", "env.name=nan_after",
            "env.kwargs.after_steps=24", "train.total_env_steps=256", "train.num_envs=4",
            "train.num_steps=8", "train.update_epochs=1", "log.interval=1", "log.eval_envs=4",
            "log.final_eval_envs=4", "log.progress=false", "checkpoint.every_updates=1",
            "checkpoint.keep=2"]
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("{}\n")
    assert main(["train", "--config", str(cfg_path)] + args[1:]) == 3
    err = capsys.readouterr().err
    assert ("non-finite rollout return in sweep member 0 (tau=10, eps=0.1, seed=0) "
            "at update 4") in err
    assert "the last good checkpoint (update 3) is kept" in err
    assert saved_steps(out) == [2, 3]
    assert not (out / "checkpoint" / "final").exists()
    assert not (out / "summary.json").exists()
    # The kept checkpoint is sound: resuming restores it and fails at the same update again.
    assert main(["train", "--resume", str(out)]) == 3
    assert "resuming" in capsys.readouterr().out
    assert saved_steps(out) == [2, 3]
