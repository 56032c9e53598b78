"""Checkpoints: exact round trip, retention, interrupted + resumed == uninterrupted, policies."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jsrpo import config, outputs
from jsrpo.checkpoint import Checkpoints, load_policy, load_run, save_final
from jsrpo.sweep import Interrupted, members, run_sweep
from jsrpo.train import make_train

RAW = {
    "method": "srpo", "tau": [0.0, 4.0], "eps": 0.2, "num_seeds": 1,
    "env": {"name": "collab_defect"},
    "train": {"total_env_steps": 8 * 4 * 9, "num_envs": 8, "num_steps": 4, "update_epochs": 1},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False},
    "checkpoint": {"every_updates": 4, "keep": 1, "snapshots": [0.4]},
}


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def manager(path, cfg):
    c = cfg.checkpoint
    return Checkpoints(path, cfg, c.every_updates, c.keep, c.snapshots)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cfg = config.from_dict(RAW)
    d = tmp_path_factory.mktemp("full")
    trainer = make_train(cfg)
    res = run_sweep(trainer, checkpoints=manager(d / "checkpoint" / "state", cfg))
    outputs.write_config(d, cfg)
    save_final(d, outputs.run_meta(cfg, trainer, members(cfg)), res.states.params)
    return cfg, d, trainer, res


def test_retention_keeps_newest_snapshots_and_last(uninterrupted):
    cfg, d, _, _ = uninterrupted
    # 9 updates, periods of 2 -> 5 periods ending at 2,4,6,8,9; saves at 4, 8 (every 4),
    # the 0.4 snapshot (period 2 -> update 4) and the last (9); keep=1 newest periodic.
    steps = sorted(int(p.name) for p in (d / "checkpoint" / "state").iterdir() if p.name.isdigit())
    assert steps == [4, 9]


def test_final_checkpoint_round_trip_is_exact(uninterrupted):
    _, d, _, res = uninterrupted
    ckpt = load_run(d)
    for a, b in zip(leaves(ckpt.params), leaves(res.states.params)):
        np.testing.assert_array_equal(a, b)
    assert [m.tau for m in ckpt.members] == [0.0, 4.0]


def test_interrupted_then_resumed_equals_uninterrupted(uninterrupted, tmp_path):
    cfg, _, trainer, full = uninterrupted
    polls = {"n": 0}

    def stop_after_three_periods():
        polls["n"] += 1
        return polls["n"] == 3

    with pytest.raises(Interrupted) as e:
        run_sweep(trainer, checkpoints=manager(tmp_path, cfg), should_stop=stop_after_three_periods)
    assert e.value.update == 6
    resumed = run_sweep(make_train(cfg), checkpoints=manager(tmp_path, cfg))
    for a, b in zip(leaves(full.states), leaves(resumed.states)):
        np.testing.assert_array_equal(a, b)
    for k in full.evals:
        np.testing.assert_array_equal(full.evals[k], resumed.evals[k])
    np.testing.assert_array_equal(full.final["action_probs"], resumed.final["action_probs"])


def test_load_policy_runs_without_training_objects(uninterrupted):
    _, d, trainer, res = uninterrupted
    agent = load_policy(d, member=1, seat=1)
    obs = jnp.ones((1,))
    logits, _ = agent.policy(agent.params, agent.init_state(None), obs, jax.random.PRNGKey(0))
    hero1 = jax.tree.map(lambda x: x[1, 1], res.states.params)
    expected = trainer.network.apply(hero1, obs, method=type(trainer.network).policy)
    np.testing.assert_array_equal(logits, expected)
    np.testing.assert_allclose(jax.nn.softmax(logits), res.final["action_probs"][1, 1], rtol=1e-6)
    with pytest.raises(ValueError, match="member: got 5; allowed: 0..1"):
        load_policy(d, member=5)


def test_load_policy_at_a_saved_step(uninterrupted):
    _, d, _, res = uninterrupted
    from jsrpo.checkpoint import saved_steps
    assert saved_steps(d) == [4, 9]
    obs, key = jnp.ones((1,)), jax.random.PRNGKey(0)
    logits = {}
    for step in (4, 9, None):
        agent = load_policy(d, member=1, seat=0, step=step)
        logits[step] = agent.policy(agent.params, (), obs, key)[0]
    np.testing.assert_array_equal(logits[9], logits[None])  # the last periodic save is final
    assert not np.array_equal(logits[4], logits[None])
    with pytest.raises(ValueError, match=r"step: got 5; allowed: \[4, 9\]"):
        load_policy(d, step=5)


def _copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_mismatched_network_description_is_rejected(uninterrupted, tmp_path):
    import json

    from jsrpo.checkpoint import CheckpointError

    d = _copy_run(uninterrupted[1], tmp_path / "run")
    meta_path = d / "checkpoint" / "final_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["network"]["hidden_sizes"] = [32, 32]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match the saved network"):
        load_run(d)


def test_truncated_or_missing_checkpoint_files_give_clear_errors(uninterrupted, tmp_path):
    from jsrpo.checkpoint import CheckpointError

    d = _copy_run(uninterrupted[1], tmp_path / "run")
    data = [p for p in (d / "checkpoint" / "final").rglob("*")
            if p.is_file() and p.stat().st_size > 64]
    assert data
    for p in data:  # truncate every data file to half its size
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_run(d)
    import shutil
    shutil.rmtree(d / "checkpoint" / "final")
    with pytest.raises(FileNotFoundError, match="no final checkpoint"):
        load_run(d)
