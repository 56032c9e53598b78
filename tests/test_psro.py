"""PSRO: the meta-solvers against the games' reference numbers and the exact solvers, the
best responses' pools (one row of weights per member, the same shape at every iteration), the
config checks, and a small run end to end with its resume."""
import json
import shutil

import numpy as np
import pytest
import yaml

from jsrpo import config, psro
from jsrpo.config import ConfigError
from jsrpo.equilibria import rqe

STAG = np.array([[5.0, 0.0], [4.0, 2.0]])  # row player's payoffs (Stag, Hare); symmetric


def _meta_game(policies):
    """The meta-game of pure stag-hunt policies (0 = Stag, 1 = Hare) for both seats."""
    a = STAG[np.ix_(policies, policies)]
    return np.stack([a, a.T])


def _cfg(**psro_values):
    raw = {"method": "psro", "env": {"name": "stag_hunt", "kwargs": {"rounds": 2}},
           "num_seeds": 2, "eps": 0.01,
           "train": {"total_env_steps": 2 * 8 * 4, "num_envs": 8, "num_steps": 4},
           "network": {"hidden_sizes": [8]},
           "log": {"interval": 1, "eval_envs": 4, "final_eval_envs": 8, "progress": False},
           "checkpoint": {"every_updates": 1},
           "psro": {"iterations": 2, "eval_episodes": 16} | psro_values}
    return config.from_dict(raw)


def test_nash_and_rae_meta_solvers_split_where_the_reference_says():
    # three Stag policies and one Hare: fictitious play starts at P(Stag) = 0.75, where
    # the stag hunt's reference (docs/solvers.md: symmetric fictitious play from 0.70) goes to
    # Stag at gamma 0 and to Hare at gamma 0.1
    game = _meta_game([0, 0, 0, 1])
    x0, x1 = psro.solve_meta_game(game, _cfg(meta_solver="nash"))
    assert x0[:3].sum() > 0.99 and x1[:3].sum() > 0.99
    x0, x1 = psro.solve_meta_game(game, _cfg(meta_solver="rae", gamma=0.1))
    assert x0[3] > 0.99 and x1[3] > 0.99


def test_the_uniform_meta_solver_is_uniform():
    x0, x1 = psro.solve_meta_game(_meta_game([0, 1, 1]), _cfg(meta_solver="uniform"))
    np.testing.assert_allclose(x0, [1 / 3] * 3)
    np.testing.assert_allclose(x1, [1 / 3] * 3)


@pytest.mark.parametrize("solver", ["uniform", "nash", "rae", "rqe"])
def test_a_meta_game_of_one_policy_each_is_solved_by_every_meta_solver(solver):
    x0, x1 = psro.solve_meta_game(_meta_game([1]), _cfg(meta_solver=solver))
    assert x0.tolist() == [1.0] and x1.tolist() == [1.0]


def test_the_rqe_meta_solver_returns_an_exact_rqe():
    game = _meta_game([0, 1])
    cfg = _cfg(meta_solver="rqe", meta_tau=0.5, meta_eps=0.5)
    x0, x1 = psro.solve_meta_game(game, cfg)
    assert float(rqe.rqe_gap(game, x0, x1, 0.5, 0.5)) < 1e-4


def test_gains_are_the_new_policies_improvement_over_the_meta_strategy():
    game = _meta_game([0, 1])  # policy 1 (Hare) is new on both sides
    x = np.array([1.0, 0.0])  # the meta-strategy so far: all Stag
    # Hare against Stag earns 4, Stag against Stag 5: each new policy loses 1
    assert psro.gaps(game, x, x, 1, 1) == [-1.0, -1.0]


def test_the_pool_keeps_its_shape_and_gives_each_member_its_own_meta_strategy(tmp_path):
    cfg = _cfg(iterations=3)
    sizes = []
    for k in (1, 2, 3):
        meta = np.stack([np.arange(1, k + 1) / np.arange(1, k + 1).sum(),
                         np.full(k, 1.0 / k)])
        br = psro.best_response_config(cfg, tmp_path, k, 0, meta)
        fz = br.env.frozen
        assert br.method == "ippo" and fz.seat == 1 and len(fz.policies) == 4
        rows = np.asarray(fz.weights)
        sizes.append(rows.shape)
        for m in range(2):
            np.testing.assert_allclose(rows[m, [psro.entry(cfg, j, m) for j in range(k)]],
                                       meta[m])
            assert rows[m].sum() == pytest.approx(1.0)
        assert fz.policies[k - 1] == str(psro.stage_dir(tmp_path, k - 1, 1).resolve()) or k == 1
    assert len(set(sizes)) == 1  # one pool size (a trained start: one program throughout)


