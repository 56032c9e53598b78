"""The Overcooked study's choice of private costs (experiments/overcooked_study.py), by hand."""
import shutil
from pathlib import Path

import pytest
from overcooked_study import choose_cost, free_riding_degree  # experiments/ is on pythonpath


def test_overcooked_study_chooses_the_most_free_riding_cost_that_keeps_delivering():
    def row(scale, deliveries, onions):
        return {"env.kwargs.move_cost": scale, "deliveries": deliveries,
                "onions_in_pot": onions, "plates_picked": [0.0, 0.0], "soups_picked": [0.0, 0.0]}

    assert free_riding_degree(row(0.0, [4.0, 0.0], [0.0, 0.0])) == 1.0
    assert free_riding_degree(row(0.0, [1.0, 1.0], [3.0, 3.0])) == 0.0
    assert free_riding_degree(row(0.0, [0.0, 0.0], [0.0, 0.0])) == 0.0  # nobody works
    rows = [row(0.0, [5.0, 5.0], [15.0, 15.0]),  # 200 sparse, even
            row(0.05, [4.0, 4.0], [20.0, 4.0]),  # 160, uneven (free-riding 0.5)
            row(0.1, [6.0, 0.0], [18.0, 0.0]),  # 120, one seat does everything
            row(0.2, [2.0, 0.0], [6.0, 0.0])]  # 40: below half of 200, excluded
    choice = choose_cost(rows)
    assert choice["scale"] == 0.1
    assert [t["sparse_return"] for t in choice["table"]] == [200.0, 160.0, 120.0, 40.0]
    assert choose_cost(rows[:1] + rows[3:])["scale"] is None
    with pytest.raises(ValueError, match="reference scale 0"):
        choose_cost(rows[1:])


ROOT = Path(__file__).resolve().parents[1]


def states(tmp_path, capsys, *extra):
    from overcooked_study import main
    main(["--list", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
          "--layouts", "cramped_room", *extra])
    return dict(reversed(line.split()) for line in capsys.readouterr().out.splitlines())


def test_overcooked_study_pieces_wait_for_what_they_need(tmp_path, capsys):
    s = states(tmp_path, capsys)
    assert s["select/cramped_room"] == "ready" and s["control/cramped_room/ippo"] == "ready"
    assert s["control/cramped_room/crossplay"] == "waiting"  # no method trained yet
    assert s["costs/cramped_room/srpo"] == "waiting"  # no cost scale chosen yet
    assert s["ablation/cramped_room"] == "waiting"
    out, runs = tmp_path / "out", tmp_path / "runs"

    def trained(method):
        (out / "control" / "cramped_room").mkdir(parents=True, exist_ok=True)
        (out / "control" / "cramped_room" / f"{method}_summary.json").write_text("{}")
        meta = runs / "control" / "cramped_room" / method / "checkpoint" / "final_meta.json"
        meta.parent.mkdir(parents=True)
        meta.write_text("{}")

    assert s["control/cramped_room/fcp"] == "waiting"  # its partners are the self-play run
    for m in ("ippo", "self_play"):
        trained(m)
    s = states(tmp_path, capsys)
    assert s["control/cramped_room/ippo"] == "done"
    assert s["control/cramped_room/crossplay"] == "waiting"  # srpo is missing
    # FCP's pool is the self-play run's snapshots and final policies: it waits for all of them
    sp = runs / "control" / "cramped_room" / "self_play"
    shutil.copy(ROOT / "configs" / "overcooked" / "cramped_room_self_play.yaml",
                sp / "config.yaml")
    assert states(tmp_path, capsys)["control/cramped_room/fcp"] == "waiting"
    from overcooked_study import fcp_overrides
    pool = fcp_overrides(sp)[-1]
    steps = [int(x.split("@")[1]) for x in pool.split("[")[1].rstrip("]}").split(", ")
             if "@" in x]
    assert steps == [250, 1225]  # 10% and 50% of 2441 updates, at period ends (25 updates)
    assert pool.endswith(f"{sp.resolve()}]}}")  # and every member's final policy
    for u in steps:
        (sp / "checkpoint" / "state" / str(u)).mkdir(parents=True)
    assert states(tmp_path, capsys)["control/cramped_room/fcp"] == "ready"
    trained("srpo")
    s = states(tmp_path, capsys, "--methods", "ippo")
    assert s["control/cramped_room/crossplay"] == "waiting"  # a layout's cross-play pools all
    # a self-play run finished without the snapshots: cross-play goes ahead without FCP
    state = sp / "checkpoint" / "state"
    state.rename(sp / "checkpoint" / "moved")
    s = states(tmp_path, capsys)
    assert s["control/cramped_room/crossplay"] == "ready"
    assert s["control/cramped_room/fcp"] == "waiting"
    (sp / "checkpoint" / "moved").rename(state)
    trained("fcp")
    s = states(tmp_path, capsys, "--methods", "ippo")
    assert s["control/cramped_room/crossplay"] == "ready"
    assert "control/cramped_room/self_play" not in s
    # The policies are gone (a new machine): the pieces that still need them train again,
    # and cross-play waits for them; once cross-play and the GIFs exist, nothing needs them.
    shutil.rmtree(runs / "control" / "cramped_room")
    s = states(tmp_path, capsys)
    assert s["control/cramped_room/ippo"] == "ready"
    assert s["control/cramped_room/crossplay"] == "waiting"
    xp = out / "control" / "cramped_room" / "crossplay" / "crossplay.json"
    xp.parent.mkdir()
    xp.write_text("{}")
    s = states(tmp_path, capsys)
    assert s["control/cramped_room/self_play"] == "done"  # not in a GIF
    assert s["control/cramped_room/ippo"] == "ready"  # its GIF is still to make
    gifs = out / "control" / "cramped_room" / "gifs"
    gifs.mkdir()
    for m in ("ippo", "srpo"):
        (gifs / f"{m}_with_onion.gif").write_text("")
    s = states(tmp_path, capsys)
    assert s["control/cramped_room/ippo"] == "done" and s["control/cramped_room/gifs"] == "done"
    (out / "select" / "cramped_room").mkdir(parents=True)
    (out / "select" / "cramped_room" / "choice.json").write_text('{"scale": null, "rounds": 1}')
    s = states(tmp_path, capsys)  # no scale qualified: the finer round is still to run
    assert s["select/cramped_room"] == "ready" and s["costs/cramped_room/ippo"] == "waiting"
    (out / "select" / "cramped_room" / "choice.json").write_text('{"scale": null, "rounds": 2}')
    s = states(tmp_path, capsys)  # no scale of either round qualified: no cost setting
    assert s["select/cramped_room"] == "done" and s["costs/cramped_room/ippo"] == "waiting"
    (out / "select" / "cramped_room" / "choice.json").write_text('{"scale": 0.05}')
    s = states(tmp_path, capsys)
    assert s["costs/cramped_room/ippo"] == "ready" and s["ablation/cramped_room"] == "ready"
