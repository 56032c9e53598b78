"""Nothing lost, nothing silently wrong: the run directory's guarantees (clean --overwrite, the
lock, resume checks and recovery) and bad input of every command, each refused with a message
that names it before anything is written. In-process and tiny (a 6-update matrix-game run);
the process-level cases (kills, concurrent processes, double Ctrl-C) are in test_interrupt.py.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
import yaml

from jsrpo import config
from jsrpo.__main__ import main as entry_main
from jsrpo.checkpoint import load_run, saved_steps
from jsrpo.cli import main
from jsrpo.equilibria import rqe
from jsrpo.equilibria.games import get_game
from jsrpo.rundir import RunLock, RunLockedError

TINY = {
    "method": "srpo", "tau": [0.0, 3.0], "eps": 0.2,
    "env": {"name": "collab_defect"},
    "train": {"total_env_steps": 8 * 4 * 6, "num_envs": 8, "num_steps": 4, "update_epochs": 1},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False},
    "checkpoint": {"every_updates": 2, "keep": 2},
}


@pytest.fixture
def cfg_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _train(cfg_file, out, *extra) -> int:
    return main(["train", "--config", str(cfg_file), "--out", str(out), *extra])


def _params(run):
    return [np.asarray(x) for x in jax.tree.leaves(load_run(run).params)]


def _same_run(a, b):
    for x, y in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(x, y)
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny run, uninterrupted (seed 0), and the same with 10 updates."""
    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    assert _train(tmp / "tiny.yaml", tmp / "run") == 0
    assert _train(tmp / "tiny.yaml", tmp / "long", "train.total_env_steps=320") == 0
    return tmp


# ---------------------------------------------------------------- --overwrite and the lock

def test_overwrite_starts_from_a_clean_directory(cfg_file, tmp_path, reference, capfd):
    out = tmp_path / "run"
    shutil.copytree(reference / "run", out)  # an old run with periodic checkpoints
    assert _train(cfg_file, out, "seed=5", "--overwrite") == 0
    assert {json.loads(r)["seed"] for r in (out / "metrics.jsonl").read_text().splitlines()} \
        == {5}
    fresh = tmp_path / "fresh"
    assert _train(cfg_file, fresh, "seed=5") == 0
    _same_run(out, fresh)  # nothing of the old run's state was resumed
    # A directory holding anything a run does not write is never emptied.
    (out / "notes.txt").write_text("mine")
    capfd.readouterr()
    assert _train(cfg_file, out, "--overwrite") == 2
    assert "holds files a jsrpo run does not write (notes.txt)" in capfd.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and (out / "summary.json").exists()


def test_a_held_run_directory_is_refused_naming_the_holder(cfg_file, tmp_path, capfd):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out, "jsrpo train --out run"):
        assert _train(cfg_file, out) == 2
        err = capfd.readouterr().err
        assert f"in use by another jsrpo process (pid {os.getpid()} on " in err
        assert "jsrpo train --out run" in err
    assert not (out / "config.yaml").exists() and not (out / ".lock").exists()


def test_stale_and_foreign_locks(cfg_file, tmp_path, capfd):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / ".lock").write_text(json.dumps({"pid": int(dead), "host": os.uname().nodename,
                                           "started": "earlier", "command": "jsrpo train"}))
    assert _train(cfg_file, out, "--overwrite") == 0  # a dead process's lock is taken over
    assert not (out / ".lock").exists()
    (out / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "now"}))
    capfd.readouterr()
    assert _train(cfg_file, out, "--overwrite") == 2  # another host's: cannot be checked
    err = capfd.readouterr().err
    assert "pid 1 on elsewhere" in err and f"delete {out / '.lock'}" in err


# ---------------------------------------------------------------- resume

def _unfinish(run, keep_step):
    """What a crash after update ``keep_step`` leaves: no summary, final or later steps."""
    (run / "summary.json").unlink()
    shutil.rmtree(run / "checkpoint" / "final")
    for step in saved_steps(run):
        if step > keep_step:
            shutil.rmtree(run / "checkpoint" / "state" / str(step))