@pytest.mark.parametrize("solver, oracle, risk", [
    ("rae", "risk_averse", (0.5, "mean_variance")), ("rqe", "risk_averse", (2.0, "entropic")),
    ("nash", "risk_averse", (0.0, "mean_variance")),
    ("uniform", "risk_averse", (0.0, "mean_variance")),
    ("rae", "neutral", (0.0, "mean_variance")), ("rqe", "neutral", (0.0, "mean_variance"))])
def test_each_meta_solver_gives_its_best_responses_its_risk_measure(tmp_path, solver, oracle,
                                                                  risk):
    cfg = _cfg(meta_solver=solver, oracle=oracle, gamma=0.5, meta_tau=2.0)
    fz = psro.best_response_config(cfg, tmp_path, 1, 0, np.ones((2, 1))).env.frozen
    assert (fz.risk, fz.risk_measure) == risk


@pytest.mark.parametrize("raw, match", [
    ({"env": {"name": "tag", "kwargs": {}}},
     "method: got 'psro'; allowed: a method other than 'psro'"),
    ({"psro": {"iterations": 12}}, "psro.iterations: got 12; allowed: at most 11"),
    ({"psro": {"iterations": 10, "initial": ["mixed:p=1", "mixed:p=1", "mixed:p=0"]}},
     "psro.iterations: got 10; allowed: at most 9 with meta_solver 'nash' and 3 initial"),
    ({"psro": {"initial": ["mixed:p=1", ""]}}, "psro.initial: got .*; allowed: a scripted"),
    ({"psro": {"meta_solver": "lp"}}, "psro.meta_solver: got 'lp'; allowed: "),
    ({"psro": {"oracle": "averse"}},
     "psro.oracle: got 'averse' .did you mean 'risk_averse'.*allowed: risk_averse, neutral"),
    ({"eps": [0.1, 0.2]}, "allowed: a single value of every hyper-parameter"),
    ({"env": {"frozen": {"seat": 1, "policies": ["random"]}}}, "env.frozen: got"),
])
def test_psro_configs_are_checked_by_name(raw, match):
    base = config.to_dict(_cfg())
    if "kwargs" in raw.get("env", {}):
        base["env"]["kwargs"] = {}
    with pytest.raises(ConfigError, match=match):
        config.from_dict(config.merge(base, raw))


def test_a_scripted_start_with_memory_is_refused(tmp_path):
    raw = config.to_dict(_cfg())
    raw["env"] = {"name": "overcooked", "kwargs": {"layout": "cramped_room"}}
    raw["psro"]["initial"] = ["onion"]
    cfg = config.from_dict(raw)
    with pytest.raises(ConfigError, match="psro.initial\\[0\\]: got 'onion'; allowed: a "
                                          "scripted agent without memory"):
        psro.check(cfg)


def test_a_rqe_meta_game_without_an_equilibrium_falls_back_to_nash(monkeypatch, capsys):
    monkeypatch.setattr(psro.rqe, "rqe_equilibria", lambda *a, **k: [])
    fell = []
    x0, x1 = psro.solve_meta_game(_meta_game([0, 0, 0, 1]), _cfg(meta_solver="rqe"),
                                  lambda: fell.append(1))
    assert x0[:3].sum() > 0.99 and fell == [1]  # nash's answer from P(Stag) = 0.75, said
    assert "no equilibrium" in capsys.readouterr().out


def test_a_stage_that_left_no_checkpoint_starts_again_and_a_complete_one_is_skipped(
        psro_run, capsys):
    from jsrpo.cli import main
    run = psro_run / "copy2"
    shutil.copytree(psro_run / "run", run)
    stage = run / "iter_002" / "seat_1"
    shutil.rmtree(stage / "checkpoint")  # stopped before its first checkpoint
    (stage / "summary.json").unlink()
    assert main(["train", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert "iter_001/seat_0 is complete" in out
    assert (stage / "summary.json").is_file()


def test_a_bad_initial_policy_is_refused_before_anything_is_written(tmp_path, capsys):
    from jsrpo.cli import main
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(_cfg(initial="mixd:p=0.7"))))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "psro.initial[0]: unknown stag_hunt partner 'mixd'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def psro_run(tmp_path_factory):
    from jsrpo.cli import main
    tmp = tmp_path_factory.mktemp("psro")
    (tmp / "p.yaml").write_text(yaml.safe_dump(config.to_dict(
        _cfg(meta_solver="rae", gamma=0.5, initial="mixed:p=0.7"))))
    assert main(["train", "--config", str(tmp / "p.yaml"), "--out", str(tmp / "run")]) == 0
    return tmp


