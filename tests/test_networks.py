"""ActorCritic: the fused first layer, and the policy and value methods alone, compute what
the layers compute one by one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jsrpo.networks import ActorCritic


def _layer_by_layer(params, feats, activation):
    """Actor logits and critic value from the param tree, one dense layer at a time."""
    act = {"tanh": jnp.tanh, "relu": jax.nn.relu}[activation]

    def torso(p, x):
        for i in range(len(p)):
            x = act(x @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"])
        return x

    p = params["params"]
    logits = torso(p["actor_torso"], feats) @ p["actor_head"]["kernel"] + p["actor_head"]["bias"]
    value = torso(p["critic_torso"], feats) @ p["critic_head"]["kernel"] + p["critic_head"]["bias"]
    return logits, value[..., 0]


@pytest.mark.parametrize("kind,obs_shape,hidden,activation", [
    ("mlp", (5, 4, 26), (64, 64), "tanh"),
    ("mlp", (7,), (16, 8, 4), "relu"),
    ("cnn", (5, 4, 26), (32,), "tanh"),
])
def test_fused_first_layer_equals_layer_by_layer(kind, obs_shape, hidden, activation):
    net = ActorCritic(num_actions=6, obs_ndim=len(obs_shape), hidden_sizes=hidden,
                      activation=activation, kind=kind)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1,) + obs_shape))
    # Init keeps one Dense_i per hidden layer in each torso (checkpoint layout).
    for torso in ("actor_torso", "critic_torso"):
        assert sorted(params["params"][torso]) == [f"Dense_{i}" for i in range(len(hidden))]
    # Non-zero biases so that a bias applied to the wrong half would show.
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 0.1 * jnp.arange(x.size).reshape(x.shape) / x.size
        if path[-1].key == "bias" else x, params)
    obs = jax.random.uniform(jax.random.PRNGKey(1), (3, 11) + obs_shape)
    logits, value = jax.jit(net.apply)(params, obs)
    assert logits.shape == (3, 11, 6) and value.shape == (3, 11)
    feats = net.apply(params, obs, method=ActorCritic._features)
    ref_logits, ref_value = _layer_by_layer(params, feats, activation)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.apply(params, obs, method=ActorCritic.policy), ref_logits,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.apply(params, obs, method=ActorCritic.value), ref_value,
                               rtol=1e-5, atol=1e-6)


def test_shared_torso_feeds_both_heads():
    net = ActorCritic(num_actions=5, obs_ndim=1, hidden_sizes=(16, 8), activation="relu",
                      kind="mlp_shared")
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 14)))
    assert sorted(params["params"]) == ["actor_head", "critic_head", "torso"]
    p = params["params"]
    obs = jax.random.uniform(jax.random.PRNGKey(1), (4, 14))
    h = obs
    for i in range(2):
        h = jax.nn.relu(h @ p["torso"][f"Dense_{i}"]["kernel"] + p["torso"][f"Dense_{i}"]["bias"])
    ref_logits = h @ p["actor_head"]["kernel"] + p["actor_head"]["bias"]
    ref_value = (h @ p["critic_head"]["kernel"] + p["critic_head"]["bias"])[:, 0]
    logits, value = net.apply(params, obs)
    for got, want in [(logits, ref_logits), (value, ref_value),
                      (net.apply(params, obs, method=ActorCritic.policy), ref_logits),
                      (net.apply(params, obs, method=ActorCritic.value), ref_value)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