def test_resume_refuses_an_edited_config_and_a_finished_run_has_nothing_to_do(
        reference, tmp_path, capfd):
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    assert main(["train", "--resume", str(run)]) == 0
    assert "is complete (update 6); nothing to do" in capfd.readouterr().out
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("num_envs: 8", "num_envs: 16"))
    assert main(["train", "--resume", str(run)]) == 2
    assert "config.yaml differs from the config its checkpoints were trained with" in \
        capfd.readouterr().err
    (run / "config.yaml").write_text(text)
    assert main(["train", "--resume", str(run), "--total-env-steps", "100"]) == 2
    assert "--total-env-steps: got 100; allowed: at least 192" in capfd.readouterr().err
    assert main(["train", "--config", str(run / "config.yaml"), "--out", str(tmp_path / "x"),
                 "--total-env-steps", "500"]) == 2
    assert "only with --resume" in capfd.readouterr().err


def test_extending_the_budget_equals_a_run_that_had_it_from_the_start(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    assert main(["train", "--resume", str(run), "--total-env-steps", "3.2e2"]) == 0
    _same_run(run, reference / "long")
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["total_env_steps"] == 320


@pytest.mark.parametrize("damage", ["metrics deleted", "torn last line", "newest step empty"])
def test_resume_recovers_what_a_crash_leaves(damage, reference, tmp_path, capfd):
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    _unfinish(run, keep_step=4)
    if damage == "metrics deleted":
        (run / "metrics.jsonl").unlink()
    elif damage == "torn last line":
        with open(run / "metrics.jsonl", "a") as f:
            f.write('{"member": 0, "upd')
    else:
        shutil.copytree(reference / "run" / "checkpoint" / "state" / "6",
                        run / "checkpoint" / "state" / "6")
        for p in (run / "checkpoint" / "state" / "6").rglob("*"):
            if p.is_file():
                p.write_bytes(b"")
    assert main(["train", "--resume", str(run)]) == 0
    if damage == "newest step empty":
        assert "checkpoint of update 6 cannot be read" in capfd.readouterr().err
    _same_run(run, reference / "run")


def test_resume_without_checkpoints_is_refused(reference, tmp_path, capfd):
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    (run / "summary.json").unlink()
    shutil.rmtree(run / "checkpoint" / "state")
    assert main(["train", "--resume", str(run)]) == 2
    err = capfd.readouterr().err
    assert "no checkpoint to continue from" in err and "6 metrics rows" in err


# ---------------------------------------------------------------- bad input, nothing written

@pytest.mark.parametrize("overrides, message", [
    (["env.name=coop_grid", "env.kwargs.episode_length=0"],
     "env.kwargs.episode_length: got 0; allowed: an integer from 1"),
    (["env.name=coop_grid", "env.kwargs.episode_length=abc"],
     "env.kwargs.episode_length: got 'abc'"),
    (["env.name=coop_grid", "env.kwargs.respawn_prob=2"], "env.kwargs.respawn_prob: got 2"),
    (["env.kwargs.cost=[0.4,.nan]"], "env.kwargs.cost[1]: got nan; allowed: a finite number"),
    (["env.name=coop_grid", "env.kwargs.episode_length=[10,20]"],
     "env.kwargs.episode_length: got [10, 20]; allowed: an integer"),
    (["env.name=coop_grid", "env.kwargs.move_cost=[0.1,-1]"],
     "env.kwargs.move_cost: got -1.0; allowed: a number >= 0"),
    (["env.name=bimatrix", "env.kwargs.row=[[1,2],[3]]"], "env.kwargs.row: got [[1, 2], [3]]"),
    (["env.name=bimatrix", "env.kwargs.row=[[1,2],[3,4]]", "env.kwargs.col=[[1,2]]"],
     "env.kwargs.col: got shape (1, 2); allowed: shape (2, 2)"),
    (["env.name=overcooked", "env.kwargs.layout=nonexistent", "train.num_envs=8"],
     "env.kwargs.layout: unknown overcooked layout 'nonexistent'"),
    (["network.kind=cnn"], "network.kind: 'cnn' needs grid observations"),
    (["train.total_env_steps=1e30"], "train.total_env_steps: got 1e+30; allowed: an integer"),
    (["seed=100000000000000000000"], "seed: got 100000000000000000000; allowed: an integer "
                                     "from 0 to 2147483647"),
])
def test_bad_values_stop_before_anything_is_written(cfg_file, tmp_path, capfd, overrides,
                                                    message):
    out = tmp_path / "out"
    assert _train(cfg_file, out, *overrides) == 2
    assert message in capfd.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("- 1\n- 2\n", "expected a mapping of keys to values at the top level, got list"),
    ("3\n", "got int"),
    ("method: srpo\nmethod: ippo\n", "line 2: key 'method' is given twice (first on line 1)"),
    ("a: &x [*x]\n", "an alias refers to itself"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a text file"),
])
def test_config_files_that_are_not_configs(tmp_path, capfd, text, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert message in capfd.readouterr().err
    assert not (tmp_path / "out").exists()


def test_out_paths(cfg_file, tmp_path, capfd):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for out, message in [("", "--out: got ''; allowed: a directory path"),
                         (str(a_file), "is a file, not a directory"),
                         (str(a_file / "run"), f"{a_file} is a file, not a directory")]:
        assert _train(cfg_file, out) == 2
        assert message in capfd.readouterr().err
    assert a_file.read_text() == "x"


def test_section_overrides_merge_and_numbers_parse_one_way(cfg_file):
    cfg = config.load(cfg_file, ["train={lr: 1e-3}", "train.total_env_steps=2.56e2"])
    assert cfg.train.lr == 1e-3 and cfg.train.num_envs == 8  # the rest of the section kept
    assert cfg.train.total_env_steps == 256


def test_nonconvergence_is_reported(reference):
    summary = json.loads((reference / "run" / "summary.json").read_text())
    for m in summary["members"]:
        assert m["rqe_distance"] >= 0
        assert m["converged"] == (m["nearest_rqe_distance"] <= 0.03)
        x0, x1 = (np.asarray(x) for x in m["nearest_rqe"])
        p = np.asarray(m["action_probs"])
        assert np.isclose(max(np.abs(p[0] - x0).max(), np.abs(p[1] - x1).max()),
                          m["nearest_rqe_distance"], atol=1e-6)
    with jax.enable_x64(True):
        payoffs = get_game("collab_defect").payoffs
        eq = rqe.rqe_equilibria_grid(payoffs, [10.0], [0.2])[0][0]
        assert float(rqe.fixed_point_distance(payoffs, eq.x0, eq.x1, 10.0, 0.2)) < 1e-8
        assert float(rqe.fixed_point_distance(payoffs, np.array([0.99, 0.01]), eq.x1, 10.0,
                                              0.2)) > 0.1


# ---------------------------------------------------------------- other commands

def test_render_of_a_matrix_game_says_there_is_nothing_to_draw(reference, tmp_path, capfd):
    gif = tmp_path / "a.gif"
    assert main(["render", str(reference / "run"), "--out", str(gif)]) == 2
    err = capfd.readouterr().err
    assert "nothing to draw: this run plays collab_defect, a one-shot game" in err
    assert "coop_grid, overcooked, overcooked_v2" in err and not gif.exists()


def test_run_description_that_is_not_one(reference, tmp_path, capfd):
    run = tmp_path / "run"
    shutil.copytree(reference / "run", run)
    meta = run / "checkpoint" / "final_meta.json"
    for text, message in [("{}", "missing field 'network'"), ("not json", "not valid JSON")]:
        meta.write_text(text)
        assert main(["crossplay", str(run), "--out", str(tmp_path / "xp")]) == 2
        err = capfd.readouterr().err
        assert str(meta) in err and message in err
    assert not (tmp_path / "xp").exists()


@pytest.mark.parametrize("game, concept, message", [
    ("row: [[1, 0], [0, 1]]\nrow: [[2]]\n", "nash", "key 'row' is given twice"),
    ("row: [[1]]\n", "rqe", "needs at least 2 actions per seat"),
    ("row: [[1]]\n", "qre", "needs at least 2 actions per seat"),
    ("row: [[1.0e308, 0], [0, 1e308]]\n", "rqe", "takes payoffs up to 1e+06"),
    ("row: [[1.0e308, 0], [0, 1e308]]\n", "rae", "takes payoffs up to 1e+06"),
    (json.dumps({"row": np.eye(12).tolist()}), "nash", "at most 13,000 here"),
    (json.dumps({"row": np.eye(12).tolist()}), "rae", "at most 1,000 here"),
    (b"\xff\xfe\x00garbage", "nash", "not a text file"),
])
def test_solve_refuses_what_it_cannot_answer(tmp_path, capfd, game, concept, message):
    path = tmp_path / "game.yaml"
    path.write_bytes(game if isinstance(game, bytes) else game.encode())
    assert main(["solve", "--game", str(path), "--concept", concept]) == 2
    assert message in capfd.readouterr().err


def test_solve_handles_any_payoff_scale_for_nash(tmp_path, capfd):
    for scale in ("1e3", "1.0e308"):
        path = tmp_path / "game.yaml"
        path.write_text(f"row: [[{scale}, 0], [0, {scale}]]\n")
        assert main(["solve", "--game", str(path), "--concept", "nash", "--json"]) == 0
        found = json.loads(capfd.readouterr().out)["results"][0]["equilibria"]
        assert sorted(round(e["x0"][0], 4) for e in found) == [0.0, 0.5, 1.0]
        assert all(e["gap"] == 0.0 or e["gap"] < 1e-12 * float(scale) for e in found)


def test_process_settings_name_the_variable(cfg_file, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("JSRPO_NUM_PROCESSES", "abc")
    assert entry_main(["train", "--config", str(cfg_file), "--out", str(tmp_path / "o")]) == 2
    assert "JSRPO_NUM_PROCESSES: got 'abc'; allowed: an integer >= 1" in capfd.readouterr().err
    monkeypatch.delenv("JSRPO_NUM_PROCESSES")
    monkeypatch.setenv("JSRPO_JOIN_TIMEOUT", "1")
    assert entry_main(["train", "--config", str(cfg_file), "--out", str(tmp_path / "o"),
                       "--coordinator", "127.0.0.1:9", "--num-processes", "2",
                       "--process-id", "1"]) == 2
    assert "--coordinator 127.0.0.1:9: no answer within 1 s" in capfd.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("overrides, message", [
    (["network.hidden_sizes=[1000000000]"], "a list of 1 to 16 integers from 1 to 65536"),
    (["train.num_envs=100000000"], "train.num_envs: got 100000000; allowed: an integer from 1"),
    (["train.num_envs=65536", "train.num_steps=65536"], "at most 16777216 samples per update"),
    (["log.final_eval_envs=1e9"], "log.final_eval_envs: got 1000000000.0; allowed: an integer"),
    (["=5"], "expected a dotted key"),
    (["train.=3"], "expected a dotted key"),
])
def test_sizes_that_would_exhaust_memory_are_refused(cfg_file, overrides, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.load(cfg_file, overrides)


def test_paths_that_are_not_files(tmp_path, capfd):
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert "--config: is a directory, not a config file" in capfd.readouterr().err
    assert main(["solve", "--game", "", "--concept", "nash"]) == 2
    assert "--game: got ''" in capfd.readouterr().err


def test_a_lock_taken_over_in_between_is_not_dropped(tmp_path, monkeypatch):
    """Two processes take over the same stale lock: the slower one must not remove the lock
    the faster one has just created."""
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    live = {"pid": os.getpid(), "host": os.uname().nodename, "started": "now", "command": "x"}

    def stale_then_retaken(self, holder):
        if holder.get("host") == "elsewhere":  # judged stale; a faster taker replaces it now
            (tmp_path / ".lock").write_text(json.dumps(live))
            return True
        return False

    monkeypatch.setattr(RunLock, "_stale", stale_then_retaken)
    with pytest.raises(RunLockedError, match=f"pid {os.getpid()} on"):
        RunLock(tmp_path).acquire()
    assert json.loads((tmp_path / ".lock").read_text()) == live
