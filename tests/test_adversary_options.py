"""SRPO's adversary options: the warm-up of its strength (``srpo.adv_warmup``), the share of the
hero's shaped reward it minimises (``srpo.adv_shaped_reward``), the KL in its reward
(``srpo.kl_penalty``) and an IPPO warm-up (``srpo.ippo_warmup``)."""
from pathlib import Path

import jax
import numpy as np
import pytest

from jsrpo import config
from jsrpo.sweep import member_hyper, run_sweep
from jsrpo.train import ADV_0, ADV_1, adversary_strength, kl_reward, make_train

ROOT = Path(__file__).parent.parent


def actors(params, member, learner):
    """The actor's arrays (torso and head) of one learner of one member."""
    tree = jax.tree.map(lambda x: np.asarray(x[member, learner]), params)["params"]
    return [tree["actor_torso"], tree["actor_head"]]


def same(a, b, **tol):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return all(np.allclose(x, y, **tol) if tol else np.array_equal(x, y) for x, y in zip(la, lb))


def test_strength_ramps_linearly_over_the_warmup():
    done = np.array([0.0, 250.0, 500.0, 1000.0, 4000.0])
    np.testing.assert_allclose(adversary_strength(done, 1000.0), [0, 0.25, 0.5, 1, 1])
    np.testing.assert_array_equal(adversary_strength(done, 0.0), np.ones(5))


def one_update(warmup):
    """SRPO on collaborate/defect, one update, two members that differ only in the private
    cost (so in every reward), from the same seed."""
    return config.from_dict({
        "method": "srpo", "tau": 1.0, "eps": 0.2, "num_seeds": 1,
        "env": {"name": "collab_defect", "kwargs": {"cost": [0.1, 0.7]}},
        "srpo": {"adv_warmup": warmup},
        "train": {"total_env_steps": 8 * 4, "num_envs": 8, "num_steps": 4, "lr": 0.05,
                  "update_epochs": 2, "num_minibatches": 2},
        "log": {"interval": 1, "eval_envs": 8, "final_eval_envs": 8, "progress": False}})


def test_an_adversary_without_strength_only_imitates_its_anchor():
    # At strength 0 the adversary's actor learns from the KL to its anchor alone: in the first
    # update (same parameters, same rollouts in both members) it cannot depend on the rewards.
    warm = run_sweep(make_train(one_update(1e9))).states.params
    for adv in (ADV_0, ADV_1):
        assert same(actors(warm, 0, adv), actors(warm, 1, adv))
    assert not same(actors(warm, 0, 0), actors(warm, 1, 0))  # the heroes see the costs
    # At full strength (no warm-up) the adversaries minimise the hero's reward: they differ.
    full = run_sweep(make_train(one_update(0.0))).states.params
    for adv in (ADV_0, ADV_1):
        assert not same(actors(full, 0, adv), actors(full, 1, adv))


