"""The persistent compilation cache: where it lives, how it is turned off, and that a second
``jsrpo train`` of the same config loads its programs instead of compiling them."""
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from jsrpo import compile_cache

TINY = {
    "method": "srpo", "tau": [0.0, 5.0], "eps": 0.2, "num_seeds": 1,
    "env": {"name": "collab_defect", "kwargs": {"cost": 0.4}},
    "train": {"total_env_steps": 8 * 4 * 4, "num_envs": 8, "num_steps": 4, "update_epochs": 1},
    "log": {"interval": 2, "eval_envs": 8, "final_eval_envs": 8, "progress": False},
    "checkpoint": {"every_updates": 0, "snapshots": []},
}


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no", "none"])
def test_off_values_turn_the_cache_off(monkeypatch, value):
    monkeypatch.setenv(compile_cache.ENV_VAR, value)
    assert compile_cache.resolve() is None


def test_flag_turns_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path))
    assert compile_cache.resolve(disabled=True) is None


def test_directory_is_keyed_by_machine(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "c"))
    key = compile_cache.machine_key()
    assert re.fullmatch(r"[0-9a-f]{16}", key) and key == compile_cache.machine_key()
    assert compile_cache.resolve() == tmp_path / "c" / key


def test_default_is_the_users_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.default_root() == tmp_path / "jsrpo" / "xla"


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_value_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv(compile_cache.ENV_VAR, value)
    with pytest.raises(ValueError, match=compile_cache.ENV_VAR):
        compile_cache.resolve()


def _train(tmp_path, out, env_cache, *flags):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env[compile_cache.ENV_VAR] = env_cache
    return subprocess.run([sys.executable, "-m", "jsrpo", "train", "--config", str(cfg),
                           "--out", str(tmp_path / out), *flags], env=env,
                          capture_output=True, text=True, timeout=600)


def test_second_run_loads_its_programs_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _train(tmp_path, "a", str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "from the cache" not in first.stdout and "; compiling...\n" in first.stdout
    (sub,) = list(cache.iterdir())  # one directory for this machine and JAX version
    assert sub.name == compile_cache.machine_key() and len(list(sub.iterdir())) >= 3

    second = _train(tmp_path, "b", str(cache))
    assert second.returncode == 0, second.stderr[-2000:]
    assert re.search(r"(\d+) of \1 from the cache", second.stdout), second.stdout
    # the compiling line says how long this config took to compile last time on this machine
    last = re.search(r"compiled in ([\d.]+)s", first.stdout).group(1)
    assert f"; compiling (last time {float(last):.1f}s)..." in second.stdout, second.stdout
    summary = lambda d: json.loads((tmp_path / d / "summary.json").read_text())["members"]
    strip = lambda ms: [{k: v for k, v in m.items() if "second" not in k} for m in ms]
    assert strip(summary("a")) == strip(summary("b"))

    # Off with the flag: compiled again, nothing read from (or added to) the cache.
    entries = sorted(p.name for p in sub.iterdir())
    third = _train(tmp_path, "c", str(cache), "--no-compile-cache")
    assert third.returncode == 0, third.stderr[-2000:]
    assert "from the cache" not in third.stdout
    assert sorted(p.name for p in sub.iterdir()) == entries


def test_empty_cache_variable_stops_before_anything_is_written(tmp_path):
    proc = _train(tmp_path, "run", "")
    assert proc.returncode == 2
    assert f"{compile_cache.ENV_VAR}: got an empty value" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()
