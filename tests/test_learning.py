"""Learning tests: the sampled learners reach the exact answers (slow: they train)."""
from pathlib import Path

import numpy as np
import pytest

from jsrpo import config
from jsrpo.sweep import run_sweep
from jsrpo.train import make_train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# Exact RQE of collaborate/defect (cost 0.4, eps 0.2), docs/games.md: P(C), unique for tau >= 1.
RQE_P_COLLAB = {1.0: 0.6082, 10.0: 0.7942}


@pytest.mark.slow
def test_srpo_collab_defect_reaches_rqe():
    cfg = config.load(CONFIGS / "collab_defect_srpo.yaml",
                      ["tau=[1.0, 10.0]", "num_seeds=2", "log.progress=false"])
    res = run_sweep(make_train(cfg))
    for i, m in enumerate(res.members):
        p_collab = res.final["action_probs"][i, :, 0]  # [seat], P(C) of each hero
        np.testing.assert_allclose(p_collab, RQE_P_COLLAB[m.tau], atol=0.03,
                                   err_msg=f"tau={m.tau} seed={m.seed}")


@pytest.mark.slow
def test_ippo_coop_grid_improves():
    cfg = config.load(CONFIGS / "coop_grid_ippo.yaml", [
        "num_seeds=2", "train.total_env_steps=120000", "log.interval=10",
        "log.final_eval_envs=128", "log.progress=false"])
    res = run_sweep(make_train(cfg))
    team = res.evals["team_return"]  # [periods, members]
    first, last = team[0], res.final["team_return"]
    # Random play loses move costs (about -5); a team that has learned to deliver scores > 30.
    assert np.all(last > 30.0), last
    assert np.all(last > first + 25.0), (first, last)
    assert np.all(res.final["deliveries"].sum(-1) > 3.0)