def test_adversary_can_leave_the_shaped_reward_out():
    # Overcooked, one update; members (shaping horizon, adversary's shaped share):
    # (0, 1): nobody gets the shaped reward; (big, 0): the heroes do, the adversaries do not;
    # (big, 1): everybody does. At update 0 every member has the same parameters and rollouts.
    cfg = config.from_dict({
        "method": "srpo", "tau": 1.0, "eps": 0.01, "num_seeds": 1,
        "env": {"name": "overcooked", "kwargs": {"layout": "cramped_room"}},
        "srpo": {"adv_shaped_reward": [1.0, 0.0, 1.0]},
        "sweep": {"zip": [["train.reward_shaping_horizon", "srpo.adv_shaped_reward"]]},
        "train": {"total_env_steps": 16 * 128, "num_envs": 16, "num_steps": 128,
                  "update_epochs": 2, "num_minibatches": 2, "lr": 1e-3,
                  "reward_shaping_horizon": [0.0, 1e9, 1e9]},
        "log": {"interval": 1, "eval_envs": 2, "final_eval_envs": 2, "progress": False}})
    params = run_sweep(make_train(cfg)).states.params
    for adv in (ADV_0, ADV_1):
        # (r + s) - s rounds differently from r: equal up to float rounding.
        assert same(actors(params, 0, adv), actors(params, 1, adv), rtol=1e-4, atol=1e-6)
        assert not same(actors(params, 0, adv), actors(params, 2, adv), rtol=1e-3, atol=1e-5)
    assert not same(actors(params, 0, 0), actors(params, 1, 0), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("key", ["srpo.adv_warmup", "srpo.adv_shaped_reward",
                                 "srpo.ippo_warmup"])
def test_adversary_options_need_an_adversary_to_sweep(key):
    section, name = key.split(".")
    with pytest.raises(config.ConfigError, match=f"{key}: .*it has no adversary"):
        config.from_dict({"method": "ippo", section: {name: [0.0, 1.0]}})


def test_zipped_keys_may_repeat_values_but_not_combinations():
    base = {"method": "srpo", "sweep": {"zip": [["srpo.adv_warmup", "srpo.adv_shaped_reward"]]}}
    cfg = config.from_dict({**base, "srpo": {"adv_warmup": [1e6, 1e6, 0.0],
                                             "adv_shaped_reward": [1.0, 0.0, 0.0]}})
    assert cfg.srpo.adv_warmup == (1e6, 1e6, 0.0)
    with pytest.raises(config.ConfigError, match=r"sweep.zip\[0\]: .*never repeat a combination"):
        config.from_dict({**base, "srpo": {"adv_warmup": [1e6, 1e6],
                                           "adv_shaped_reward": [1.0, 1.0]}})
    with pytest.raises(config.ConfigError, match="srpo.adv_warmup: .*without repeated values"):
        config.from_dict({"method": "srpo", "srpo": {"adv_warmup": [1e6, 1e6]}})
    with pytest.raises(config.ConfigError, match=r"srpo.adv_shaped_reward: got 2.*\[0, 1\]"):
        config.from_dict({"method": "srpo", "srpo": {"adv_shaped_reward": 2}})


def test_kl_reward_charges_the_sampled_log_ratio():
    # Adversary took action 1 with probability 0.5; the anchor gives it 0.25: log-ratio log 2.
    anchor = np.log(np.array([[0.5, 0.25, 0.25]], np.float32))
    r = kl_reward(np.float32(-3.0), np.float32(0.5), np.float32(2.0),
                  np.log(np.float32([0.5])), anchor, np.array([1]))
    np.testing.assert_allclose(r, [0.5 * -3.0 - 2.0 * np.log(2.0)], rtol=1e-6)
    # Its expectation under the adversary's policy is -(1/tau) KL(adversary || anchor).
    adv = np.array([0.2, 0.5, 0.3], np.float32)
    per_action = kl_reward(np.float32(0.0), np.float32(1.0), np.float32(2.0), np.log(adv),
                           np.repeat(anchor, 3, 0), np.arange(3))
    kl = np.sum(adv * np.log(adv / np.exp(anchor[0])))
    np.testing.assert_allclose(np.sum(adv * per_action), -2.0 * kl, rtol=1e-5)


def test_kl_in_the_reward_trains_and_reports_the_kl():
    base = dict(method="srpo", tau=1.0, eps=0.2, num_seeds=1, env={"name": "coop_grid"},
                train={"total_env_steps": 8 * 16, "num_envs": 8, "num_steps": 16,
                       "lr": 0.01, "normalize_advantages": True},
                log={"interval": 1, "eval_envs": 4, "final_eval_envs": 4, "progress": False})
    loss = run_sweep(make_train(config.from_dict(base)))
    rew = run_sweep(make_train(config.from_dict({**base, "srpo": {"kl_penalty": "reward"}})))
    kl = np.asarray(rew.metrics["loss/kl"])  # [updates, member, stream]
    assert np.all(kl[..., [1, 2]] > 0) and np.all(kl[..., [0, 3]] == 0)  # adversary streams
    # One update: the same rollout in both; the heroes learn alike, the adversaries do not.
    assert not same(actors(loss.states.params, 0, ADV_0), actors(rew.states.params, 0, ADV_0),
                    rtol=1e-4, atol=1e-6)
    assert same(actors(loss.states.params, 0, 0), actors(rew.states.params, 0, 0))


def test_kl_in_the_reward_needs_the_papers_direction():
    with pytest.raises(config.ConfigError, match="srpo.kl_penalty: got 'reward'; allowed: 'loss'"):
        config.from_dict({"method": "srpo", "srpo": {"kl_penalty": "reward",
                                                     "kl_direction": "partner_adv"}})


def small_srpo(**over):
    raw = {"method": "srpo", "tau": 1.0, "eps": 0.2, "num_seeds": 1,
           "env": {"name": "collab_defect"},
           "train": {"total_env_steps": 3 * 8 * 4, "num_envs": 8, "num_steps": 4, "lr": 0.01,
                     "update_epochs": 2, "num_minibatches": 2},
           "log": {"interval": 1, "eval_envs": 8, "final_eval_envs": 8, "progress": False}}
    for k, v in over.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) else v
    return config.from_dict(raw)