def test_a_psro_run_writes_its_meta_game_strategies_and_plots(psro_run):
    run = psro_run / "run"
    res = json.loads((run / "psro.json").read_text())
    pay = np.asarray(res["payoffs"])
    assert pay.shape == (2, 2, 3, 3) and not np.isnan(pay).any()
    assert len(res["meta_strategies"]) == 2 and len(res["final_meta_strategies"]) == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["iteration"] for r in rows} == {1, 2, 3}
    assert (run / "meta_game.png").is_file() and (run / "meta_strategy.png").is_file()
    # the scripted start's entry: P(Stag) = 0.7 against itself over two rounds
    start = 2 * (0.7 * 0.7 * 5 + 0.3 * 0.7 * 4 + 0.3 * 0.3 * 2)
    assert abs(pay[0, 0, 0, 0] - start) < 1.0


def test_a_psro_run_resumes_where_it_stopped(psro_run):
    from jsrpo.cli import main
    run, copy = psro_run / "run", psro_run / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "iter_002" / "seat_1")
    for name in ("metrics.jsonl", "meta_game.png", "meta_strategy.png"):
        (copy / name).unlink()
    res = json.loads((copy / "psro.json").read_text())
    pay = np.asarray(res["payoffs"])
    pay[:, :, 2, :] = np.nan
    pay[:, :, :, 2] = np.nan
    res["payoffs"] = pay.tolist()
    (copy / "psro.json").write_text(json.dumps(res))
    assert main(["train", "--resume", str(copy)]) == 0
    a = json.loads((run / "psro.json").read_text())
    b = json.loads((copy / "psro.json").read_text())
    np.testing.assert_allclose(a["payoffs"], b["payoffs"], atol=1e-6)
    np.testing.assert_allclose(a["final_meta_strategies"], b["final_meta_strategies"], atol=1e-6)
    for x, y in zip(a["meta_strategies"], b["meta_strategies"]):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_a_scripted_start_of_several_policies_leads_the_pool_and_is_shared(tmp_path):
    cfg = _cfg(iterations=2, initial=["mixed:p=1", "mixed:p=1", "mixed:p=0"])
    meta = np.array([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])  # over the three starting policies
    fz = psro.best_response_config(cfg, tmp_path, 1, 1, meta).env.frozen
    # three shared scripted entries, then two padding slots of two entries (one per member)
    assert list(fz.policies) == ["mixed:p=1", "mixed:p=1", "mixed:p=0"] + ["mixed:p=1"] * 4
    np.testing.assert_allclose(fz.weights, [[0.5, 0.25, 0.25, 0, 0, 0, 0],
                                            [0, 0, 1, 0, 0, 0, 0]])
    meta = np.full((2, 4), 0.25)
    fz = psro.best_response_config(cfg, tmp_path, 2, 1, meta).env.frozen
    run = str(psro.stage_dir(tmp_path, 1, 0).resolve())  # expands to both members' policies
    assert list(fz.policies) == ["mixed:p=1", "mixed:p=1", "mixed:p=0", run, run]
    # the same seven entries as before (the pool size of every iteration)
    np.testing.assert_allclose(fz.weights, [[0.25, 0.25, 0.25, 0.25, 0, 0, 0],
                                            [0.25, 0.25, 0.25, 0, 0.25, 0, 0]])


def test_a_mixture_plays_each_policy_for_a_whole_episode_by_its_weights():
    import jax

    from jsrpo import partners
    from jsrpo.agents import mixture_agent
    stag = partners.parse("stag_hunt", "mixed:p=1", 0)
    hare = partners.parse("stag_hunt", "mixed:p=0", 0)
    mix = mixture_agent("m", [stag, hare, stag], [0.2, 0.5, 0.3])
    obs = np.ones((1,), np.float32)

    def first_move(key):
        k0, k1 = jax.random.split(key)
        u = mix.init_state(k0)
        logits, u2 = mix.policy(mix.params, u, obs, k1)
        return jax.numpy.argmax(logits), u2 == u
    moves, same = jax.vmap(first_move)(jax.random.split(jax.random.PRNGKey(0), 4000))
    assert bool(np.all(same))  # the draw is the episode's, kept at every step
    assert 0.47 < float(np.mean(moves)) < 0.53  # Hare with weight 0.5


