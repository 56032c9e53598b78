"""Actor-critic networks (rebuilt for evaluation from the ``rundir.NetworkSpec`` of a run)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}
ACTIVATIONS = tuple(_ACTIVATIONS)


class MLP(nn.Module):
    """Orthogonally initialised MLP torso (the PureJaxRL / JaxMARL initialisation)."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x, first_pre=None):
        """``x [..., D] -> [..., hidden_sizes[-1]]``. ``first_pre`` is the first layer's
        pre-activation when the caller has already computed it (``x`` is then unused)."""
        act = _ACTIVATIONS[self.activation]
        for i, h in enumerate(self.hidden_sizes):
            dense = nn.Dense(h, kernel_init=nn.initializers.orthogonal(np.sqrt(2)),
                             bias_init=nn.initializers.zeros, name=f"Dense_{i}")
            x = act(first_pre if i == 0 and first_pre is not None else dense(x))
        return x


class ConvTorso(nn.Module):
    """Convolutions over a ``[..., H, W, C]`` grid, flattened: 32 5x5 then two 32 3x3 filters
    with 'SAME' padding and ReLU (the JaxMARL Overcooked CNN), then a 64-unit dense layer."""

    @nn.compact
    def __call__(self, x):
        lead = x.shape[:-3]
        x = jnp.reshape(x, (-1,) + x.shape[-3:])
        for features, size in ((32, 5), (32, 3), (32, 3)):
            x = nn.Conv(features, (size, size), padding="SAME",
                        kernel_init=nn.initializers.orthogonal(np.sqrt(2)),
                        bias_init=nn.initializers.zeros)(x)
            x = nn.relu(x)
        x = jnp.reshape(x, (x.shape[0], -1))
        x = nn.relu(nn.Dense(64, kernel_init=nn.initializers.orthogonal(np.sqrt(2)),
                             bias_init=nn.initializers.zeros)(x))
        return jnp.reshape(x, lead + (64,))


KINDS = ("mlp", "mlp_shared", "cnn")


class ActorCritic(nn.Module):
    """Actor and critic on one observation.

    ``kind="mlp"``: separate actor and critic MLPs on the flattened observation (JaxMARL's FF
    IPPO with 2 x 64 tanh). ``kind="mlp_shared"``: one MLP torso feeding both heads (the SRPO
    authors' Tag and RWARE networks). ``kind="cnn"``: one shared ``ConvTorso`` on a grid
    observation ``[H, W, C]`` (``obs_ndim == 3``) feeding separate actor and critic MLPs.

    ``__call__``: obs ``[..., *obs_shape]`` -> (logits ``[..., num_actions]``, value ``[...]``).
    """

    num_actions: int
    obs_ndim: int = 1
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    kind: str = "mlp"

    def setup(self):
        if self.kind not in KINDS:
            raise ValueError(f"network.kind: got {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind == "cnn":
            if self.obs_ndim != 3:
                raise ValueError("network.kind: 'cnn' needs grid observations [H, W, C]; this "
                                 f"environment's observations have {self.obs_ndim} dimension(s)")
            self.conv = ConvTorso()
        if self.kind == "mlp_shared":
            self.torso = MLP(self.hidden_sizes, self.activation)
        else:
            self.actor_torso = MLP(self.hidden_sizes, self.activation)
            self.critic_torso = MLP(self.hidden_sizes, self.activation)
        self.actor_head = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                                   bias_init=nn.initializers.zeros)
        self.critic_head = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0),
                                    bias_init=nn.initializers.zeros)

    def _features(self, obs):
        obs = obs.astype(jnp.float32)
        if self.kind == "cnn":
            return self.conv(obs)
        lead = obs.shape[: obs.ndim - self.obs_ndim]
        return jnp.reshape(obs, lead + (-1,))

    def policy(self, obs):
        """Logits only (anchors and evaluation need no critic)."""
        torso = self.torso if self.kind == "mlp_shared" else self.actor_torso
        return self.actor_head(torso(self._features(obs)))

    def value(self, obs):
        """Value only: obs ``[..., *obs_shape]`` -> ``[...]`` (behaviour values, computed after a
        rollout in one batch)."""
        torso = self.torso if self.kind == "mlp_shared" else self.critic_torso
        return self.critic_head(torso(self._features(obs)))[..., 0]

    def _torsos(self, x):
        """Actor and critic torso outputs on features ``x``.

        Both torsos start with a dense layer on the same input, so once the params exist their
        first layers run as one matrix product with the kernels side by side: the same params
        and values (to float rounding). On asymm_advantages, where the first layers (1,170
        inputs) dominate the update, this measured 7-9% less time per SRPO update on CPU and
        about 2% for IPPO (interleaved timing, as ``experiments/bench_vs_jaxmarl.py`` does).
        """
        if self.kind == "mlp_shared":
            h = self.torso(x)
            return h, h
        if self.is_initializing():
            return self.actor_torso(x), self.critic_torso(x)
        params = self.variables["params"]
        a, c = params["actor_torso"]["Dense_0"], params["critic_torso"]["Dense_0"]
        kernel = jnp.concatenate([a["kernel"], c["kernel"]], axis=1)
        bias = jnp.concatenate([a["bias"], c["bias"]])
        pre = x @ kernel + bias
        h = a["kernel"].shape[1]
        return (self.actor_torso(None, first_pre=pre[..., :h]),
                self.critic_torso(None, first_pre=pre[..., h:]))

    def __call__(self, obs):
        actor, critic = self._torsos(self._features(obs))
        return self.actor_head(actor), self.critic_head(critic)[..., 0]
