"""Shared body of the Overcooked training smoke tests (split over two files so test workers
run them in parallel)."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from jsrpo.checkpoint import load_policy
from jsrpo.cli import main

ROOT = Path(__file__).parent.parent
TINY = ["train.total_env_steps=64", "train.num_envs=4", "train.num_steps=8",
        "train.num_minibatches=2", "train.update_epochs=1", "num_seeds=1",
        "env.kwargs.max_steps=16", "log.interval=1", "log.eval_envs=2", "log.final_eval_envs=2",
        "log.progress=false", "checkpoint.every_updates=1", "checkpoint.snapshots=[]"]


def train_checkpoint_crossplay(method, extra, tmp_path, capsys):
    """Train ``configs/overcooked/cramped_room_<method>.yaml`` for 2 tiny updates through the CLI;
    check its outputs, its checkpointed policy and (for srpo) cross-play with partners."""
    out = tmp_path / "run"
    cfg = ROOT / "configs" / "overcooked" / f"cramped_room_{method}.yaml"
    assert main(["train", "--config", str(cfg), "--out", str(out)] + TINY + extra) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"] == ("overcooked_v2" if "env.name=overcooked_v2" in extra
                              else "overcooked")
    for row in summary["members"]:
        assert row["failed"] is None
        assert np.all(np.isfinite(row["return"]))
        for k in ("onions_in_pot", "plates_picked", "soups_picked", "deliveries"):
            assert len(row[k]) == 2
    assert (out / "learning_curve.png").stat().st_size > 0
    assert (out / "checkpoint" / "final").is_dir()
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [u for u in (1, 2) for _ in summary["members"]]
    agent = load_policy(out, member=0, seat=1)
    assert agent.num_actions == 6 and len(agent.obs_shape) == 3
    capsys.readouterr()
    # The hero pair's episode (max_steps 16: 17 frames) and a hero with a scripted partner.
    gif = tmp_path / "episode.gif"
    for partner in ([], ["--partner", "onion"]):
        assert main(["render", str(out), "--out", str(gif)] + partner) == 0
        with Image.open(gif) as im:
            assert im.n_frames == 16 + 1 and im.size[1] > 64
        assert "17 frames" in capsys.readouterr().out
    assert main(["render", str(out), "--out", str(gif), "--frames", "5"]) == 0  # the first 5
    with Image.open(gif) as im:
        assert im.n_frames == 5
    if method == "srpo":  # cross-play of the pool and the scripted Overcooked partners
        assert main(["crossplay", str(out), "--episodes", "2", "--bootstrap-reps", "10",
                     "--partners", "onion,dish:epsilon=0.1,stay,random"]) == 0
        result = json.loads((out / "crossplay.json").read_text())
        assert np.asarray(result["team_return"]).shape == (2, 2)
        assert np.asarray(result["partners"]["partner_in_seat1"]["team_return"]).shape == (2, 4)
