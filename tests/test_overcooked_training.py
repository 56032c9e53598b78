"""IPPO (CNN) and self-play train on JaxMARL Overcooked through the same CLI, outputs,
checkpoints as on coop_grid; every shipped Overcooked config is valid."""
from pathlib import Path

import pytest
from overcooked_smoke import train_checkpoint_crossplay

from jsrpo import config

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs", "overcooked").glob("*.yaml"))


def test_every_layout_and_method_has_a_valid_config():
    layouts = ["cramped_room", "asymm_advantages", "coord_ring", "forced_coord", "counter_circuit"]
    methods = ["ippo", "self_play", "srpo", "pure_adversarial"]
    # the layout x method grid, plus the short-time-to-a-good-policy config of cramped_room and
    # its population methods
    assert {c.stem for c in CONFIGS} == {f"{l}_{m}" for l in layouts for m in methods} | {
        "cramped_room_fast", "cramped_room_fcp", "cramped_room_psro"}
    for path in CONFIGS:
        cfg = config.load(path)
        assert cfg.env.name == "overcooked" and cfg.env.kwargs["layout"] in path.stem
        assert (cfg.train.num_envs, cfg.train.num_steps, cfg.train.update_epochs,
                cfg.train.num_minibatches) == (16, 128, 4, 4)
        assert cfg.train.anneal_lr
        # shaping fades over the first half of each training (a PSRO best response's own)
        assert cfg.train.reward_shaping_horizon == cfg.train.total_env_steps / 2 or (
            path.stem == "cramped_room_fast")
    psro = config.load(CONFIGS[[c.stem for c in CONFIGS].index("cramped_room_psro")])
    assert psro.psro.iterations * 2 * psro.train.total_env_steps == 5e6  # the others' budget
    # SRPO: one setting for every layout (no per-layout tuning): tau 1 after an IPPO warm-up
    srpo = {(config.load(p).tau, config.load(p).srpo) for p in CONFIGS if p.stem.endswith("_srpo")}
    assert len(srpo) == 1 and next(iter(srpo))[0] == 1.0
    assert next(iter(srpo))[1].ippo_warmup == 2.5e6


@pytest.mark.parametrize("method, extra", [("ippo", ["network.kind=cnn"]), ("self_play", [])])
def test_method_trains_and_checkpoints(method, extra, tmp_path, capsys):
    train_checkpoint_crossplay(method, extra, tmp_path, capsys)
