"""The training program: method equivalences, sweep consistency, config-driven shapes."""
import jax
import numpy as np
import pytest

from jsrpo import config
from jsrpo.sweep import member_hyper, members, run_sweep
from jsrpo.train import make_train


def small(method, env="collab_defect", **over):
    raw = {
        "method": method, "tau": 0.0 if method == "srpo" else 10.0, "eps": 0.2, "num_seeds": 1,
        "env": {"name": env},
        "train": {"total_env_steps": 6 * 8 * 4, "num_envs": 8, "num_steps": 4, "lr": 0.01,
                  "update_epochs": 2, "num_minibatches": 2},
        "log": {"interval": 3, "eval_envs": 8, "final_eval_envs": 16, "progress": False},
    }
    for k, v in over.items():
        raw[k] = v
    return config.from_dict(raw)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_srpo_tau_zero_is_ippo_bit_for_bit():
    # SRPO computes per stream (its table is traced), so it is compared with IPPO computed the
    # same way; the grouped IPPO that runs by default is checked against that below.
    ippo = run_sweep(make_train(small("ippo", tau=10.0), group_streams=False))
    srpo = run_sweep(make_train(small("srpo", tau=0.0)))
    # IPPO as it runs by default (learner-major batches) is the same up to float rounding.
    grouped = make_train(small("ippo", tau=10.0))
    assert grouped.stream_order == (0, 2, 1, 3)
    for a, b in zip(leaves(run_sweep(grouped).states.params), leaves(ippo.states.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    heroes = jax.tree.map(lambda x: x[:, :2], srpo.states.params)
    for a, b in zip(leaves(ippo.states.params), leaves(heroes)):
        np.testing.assert_array_equal(a, b)
    for k in ippo.final:
        np.testing.assert_array_equal(ippo.final[k], srpo.final[k])
    # The adversaries got no gradient at tau = 0: they are still the heroes' initial copies.
    cfg = small("srpo")
    init = make_train(cfg).init(jax.random.PRNGKey(0), member_hyper(cfg))
    adv_now = jax.tree.map(lambda x: x[0, 2:], srpo.states.params)
    adv_init = jax.tree.map(lambda x: x[2:], init.params)
    for a, b in zip(leaves(adv_now), leaves(adv_init)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method, tau, order", [
    ("self_play", 10.0, (0, 1, 2, 3)), ("srpo", [1.0, 10.0], (0, 3, 1, 2))])
# ippo: in the tau = 0 test above; pure_adversarial: SRPO's table and path
def test_grouped_streams_equal_per_stream_computation(method, tau, order):
    """A fixed table (SRPO: every tau > 0) lets each learner's streams go through its network
    as one batch; that is the same loss, so the runs agree to float rounding."""
    cfg = small(method, env="coop_grid", tau=tau, train={
        "total_env_steps": 4 * 8 * 16, "num_envs": 8, "num_steps": 16, "lr": 0.01,
        "update_epochs": 2, "num_minibatches": 2})
    grouped, per_stream = make_train(cfg), make_train(cfg, group_streams=False)
    assert grouped.stream_order == order and per_stream.stream_order is None
    a, b = run_sweep(grouped), run_sweep(per_stream)
    for x, y in zip(leaves(a.states.params), leaves(b.states.params)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    for k in a.metrics:
        np.testing.assert_allclose(a.metrics[k], b.metrics[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_fixed_srpo_table_refuses_tau_zero_members():
    trainer = make_train(small("srpo", tau=1.0))
    assert trainer.needs_positive_tau
    zero = members(small("srpo", tau=0.0))
    with pytest.raises(ValueError, match="tau: this SRPO trainer"):
        run_sweep(trainer, ms=zero)
    # A sweep that includes tau = 0 keeps the traced table.
    assert not make_train(small("srpo", tau=[0.0, 1.0])).needs_positive_tau


def test_srpo_positive_tau_differs_from_ippo():
    ippo = run_sweep(make_train(small("ippo")))
    srpo = run_sweep(make_train(small("srpo", tau=1.0)))
    heroes = jax.tree.map(lambda x: x[:, :2], srpo.states.params)
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(ippo.states.params), leaves(heroes)))


def test_sweep_members_equal_members_run_alone():
    sweep_cfg = small("srpo", tau=[1.0, 10.0], num_seeds=2, seed=3)
    sweep = run_sweep(make_train(sweep_cfg))
    assert [(m.tau, m.seed) for m in sweep.members] == [(1.0, 3), (1.0, 4), (10.0, 3), (10.0, 4)]
    for i, m in enumerate(sweep.members):
        alone = run_sweep(make_train(small("srpo", tau=m.tau, seed=m.seed)))
        for a, b in zip(leaves(alone.states.params), leaves(sweep.states.params)):
            np.testing.assert_allclose(a[0], b[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.final["action_probs"][0], sweep.final["action_probs"][i],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["ippo", "self_play", "srpo", "pure_adversarial"])
def test_every_method_runs_and_reports(method):
    cfg = small(method, tau=1.0)
    res = run_sweep(make_train(cfg))
    P = cfg.layout.num_updates // cfg.log.interval
    assert res.evals["return"].shape == (P, 1, 2)
    assert res.final["action_probs"].shape == (1, 2, 2)
    np.testing.assert_allclose(res.final["action_probs"].sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(res.metrics["loss/pg"]))
    assert res.env_steps == cfg.layout.num_updates * 8 * 4
    if method == "pure_adversarial":
        assert np.all(res.metrics["loss/kl"] == 0.0)


def test_full_rollout_per_phase_doubles_env_steps():
    cfg = small("srpo", tau=1.0, srpo={"full_rollout_per_phase": True})
    assert cfg.layout.rollout_envs == 16
    res = run_sweep(make_train(cfg))
    assert res.env_steps == 2 * cfg.layout.num_updates * 8 * 4


def test_minibatch_indices_partition_each_stream():
    from jsrpo.train import minibatch_indices
    idx = np.asarray(minibatch_indices(jax.random.split(jax.random.PRNGKey(0), 3), 12, 4))
    assert idx.shape == (4, 3, 3)
    for s in range(3):  # every sample of every stream exactly once per epoch
        np.testing.assert_array_equal(np.sort(idx[:, s].ravel()), np.arange(12))
    assert not np.array_equal(idx[:, 0], idx[:, 1])  # streams shuffle independently
    assert not np.array_equal(idx[:, 0].ravel(), np.arange(12))  # and do shuffle
