"""Actor-critic networks, rebuildable from a plain ``NetworkConfig`` saved next to checkpoints."""
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
    def __call__(self, x):
        act = _ACTIVATIONS[self.activation]
        for h in self.hidden_sizes:
            x = nn.Dense(h, kernel_init=nn.initializers.orthogonal(np.sqrt(2)),
                         bias_init=nn.initializers.zeros)(x)
            x = act(x)
        return x


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs on a flattened observation.

    ``__call__``: obs ``[..., *obs_shape]`` -> (logits ``[..., num_actions]``, value ``[...]``).
    """

    num_actions: int
    obs_ndim: int = 1
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    def setup(self):
        self.actor_torso = MLP(self.hidden_sizes, self.activation)
        self.actor_head = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                                   bias_init=nn.initializers.zeros)
        self.critic_torso = MLP(self.hidden_sizes, self.activation)
        self.critic_head = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0),
                                    bias_init=nn.initializers.zeros)

    def _flat(self, obs):
        lead = obs.shape[: obs.ndim - self.obs_ndim]
        return jnp.reshape(obs, lead + (-1,)).astype(jnp.float32)

    def policy(self, obs):
        """Logits only (anchors and evaluation need no critic)."""
        return self.actor_head(self.actor_torso(self._flat(obs)))

    def __call__(self, obs):
        x = self._flat(obs)
        logits = self.actor_head(self.actor_torso(x))
        value = self.critic_head(self.critic_torso(x))[..., 0]
        return logits, value