def test_a_psro_run_cross_plays_as_its_final_mixtures(psro_run):
    from jsrpo.cli import main
    out = psro_run / "xp"
    assert main(["crossplay", str(psro_run / "run"), "--out", str(out), "--episodes", "8",
                 "--partners", "random"]) == 0
    res = json.loads((out / "crossplay.json").read_text())
    assert np.asarray(res["team_return"]).shape == (2, 2)
    assert list(res["summary"]["team_return"]["methods"]) == ["psro-rae0.5"]


def test_pool_weights_follow_the_mean_variance_gradient_by_hand():
    import jax.numpy as jnp

    from jsrpo.train import pool_weights
    # three episodes ended: two against policy 0 (returns 10 and 10), one against policy 1 (0);
    # policy 2 never ended an episode; the draw is 1/2, 1/2, 0
    entry = jnp.array([[[0, 1, 2, 0]]])
    done = jnp.array([[[1.0, 1.0, 0.0, 1.0]]])
    ret = jnp.array([[[10.0, 0.0, 7.0, 10.0]]])
    logits = jnp.log(jnp.array([0.5, 0.5, 1e-30]))
    w = pool_weights(entry, done, ret, logits, 0.05)
    # mean 5: weights 1 - 2 * 0.05 * (10 - 5) = 0.5 and 1 + 0.5 = 1.5; unseen: 1
    np.testing.assert_allclose(w, [0.5, 1.5, 1.0], rtol=1e-6)


def test_pool_weights_follow_the_entropic_gradient_by_hand():
    import jax.numpy as jnp

    from jsrpo.train import pool_weights
    entry = jnp.array([[[0, 1, 2, 0]]])
    done = jnp.array([[[1.0, 1.0, 0.0, 1.0]]])
    ret = jnp.array([[[10.0, 0.0, 7.0, 10.0]]])
    logits = jnp.log(jnp.array([0.25, 0.75, 1e-30]))
    w = pool_weights(entry, done, ret, logits, 0.1, "entropic")
    # the adversary's draw q_j ∝ p_j exp(-0.1 R_j): (0.25 e^-1, 0.75) / Z, weights q_j / p_j
    z = 0.25 * np.exp(-1.0) + 0.75
    np.testing.assert_allclose(w, [np.exp(-1.0) / z, 1.0 / z, 1.0], rtol=1e-6)
    # returns 1000 times larger: still finite (the exponent is shifted by the lowest return)
    w = pool_weights(entry, done, ret * 1000, logits, 0.1, "entropic")
    assert np.all(np.isfinite(np.asarray(w))) and float(w[1]) == pytest.approx(1 / 0.75)


