"""SRPO and pure-adversarial train on Overcooked (v1 and v2) through the CLI; SRPO's pool is
cross-played with the scripted Overcooked partners."""
import pytest
from overcooked_smoke import train_checkpoint_crossplay


# srpo: the shipped IPPO warm-up shortened to the first of the 2 tiny updates (32 env steps),
# so the run switches from IPPO to SRPO
@pytest.mark.parametrize("method, extra", [("srpo", ["tau=[0.0,10.0]", "srpo.ippo_warmup=32"]),
                                           ("pure_adversarial", ["env.name=overcooked_v2"])])
def test_method_trains_checkpoints_and_crossplays(method, extra, tmp_path, capsys):
    train_checkpoint_crossplay(method, extra, tmp_path, capsys)
