"""Cross-play evaluator and renderer on one tiny IPPO run trained per session.

The run is trained once (3 updates; its compile dominates this file's time), evaluated once
through the CLI (shared by the file and diagonal checks), and reused by the other tests.
"""
import json
import shutil
from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

import envs
from jsrpo import crossplay, partners
from jsrpo.checkpoint import load_run
from jsrpo.cli import main as jsrpo_main
from jsrpo.episodes import play_episode
from jsrpo.partners.coop_grid import PARTNER_NAMES
from jsrpo.vec_env import VecEnv

ROOT = Path(__file__).resolve().parents[1]
EPISODES = 256  # per pair in the CLI run; the training run's final evaluation uses as many


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("xp") / "ippo"
    assert jsrpo_main([
        "train", "--config", str(ROOT / "configs" / "coop_grid_ippo.yaml"), "--out", str(out),
        "num_seeds=3", f"train.total_env_steps={8 * 128 * 3}", "train.update_epochs=1",
        "log.interval=3", "log.eval_envs=8", f"log.final_eval_envs={EPISODES}",
        "checkpoint.every_updates=0", "checkpoint.snapshots=[]",
        "log.progress=false"]) == 0
    return out


run_cli = jsrpo_main


@pytest.fixture(scope="session")
def cli_out(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("crossplay")
    assert run_cli(["crossplay", str(run_dir), "--episodes", str(EPISODES), "--out", str(out),
                    "--seed", "3", "--bootstrap-reps", "500"]) == 0
    return out


def test_cli_writes_json_and_both_pngs(cli_out):
    for name in ("crossplay_heatmap.png", "tp_cp.png"):
        assert (cli_out / name).stat().st_size > 10_000
    assert not list(cli_out.glob(".*"))  # no temp files left behind
    res = json.loads((cli_out / "crossplay.json").read_text())
    P = 3
    assert res["labels"] == ["ippo s0", "ippo s1", "ippo s2"]
    assert [m["method"] for m in res["members"]] == ["ippo"] * P
    assert np.shape(res["team_return"]) == (P, P) and np.shape(res["return"]) == (P, P, 2)
    np.testing.assert_allclose(np.mean(res["return"], -1), res["team_return"], rtol=1e-6)
    cost = np.asarray(res["private_cost"])
    np.testing.assert_allclose(res["free_riding"], np.abs(cost[..., 0] - cost[..., 1]))
    assert set(res["contributions"]) == {"onions_picked", "deliveries"}
    s = res["summary"]["team_return"]["methods"]["ippo"]
    assert s["tp"]["n"] == P and s["cp"]["n"] == P * (P - 1)
    assert s["tp"]["ci"][0] <= s["tp"]["iqm"] <= s["tp"]["ci"][1]
    assert res["summary"]["free_riding"]["methods"]["ippo"]["tp"]["n"] == P
    part = res["partners"]
    K = len(part["labels"])
    assert "delivering" in part["labels"] and "single_source1" in part["labels"]
    assert np.shape(part["partner_in_seat1"]["team_return"]) == (P, K)
    assert np.shape(part["partner_in_seat0"]["team_return"]) == (K, P)
    # A barely trained hero is carried by the competent scripted partner, not by `stay`.
    d, st = part["labels"].index("delivering"), part["labels"].index("stay")
    assert np.all(np.asarray(part["partner_in_seat1"]["team_return"])[:, d]
                  > np.asarray(part["partner_in_seat1"]["team_return"])[:, st])
    fetcher = part["labels"].index("fetcher")
    assert np.all(np.asarray(part["partner_in_seat0"]["contributions"]["deliveries"])[fetcher, :, 0]
                  == 0)


def test_crossplay_diagonal_reproduces_training_evaluation(cli_out, run_dir):
    res = json.loads((cli_out / "crossplay.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    for k, m in enumerate(res["members"]):
        train = summary["members"][m["member"]]
        diag, se = res["team_return"][k][k], res["team_return_se"][k][k]
        # Both are means over EPISODES independent episodes of the same pair: the difference
        # has standard error ~ sqrt(2) se.
        assert abs(diag - train["team_return"]) < 4 * np.sqrt(2) * se + 1e-3, (k, diag, train)
        np.testing.assert_allclose(res["private_cost"][k][k], train["private_cost"],
                                   atol=4 * np.sqrt(2) * se + 0.5)


def test_vmapped_crossplay_equals_reference_double_loop(cli_out, run_dir):
    """The CLI's one-compiled-call matrices == a Python loop over pairs with the same keys,
    for the pool (network x network) and every scripted partner in seat 1 (network x scripted)."""
    res = json.loads((cli_out / "crossplay.json").read_text())
    seat0, seat1 = crossplay.hero_agents(load_run(run_dir))
    seat0 = [seat0[m["member"]][0] for m in res["members"]]  # pool order; one seat per side
    seat1 = [seat1[m["member"]][0] for m in res["members"]]
    scripted = [partners.parse("coop_grid", s, 1) for s in res["partners"]["specs"]]
    venv = VecEnv(envs.make("coop_grid"))
    keys = jax.random.split(jax.random.PRNGKey(res["seed"]), res["episodes"])  # as the CLI does

    reference = {}  # one jitted per-pair function per kind pair, params as arguments

    def check(fast, a0, a1):
        fn = reference.setdefault((a0.kind, a1.kind), jax.jit(jax.vmap(
            partial(play_episode, venv, a0, a1), in_axes=(None, None, 0))))
        slow = crossplay.pair_statistics(fn(a0.params, a1.params, keys))
        for name in ("team_return", "team_return_se", "return", "private_cost", "free_riding"):
            np.testing.assert_allclose(fast[name], slow[name], rtol=1e-6, atol=1e-6)
        for name, v in slow["contributions"].items():
            np.testing.assert_array_equal(fast["contributions"][name], v)

    pick = lambda table, i, j: jax.tree.map(lambda x: np.asarray(x[i][j]), table,
                                            is_leaf=lambda x: isinstance(x, list))
    pool = {k: res[k] for k in ("team_return", "team_return_se", "return", "private_cost",
                                "free_riding", "contributions")}
    for i, a0 in enumerate(seat0):
        for j, a1 in enumerate(seat1):
            check(pick(pool, i, j), a0, a1)
        for k, p in enumerate(scripted):
            check(pick(res["partners"]["partner_in_seat1"], i, k), a0, p)
    assert len(reference) == 2


def test_member_pairs_equal_each_members_own_pairs(run_dir):
    """``evaluate_member_pairs`` (a PSRO run's meta-games, every member in one compiled call per
    block of kinds) gives each group what ``evaluate_pairs`` gives it alone, with teams of mixed
    kinds; groups whose kinds differ are refused."""
    seat0, seat1 = crossplay.hero_agents(load_run(run_dir))
    stay1 = partners.parse("coop_grid", "stay", 1)
    venv = VecEnv(envs.make("coop_grid"))
    keys = jax.random.split(jax.random.PRNGKey(5), 16)
    rows = [[seat0[m]] for m in range(2)]
    cols = [[seat1[m], (stay1,), seat1[2]] for m in range(2)]
    together = crossplay.evaluate_member_pairs(venv, rows, cols, keys)
    assert together["team_return"].shape == (2, 1, 3)
    for m in range(2):
        alone = crossplay.evaluate_pairs(venv, rows[m], cols[m], keys)
        for name in ("team_return", "return", "private_cost", "free_riding"):
            np.testing.assert_allclose(together[name][m], alone[name], rtol=1e-6, atol=1e-6)
    swapped = [cols[0], [cols[1][1], cols[1][0], cols[1][2]]]
    with pytest.raises(ValueError, match="same kinds"):
        crossplay.evaluate_member_pairs(venv, rows, swapped, keys)


def test_cli_errors(run_dir, tmp_path, capfd):
    assert jsrpo_main(["crossplay", str(run_dir), "--partners", "stay,dancer",
                       "--out", str(tmp_path)]) == 2
    err = capfd.readouterr().err
    assert "--partners: unknown coop_grid partner 'dancer'" in err
    assert "allowed: " + ", ".join(PARTNER_NAMES) in err
    assert jsrpo_main(["crossplay", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "no checkpoint" in capfd.readouterr().err
    other = tmp_path / "other_env"
    shutil.copytree(run_dir / "checkpoint", other / "checkpoint")
    meta_path = other / "checkpoint" / "final_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["env"] = {"name": "coop_grid", "kwargs": {"move_cost": 0.5}}
    meta_path.write_text(json.dumps(meta))
    assert jsrpo_main(["crossplay", str(run_dir), str(other), "--out", str(tmp_path)]) == 2
    assert "members from different environments cannot be pooled" in capfd.readouterr().err
    assert not (tmp_path / "crossplay.json").exists()


def test_render_writes_one_frame_per_state(run_dir, tmp_path, capfd):
    gif = tmp_path / "episode.gif"
    assert run_cli(["render", str(run_dir), "--member", "1", "--out", str(gif), "--seed", "2"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 50 + 1 and im.size[0] == 5 * 72
    assert "51 frames" in capfd.readouterr().out
    assert run_cli(["render", str(run_dir), "--out", str(gif), "--frames", "7"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 7
    assert "7 frames" in capfd.readouterr().out
    assert run_cli(["render", str(run_dir), "--partner", "dancer", "--out", str(gif)]) == 2
    assert "--partner: unknown coop_grid partner 'dancer'" in capfd.readouterr().err


def test_readme_example_loads_a_policy_and_plays_an_episode(run_dir, capsys):
    """The README's Python example, run as written against a trained run."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Load a policy and play it", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code.replace('"runs/default"', repr(str(run_dir))), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("returns per seat [") and "private costs" in out


def test_bad_arguments_stop_before_anything_is_played(run_dir, tmp_path, capfd):
    assert jsrpo_main(["crossplay", str(run_dir), str(run_dir / "."), "--out",
                       str(tmp_path / "xp")]) == 2
    assert "is given twice" in capfd.readouterr().err
    with pytest.raises(SystemExit):
        jsrpo_main(["crossplay", str(run_dir), "--seed", "1e23"])
    assert "allowed: an integer from 0 to 2147483647" in capfd.readouterr().err
    assert jsrpo_main(["crossplay", str(run_dir), "--out", ""]) == 2
    assert "--out: got ''" in capfd.readouterr().err
    for fps in ("nan", "1e-9", "1e9"):
        with pytest.raises(SystemExit):
            jsrpo_main(["render", str(run_dir), "--fps", fps, "--out", str(tmp_path / "a.gif")])
        assert f"--fps: got '{fps}'; allowed: a number from 0.1 to 50" in capfd.readouterr().err
    with pytest.raises(SystemExit):
        jsrpo_main(["render", str(run_dir), "--frames", "0", "--out", str(tmp_path / "a.gif")])
    assert "--frames: got '0'; allowed: an integer from 1" in capfd.readouterr().err
    for out, message in [(tmp_path, "is a directory"),
                         (tmp_path / "missing" / "a.gif", "does not exist")]:
        assert jsrpo_main(["render", str(run_dir), "--out", str(out)]) == 2
        assert message in capfd.readouterr().err
    assert not (tmp_path / "xp").exists() and not list(tmp_path.glob("*.gif"))
