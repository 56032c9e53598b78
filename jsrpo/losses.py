"""Pure loss functions and estimators (rlax style).

Each function works on one unbatched batch of samples or one trajectory, checks shapes at entry
and leaves batching to the caller (``jax.vmap``). Names carry the time index: ``r_t`` is the
reward received after acting at t, ``v_t`` the value of the state at t.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def clipped_surrogate(
    logp_t: chex.Array, old_logp_t: chex.Array, adv_t: chex.Array, clip_eps: float
) -> chex.Array:
    """PPO's clipped surrogate objective (to be maximised), averaged over the batch.

    Args:
      logp_t: ``[B]`` log-probabilities of the taken actions under the current policy.
      old_logp_t: ``[B]`` the same under the behaviour policy.
      adv_t: ``[B]`` advantages.
      clip_eps: clipping range of the probability ratio.
    Returns:
      scalar ``mean(min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv))``.
    """
    chex.assert_rank([logp_t, old_logp_t, adv_t], 1)
    chex.assert_equal_shape([logp_t, old_logp_t, adv_t])
    ratio = jnp.exp(logp_t - old_logp_t)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return jnp.mean(jnp.minimum(ratio * adv_t, clipped * adv_t))


def value_loss(
    v_t: chex.Array,
    target_t: chex.Array,
    old_v_t: chex.Array | None = None,
    clip_eps: float | None = None,
) -> chex.Array:
    """Mean squared error of the critic, optionally PPO-clipped around the behaviour values.

    Args:
      v_t: ``[B]`` current value predictions.
      target_t: ``[B]`` value targets (GAE returns).
      old_v_t: ``[B]`` behaviour-time values; needed only when ``clip_eps`` is given.
      clip_eps: if given, use ``max((v - y)^2, (old_v + clip(v - old_v) - y)^2)``.
    Returns:
      scalar mean (no 1/2 factor: the coefficient lives in the caller's ``vf_coef``).
    """
    chex.assert_rank([v_t, target_t], 1)
    chex.assert_equal_shape([v_t, target_t])
    sq = jnp.square(v_t - target_t)
    if clip_eps is None:
        return jnp.mean(sq)
    if old_v_t is None:
        raise ValueError("value_loss: old_v_t is required when clip_eps is given")
    chex.assert_equal_shape([v_t, old_v_t])
    v_clipped = old_v_t + jnp.clip(v_t - old_v_t, -clip_eps, clip_eps)
    return jnp.mean(jnp.maximum(sq, jnp.square(v_clipped - target_t)))


def entropy(logits_t: chex.Array) -> chex.Array:
    """Entropy of categorical distributions, ``[B, A]`` logits -> ``[B]`` nats.

    Actions masked out with very negative logits contribute exactly 0.
    """
    chex.assert_rank(logits_t, 2)
    logp = jax.nn.log_softmax(logits_t)
    p = jnp.exp(logp)
    return -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)


def categorical_kl(p_logits_t: chex.Array, q_logits_t: chex.Array) -> chex.Array:
    """Exact KL(p || q) between categorical distributions given by logits, ``[B, A]`` -> ``[B]``."""
    chex.assert_rank([p_logits_t, q_logits_t], 2)
    chex.assert_equal_shape([p_logits_t, q_logits_t])
    logp = jax.nn.log_softmax(p_logits_t)
    logq = jax.nn.log_softmax(q_logits_t)
    p = jnp.exp(logp)
    return jnp.sum(jnp.where(p > 0, p * (logp - logq), 0.0), axis=-1)


def gae_advantages(
    r_t: chex.Array,
    done_t: chex.Array,
    v_t: chex.Array,
    v_T: chex.Array,
    gamma: float,
    lam: float,
) -> tuple[chex.Array, chex.Array]:
    """Generalised advantage estimation over one trajectory of T steps.

    ``done_t`` marks that the episode ended with the transition at t (the next value is not
    bootstrapped; episodes that end by time limit are treated as terminal, as the reference
    code does).

    Args:
      r_t: ``[T]`` rewards.
      done_t: ``[T]`` episode-end flags (bool or 0/1).
      v_t: ``[T]`` values of the states acted in.
      v_T: ``[]`` value of the state after the last step (bootstrap).
      gamma: discount.
      lam: GAE lambda.
    Returns:
      ``(advantages [T], targets [T])`` with ``targets = advantages + v_t``.
    """
    chex.assert_rank([r_t, done_t, v_t, v_T], [1, 1, 1, 0])
    chex.assert_equal_shape([r_t, done_t, v_t])
    not_done = 1.0 - done_t.astype(v_t.dtype)
    v_next = jnp.concatenate([v_t[1:], v_T[None]])

    def backward(gae, xs):
        r, nd, v, vn = xs
        delta = r + gamma * vn * nd - v
        gae = delta + gamma * lam * nd * gae
        return gae, gae

    _, adv = jax.lax.scan(
        backward, jnp.zeros_like(v_T), (r_t, not_done, v_t, v_next), reverse=True
    )
    return adv, adv + v_t


def normalize_by_learner(adv_s: chex.Array, learner_s: chex.Array) -> chex.Array:
    """Standardise advantages over each learner's minibatch, which may span several streams.

    PPO normalises over the minibatch a learner's gradient is taken on; when that minibatch is
    made of several streams' rows (IPPO: both env groups of a seat; self-play: all four
    streams), the mean and standard deviation are pooled over all of them, as a single
    network's minibatch would be (JaxMARL's IPPO).

    Args:
      adv_s: ``[S, n]`` advantages, one row of ``n`` samples per stream.
      learner_s: ``[S]`` learner index of each stream (streams with equal index are pooled).
    Returns:
      ``[S, n]`` ``(adv - mean) / (std + 1e-8)`` with the pooled (population) mean and std.
    """
    chex.assert_rank([adv_s, learner_s], [2, 1])
    chex.assert_equal_shape_prefix([adv_s, learner_s], 1)
    same = (learner_s[:, None] == learner_s[None, :]).astype(adv_s.dtype)  # [S, S]
    count = same.sum(axis=1) * adv_s.shape[1]
    mean = same @ adv_s.sum(axis=1) / count
    dev = adv_s - mean[:, None]
    std = jnp.sqrt(same @ jnp.square(dev).sum(axis=1) / count)
    return dev / (std[:, None] + 1e-8)
