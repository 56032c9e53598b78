"""Pure loss functions and estimators (rlax style).

Each function works on one unbatched batch of samples or one trajectory, checks shapes at entry
and leaves batching to the caller (``jax.vmap``). Names carry the time index: ``r_t`` is the
reward received after acting at t, ``v_t`` the value of the state at t.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def masked_mean(x_t: chex.Array, w_t: chex.Array | None = None) -> chex.Array:
    """``mean(x_t)``, or with 0/1 weights ``w_t`` the mean over the rows that count
    (``sum(w x) / max(sum(w), 1)``: 0 when none does). ``[B]`` -> ``[]``."""
    if w_t is None:
        return jnp.mean(x_t)
    chex.assert_equal_shape([x_t, w_t])
    return jnp.sum(w_t * x_t) / jnp.maximum(jnp.sum(w_t), 1.0)


def clipped_surrogate(
    logp_t: chex.Array, old_logp_t: chex.Array, adv_t: chex.Array, clip_eps: float,
    w_t: chex.Array | None = None,
) -> chex.Array:
    """PPO's clipped surrogate objective (to be maximised), averaged over the batch.

    Args:
      logp_t: ``[B]`` log-probabilities of the taken actions under the current policy.
      old_logp_t: ``[B]`` the same under the behaviour policy.
      adv_t: ``[B]`` advantages.
      clip_eps: clipping range of the probability ratio.
      w_t: optional ``[B]`` 0/1 weights: the mean is over the rows with weight 1 (turn-based
        games: the rows where the seat acted).
    Returns:
      scalar ``mean(min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv))``.
    """
    chex.assert_rank([logp_t, old_logp_t, adv_t], 1)
    chex.assert_equal_shape([logp_t, old_logp_t, adv_t])
    ratio = jnp.exp(logp_t - old_logp_t)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return masked_mean(jnp.minimum(ratio * adv_t, clipped * adv_t), w_t)


def value_loss(
    v_t: chex.Array,
    target_t: chex.Array,
    old_v_t: chex.Array | None = None,
    clip_eps: float | None = None,
    w_t: chex.Array | None = None,
) -> chex.Array:
    """Mean squared error of the critic, optionally PPO-clipped around the behaviour values
    (over the rows with weight 1 when 0/1 weights ``w_t [B]`` are given).

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
        return masked_mean(sq, w_t)
    if old_v_t is None:
        raise ValueError("value_loss: old_v_t is required when clip_eps is given")
    chex.assert_equal_shape([v_t, old_v_t])
    v_clipped = old_v_t + jnp.clip(v_t - old_v_t, -clip_eps, clip_eps)
    return masked_mean(jnp.maximum(sq, jnp.square(v_clipped - target_t)), w_t)


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


def turn_based_gae(
    r_t: chex.Array,
    done_t: chex.Array,
    v_t: chex.Array,
    acting_t: chex.Array,
    v_T: chex.Array,
    gamma: float,
    lam: float,
) -> tuple[chex.Array, chex.Array]:
    """GAE over one seat's trajectory in a turn-based game, where the seat decides only at the
    steps with ``acting_t``.

    The seat's decisions form their own trajectory: from a decision at t to its next decision
    at t' the seat receives the discounted rewards of every step in between,
    ``R = sum_{k=t}^{t'-1} gamma^(k-t) r_k``, and bootstraps from ``gamma^(t'-t) v_t'``, so
    ``delta_t = R + gamma^(t'-t) v_t' - v_t`` and ``A_t = delta_t + lam gamma^(t'-t) A_t'``
    (cut where an episode ends). After the last decision of the trajectory it bootstraps from
    ``v_T``. With every step acting this is ``gae_advantages``. Steps where the seat does not act
    get advantage 0 and target ``v_t`` (their weight in the loss is 0).

    Args:
      r_t, done_t, v_t: ``[T]`` as in ``gae_advantages``.
      acting_t: ``[T]`` bool (or 0/1): the seat chose its action at t.
      v_T: ``[]`` bootstrap value of the state after the last step.
    Returns:
      ``(advantages [T], targets [T])``.
    """
    chex.assert_rank([r_t, done_t, v_t, acting_t, v_T], [1, 1, 1, 1, 0])
    chex.assert_equal_shape([r_t, done_t, v_t, acting_t])
    not_done = 1.0 - done_t.astype(v_t.dtype)
    acting = acting_t.astype(bool)

    def backward(carry, xs):
        # carry: value and advantage of the next decision, and the discounted reward sum and
        # discount from the step after this one up to it.
        v_next, a_next, ret, disc = carry
        r, nd, v, act = xs
        ret = r + gamma * nd * ret
        disc = gamma * nd * disc
        delta = ret + disc * v_next - v
        a = delta + lam * disc * a_next
        zero = jnp.zeros_like(ret)
        carry = jax.tree.map(lambda x, y: jnp.where(act, x, y),
                             (v, a, zero, jnp.ones_like(disc)), (v_next, a_next, ret, disc))
        return carry, jnp.where(act, a, 0.0)

    init = (v_T, jnp.zeros_like(v_T), jnp.zeros_like(v_T), jnp.ones_like(v_T))
    _, adv = jax.lax.scan(backward, init, (r_t, not_done, v_t, acting), reverse=True)
    return adv, adv + v_t


def normalize_by_learner(adv_s: chex.Array, learner_s: chex.Array,
                         w_s: chex.Array | None = None) -> chex.Array:
    """Standardise advantages over each learner's minibatch, which may span several streams.

    PPO normalises over the minibatch a learner's gradient is taken on; when that minibatch is
    made of several streams' rows (IPPO: both env groups of a seat; self-play: all four
    streams), the mean and standard deviation are pooled over all of them, as a single
    network's minibatch would be (JaxMARL's IPPO).

    Args:
      adv_s: ``[S, n]`` advantages, one row of ``n`` samples per stream.
      learner_s: ``[S]`` learner index of each stream (streams with equal index are pooled).
      w_s: optional ``[S, n]`` 0/1 weights: the statistics pool only the rows with weight 1
        (turn-based games: the acting rows).
    Returns:
      ``[S, n]`` ``(adv - mean) / (std + 1e-8)`` with the pooled (population) mean and std.
    """
    chex.assert_rank([adv_s, learner_s], [2, 1])
    chex.assert_equal_shape_prefix([adv_s, learner_s], 1)
    same = (learner_s[:, None] == learner_s[None, :]).astype(adv_s.dtype)  # [S, S]
    if w_s is None:
        count = same.sum(axis=1) * adv_s.shape[1]
        mean = same @ adv_s.sum(axis=1) / count
        dev = adv_s - mean[:, None]
        std = jnp.sqrt(same @ jnp.square(dev).sum(axis=1) / count)
        return dev / (std[:, None] + 1e-8)
    chex.assert_equal_shape([adv_s, w_s])
    count = jnp.maximum(same @ w_s.sum(axis=1), 1.0)
    mean = same @ (w_s * adv_s).sum(axis=1) / count
    dev = adv_s - mean[:, None]
    std = jnp.sqrt(same @ (w_s * jnp.square(dev)).sum(axis=1) / count)
    return dev / (std[:, None] + 1e-8)