@pytest.mark.parametrize("measure", ["mean_variance", "entropic"])
def test_a_risk_averse_best_response_to_a_pool_is_the_exact_one(tmp_path, measure):
    """Against three Stag players and a Hare player, the risk-neutral best response is Stag;
    the mean-variance one at risk 1 is Hare (the exact solver says so), and so is the one of
    the entropic risk at 1 (the RQE's risk-adjusted value); a learner with env.frozen.risk 1
    learns Hare with either measure."""
    import jax.numpy as jnp

    from jsrpo.cli import main
    from jsrpo.equilibria import rae
    y = jnp.array([0.75, 0.25])
    assert float(rae.risk_averse_best_response(jnp.asarray(STAG), y, 0.0)[0]) == 1.0
    assert float(rae.risk_averse_best_response(jnp.asarray(STAG), y, 1.0)[1]) == 1.0
    values = [float(rqe.entropic_risk(jnp.asarray(STAG[a]), y, 1.0)) for a in (0, 1)]
    assert values[1] > values[0] + 1  # Hare's entropic value 3.05 against Stag's 1.37
    raw = {"method": "ippo", "eps": 0.0, "num_seeds": 2,
           "env": {"name": "stag_hunt", "frozen": {"seat": 1, "risk": 1.0,
                                                   "risk_measure": measure,
                                                   "policies": ["mixed:p=1", "mixed:p=0"],
                                                   "weights": [3, 1]}},
           "train": {"total_env_steps": 60000, "num_envs": 128, "num_steps": 8,
                     "update_epochs": 2, "num_minibatches": 1, "lr": 0.01},
           "log": {"interval": 10, "eval_envs": 64, "final_eval_envs": 64, "progress": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    for m in summary["members"]:
        assert m["action_probs"][0][1] > 0.9  # Hare


# ---------------------------------------------------------------- one population

def test_one_populations_meta_game_averages_the_two_seats_by_hand():
    # policy a's return against b: seat 0's entry [a, b] and seat 1's entry [b, a]
    pay = np.array([[[1.0, 2.0], [3.0, 4.0]], [[10.0, 20.0], [30.0, 40.0]]])
    U = psro.symmetric_game(pay)
    np.testing.assert_allclose(U[0], [[(1 + 10) / 2, (2 + 30) / 2], [(3 + 20) / 2, (4 + 40) / 2]])
    np.testing.assert_allclose(U[1], U[0].T)


@pytest.mark.parametrize("solver, hare", [("nash", False), ("rae", True)])
def test_one_population_splits_where_the_reference_says(solver, hare):
    # the stag hunt's symmetric fictitious play from P(Stag) = 0.75: Stag at gamma 0, Hare
    # at gamma 0.1; one meta-strategy for both seats
    x0, x1 = psro.solve_meta_game(_meta_game([0, 0, 0, 1]),
                                  _cfg(meta_solver=solver, gamma=0.1, populations=1))
    np.testing.assert_array_equal(x0, x1)
    assert (x0[3] if hare else x0[:3].sum()) > 0.99


def test_one_populations_rqe_is_a_symmetric_rqe():
    game = _meta_game([0, 1])
    x0, x1 = psro.solve_meta_game(game, _cfg(meta_solver="rqe", meta_tau=0.5, meta_eps=0.5,
                                             populations=1))
    np.testing.assert_array_equal(x0, x1)
    found = rqe.rqe_equilibria(psro.symmetric_game(game), 0.5, 0.5)
    assert any(np.allclose(e.x0, x0, atol=1e-5) and np.allclose(e.x1, x1, atol=1e-5)
               for e in found)


def test_one_populations_best_response_plays_it_in_both_seats(tmp_path):
    cfg = _cfg(iterations=3, populations=1)
    assert psro.initial_config(cfg).method == "self_play"
    fz = psro.best_response_config(cfg, tmp_path, 3, None, np.full((2, 3), 1 / 3)).env.frozen
    assert fz.seat == "each"
    runs = [str(psro.stage_dir(tmp_path, j).resolve()) for j in range(3)]
    assert list(fz.policies) == runs + runs[:1]  # the start, iter_001, iter_002, one pad


def test_one_population_is_refused_for_a_game_whose_seats_differ(tmp_path, capsys):
    from jsrpo.cli import main
    raw = config.to_dict(_cfg(populations=1))
    raw["env"] = {"name": "bimatrix", "kwargs": {"row": [[1, 0, 2], [0, 1, 0]]}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out",
                 str(tmp_path / "run")]) == 2
    assert "psro.populations: got 1; allowed: 2 for bimatrix" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_one_population_run_trains_resumes_and_cross_plays(tmp_path):
    from jsrpo.cli import main
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config.to_dict(
        _cfg(meta_solver="nash", populations=1))))
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "p.yaml"), "--out", str(run)]) == 0
    assert (run / "iter_000").is_dir() and (run / "iter_002" / "summary.json").is_file()
    assert not (run / "iter_001" / "seat_0").exists()
    res = json.loads((run / "psro.json").read_text())
    pay = np.asarray(res["payoffs"])
    assert pay.shape == (2, 2, 3, 3) and not np.isnan(pay).any()
    for x0, x1 in res["final_meta_strategies"]:
        assert x0 == x1
    # a finished stage is kept; one cut off before its checkpoint trains again
    shutil.rmtree(run / "iter_002" / "checkpoint")
    (run / "iter_002" / "summary.json").unlink()
    assert main(["train", "--resume", str(run)]) == 0
    assert (run / "iter_002" / "summary.json").is_file()
    out = tmp_path / "xp"
    assert main(["crossplay", str(run), "--out", str(out), "--episodes", "8",
                 "--partners", "random"]) == 0
    xp = json.loads((out / "crossplay.json").read_text())
    assert np.asarray(xp["team_return"]).shape == (2, 2)
    assert list(xp["summary"]["team_return"]["methods"]) == ["psro-nash"]