def test_an_ippo_warmup_longer_than_the_run_is_ippo():
    ippo = run_sweep(make_train(small_srpo(method="ippo"), group_streams=False))
    warm = run_sweep(make_train(small_srpo(srpo={"ippo_warmup": 1e9})))
    heroes = jax.tree.map(lambda x: x[:, :2], warm.states.params)
    assert same(ippo.states.params, heroes)
    init = make_train(small_srpo()).init(jax.random.PRNGKey(0), member_hyper(small_srpo()))
    assert same(jax.tree.map(lambda x: x[0, 2:], warm.states.params),
                jax.tree.map(lambda x: x[2:], init.params))  # the adversaries never trained


def test_after_the_ippo_warmup_each_adversary_starts_from_its_anchor():
    # One update of IPPO, then SRPO; a tiny step size keeps every learner where it started.
    cfg = small_srpo(srpo={"ippo_warmup": 8 * 4}, train={"lr": 1e-9, "anneal_lr": True})
    trainer = make_train(cfg)
    hyper = member_hyper(cfg)
    state = trainer.init(jax.random.PRNGKey(0), hyper)
    one, _ = jax.jit(trainer.update)(state, hyper)  # IPPO: the adversaries are untouched
    assert same(actors(jax.tree.map(lambda x: x[None], one.params), 0, ADV_0),
                actors(jax.tree.map(lambda x: x[None], state.params), 0, ADV_0))
    two, _ = jax.jit(trainer.update)(one, hyper)
    p = jax.tree.map(lambda x: x[None], two.params)
    for adv, anchor in ((ADV_0, 1), (ADV_1, 0)):
        assert same(actors(p, 0, adv), actors(p, 0, anchor), rtol=0, atol=1e-6)
        # the critic too, with its output negated (an adversary's return is minus its hero's)
        tree = p["params"]
        assert same(jax.tree.map(lambda x: x[0, adv], tree["critic_torso"]),
                    jax.tree.map(lambda x: x[0, anchor], tree["critic_torso"]), rtol=0, atol=1e-6)
        assert same(jax.tree.map(lambda x: x[0, adv], tree["critic_head"]),
                    jax.tree.map(lambda x: -x[0, anchor], tree["critic_head"]), rtol=0, atol=1e-6)
    assert not same(actors(p, 0, ADV_0), actors(p, 0, ADV_1), rtol=0, atol=1e-3)
    # Adam starts afresh for the adversaries (its step count was one update's minibatch steps
    # old, counting the warm-up); the heroes' state and every learning-rate schedule go on.
    counts = [x for x in jax.tree.leaves(two.opt_state) if x.dtype.kind == "i"]
    adam_count, schedule_count = counts[0], counts[1]
    steps = cfg.train.update_epochs * cfg.train.num_minibatches
    np.testing.assert_array_equal(adam_count, [2 * steps, 2 * steps, steps, steps])
    np.testing.assert_array_equal(schedule_count, [2 * steps] * 4)


def test_a_run_that_never_leaves_its_ippo_warmup_says_so(tmp_path, capsys):
    from jsrpo.cli import main
    base = ["tau=1", "num_seeds=1", "train.total_env_steps=2048", "log.interval=1",
            "log.progress=false", "checkpoint.every_updates=0", "checkpoint.snapshots=[]"]
    cmd = lambda out: ["train", "--config", str(ROOT / "configs" / "collab_defect_srpo.yaml"),
                       "--out", str(tmp_path / out)]
    assert main(cmd("a") + base + ["srpo.ippo_warmup=1e9"]) == 0
    assert "warning: srpo.ippo_warmup 1e+09 is longer than this run" in capsys.readouterr().out
    # 2 updates of 1024 env steps: the second one starts after a warm-up of 1024
    assert main(cmd("b") + base + ["srpo.ippo_warmup=1024"]) == 0
    assert "warning" not in capsys.readouterr().out


def test_only_srpo_sweeps_the_ippo_warmup():
    with pytest.raises(config.ConfigError, match="srpo.ippo_warmup: .*acts in 'srpo' only"):
        config.from_dict({"method": "pure_adversarial", "srpo": {"ippo_warmup": [0, 1e6]}})
