"""Learning tests: the sampled learners reach the exact answers (slow: they train)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# Exact RQE of collaborate/defect (cost 0.4, eps 0.2), docs/games.md: P(C), unique for tau >= 1.
RQE_P_COLLAB = {1.0: 0.6082, 10.0: 0.7942}


def train(env, out, *args):
    """``jsrpo train`` in a child process compiled as real runs are (``optimised_env``)."""
    proc = subprocess.run([sys.executable, "-m", "jsrpo.cli", "train", "--out", str(out), *args,
                           "log.progress=false"], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())["members"]


@pytest.mark.slow
def test_srpo_collab_defect_reaches_rqe(optimised_env, tmp_path):
    members = train(optimised_env, tmp_path / "run", "--config",
                    str(CONFIGS / "collab_defect_srpo.yaml"), "tau=[1.0, 10.0]", "num_seeds=2",
                    "checkpoint.every_updates=0", "checkpoint.snapshots=[]")
    assert len(members) == 4
    for m in members:
        p_collab = np.asarray(m["action_probs"])[:, 0]  # [seat], P(C) of each hero
        np.testing.assert_allclose(p_collab, RQE_P_COLLAB[m["tau"]], atol=0.03,
                                   err_msg=f"tau={m['tau']} seed={m['seed']}")


@pytest.fixture(scope="module")
def grid_pair(tmp_path_factory, optimised_env):
    """IPPO (SRPO's tau = 0, bit-identical to IPPO) and SRPO tau = 10 on coop_grid, 2 seeds
    each, one compiled program, 4e5 env steps per member (a fifth of the paper's budget)."""
    out = tmp_path_factory.mktemp("grid") / "run"
    train(optimised_env, out, "--config", str(CONFIGS / "coop_grid_srpo.yaml"),
          "tau=[0.0, 10.0]", "num_seeds=2", "train.total_env_steps=400000",
          "checkpoint.every_updates=0", "checkpoint.snapshots=[]", "log.final_eval_envs=128")
    return out


@pytest.mark.slow
def test_ippo_coop_grid_improves(grid_pair):
    rows = [json.loads(line) for line in (grid_pair / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((grid_pair / "summary.json").read_text())["members"]
    for m in (r for r in summary if r["tau"] == 0.0):
        first = next(r["team_return"] for r in rows if r["member"] == m["member"])
        # Random play only pays move costs (about -5); a team that delivers scores > 30.
        assert m["team_return"] > 30.0 and m["team_return"] > first + 25.0, (first, m)
        assert sum(m["deliveries"]) > 3.0


@pytest.mark.slow
def test_srpo_beats_ippo_with_held_out_partners(grid_pair):
    """Paired with a partner that fetches onions but never delivers, each agent must deliver
    itself. IPPO's free-riding seat cannot; SRPO's heroes both can. Scored on each member's
    worse seat (partner in the other seat), over held-out scripted partners."""
    from jsrpo.crossplay import crossplay

    partners = ["fetcher", "single_source:source=0", "single_source:source=1", "delivering"]
    r = crossplay([grid_pair], partners=partners, episodes=128, bootstrap_reps=100)
    in_seat1 = np.asarray(r["partners"]["partner_in_seat1"]["team_return"])  # [P, K]
    in_seat0 = np.asarray(r["partners"]["partner_in_seat0"]["team_return"]).T  # [P, K]
    worse_seat = np.minimum(in_seat1, in_seat0)  # [P, K]: the member's weaker hero
    taus = np.array([m["tau"] for m in r["members"]])
    ippo, srpo = worse_seat[taus == 0.0], worse_seat[taus == 10.0]
    assert ippo.shape[0] == srpo.shape[0] == 2
    fetcher = partners.index("fetcher")
    assert srpo[:, fetcher].min() > ippo[:, fetcher].max() + 5.0, (srpo, ippo)
    assert srpo.mean(1).min() > ippo.mean(1).max(), (srpo.mean(1), ippo.mean(1))
