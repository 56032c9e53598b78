"""SRPO and pure-adversarial train on Overcooked (v1 and v2) through the CLI; SRPO's pool is
cross-played with the scripted Overcooked partners."""
import pytest
from overcooked_smoke import train_checkpoint_crossplay


@pytest.mark.parametrize("method, extra", [("srpo", ["tau=[0.0,10.0]"]),
                                           ("pure_adversarial", ["env.name=overcooked_v2"])])
def test_method_trains_checkpoints_and_crossplays(method, extra, tmp_path, capsys):
    train_checkpoint_crossplay(method, extra, tmp_path, capsys)
