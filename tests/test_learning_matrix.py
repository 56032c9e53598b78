"""Learning test: SRPO with the shipped collab_defect config reaches the exact RQE, with the KL
in the loss and in the reward (slow)."""
import numpy as np
import pytest
from learning_run import CONFIGS, train

# Exact RQE of collaborate/defect (cost 0.4, eps 0.2) from the solver (docs/solvers.md): P(C),
# unique for tau >= 1.
RQE_P_COLLAB = {1.0: 0.6082, 10.0: 0.7942}


@pytest.mark.slow
@pytest.mark.parametrize("kl_penalty, seeds", [("loss", 2), ("reward", 1)])
def test_srpo_collab_defect_reaches_rqe(kl_penalty, seeds, optimised_env, tmp_path):
    # The KL as a loss term or as a per-step cost in the adversary's reward: the same RQE.
    members = train(optimised_env, tmp_path / "run", "--config",
                    str(CONFIGS / "collab_defect_srpo.yaml"), "tau=[1.0, 10.0]",
                    f"num_seeds={seeds}", "checkpoint.every_updates=0", "checkpoint.snapshots=[]",
                    f"srpo.kl_penalty={kl_penalty}")
    assert len(members) == 2 * seeds
    for m in members:
        p_collab = np.asarray(m["action_probs"])[:, 0]  # [seat], P(C) of each hero
        np.testing.assert_allclose(p_collab, RQE_P_COLLAB[m["tau"]], atol=0.03,
                                   err_msg=f"tau={m['tau']} seed={m['seed']}")
