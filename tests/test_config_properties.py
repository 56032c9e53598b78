"""Property-based tests of the config loader: any input either validates into a config that
round-trips through YAML, or is rejected with a ConfigError naming a field -- never anything
else."""
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jsrpo import config

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**7),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
train_keys = st.sampled_from(["total_env_steps", "num_envs", "num_steps", "update_epochs",
                              "num_minibatches", "lr", "gamma", "clip_eps", "anneal_lr",
                              "max_grad_norm", "lrr"])
top = st.fixed_dictionaries({}, optional={
    "method": st.sampled_from(["ippo", "self_play", "srpo", "pure_adversarial", "spro", 3]),
    "tau": values, "eps": values, "seed": values, "num_seeds": values,
    "env": st.fixed_dictionaries({}, optional={
        "name": st.sampled_from(["collab_defect", "coop_grid", "stag_hunt", "coop_gird"]),
        "kwargs": st.dictionaries(st.sampled_from(["cost", "respawn_prob", "x"]), values,
                                  max_size=2)}),
    "train": st.dictionaries(train_keys, values, max_size=4),
    "log": st.dictionaries(st.sampled_from(["interval", "progress", "eval_envs"]), values,
                           max_size=2),
    "checkpoint": st.dictionaries(st.sampled_from(["every_updates", "keep", "snapshots"]), values,
                                  max_size=2),
    "bogus": values,
})


@settings(max_examples=300, deadline=None)
@given(top)
def test_loader_validates_or_names_the_field(raw):
    try:
        cfg = config.from_dict(raw)
    except config.ConfigError as e:
        msg = str(e)
        assert ":" in msg and ("allowed" in msg or "unknown key" in msg), msg
        return
    again = config.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict(cfg))))
    assert again == cfg
    assert all(t >= 0 for t in cfg.taus) and all(e >= 0 for e in cfg.epss)
    lay = cfg.layout
    assert lay.num_updates >= 1 and lay.samples_per_stream % cfg.train.num_minibatches == 0
