"""Loss functions and GAE against hand-computed values, with and without jit."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jsrpo import losses

VARIANTS = [lambda f: f, jax.jit]
IDS = ["eager", "jit"]


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_clipped_surrogate(variant):
    # ratios 2.0 and 0.5; clip 0.2 -> min(2*1, 1.2*1) = 1.2 and min(0.5*-2, 0.8*-2) = -1.6
    logp = jnp.log(jnp.array([0.5, 0.2]))
    old = jnp.log(jnp.array([0.25, 0.4]))
    adv = jnp.array([1.0, -2.0])
    out = variant(lambda a, b, c: losses.clipped_surrogate(a, b, c, 0.2))(logp, old, adv)
    np.testing.assert_allclose(out, (1.2 - 1.6) / 2, rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_value_loss_plain_and_clipped(variant):
    f = variant(lambda v, y: losses.value_loss(v, y))
    np.testing.assert_allclose(f(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])), 2.5, rtol=1e-6)
    g = variant(lambda v, y, o: losses.value_loss(v, y, o, 0.2))
    # unclipped (1-2)^2 = 1; clipped value 0 + 0.2 -> (0.2 - 2)^2 = 3.24; the max is kept
    np.testing.assert_allclose(g(jnp.array([1.0]), jnp.array([2.0]), jnp.array([0.0])), 3.24,
                               rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_entropy(variant):
    logits = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
    expected = [math.log(2), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    np.testing.assert_allclose(variant(losses.entropy)(logits), expected, rtol=1e-6)
    # a masked-out action (very negative logit) contributes exactly nothing
    masked = jnp.array([[0.0, 0.0, -1e9]])
    np.testing.assert_allclose(variant(losses.entropy)(masked), [math.log(2)], rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_categorical_kl_both_directions(variant):
    p = jnp.log(jnp.array([[0.25, 0.75]]))
    q = jnp.log(jnp.array([[0.5, 0.5]]))
    kl = variant(losses.categorical_kl)
    # KL(p||q) = .25 ln(.5) + .75 ln(1.5);  KL(q||p) = .5 ln 2 + .5 ln(2/3)
    np.testing.assert_allclose(kl(p, q), [0.25 * math.log(0.5) + 0.75 * math.log(1.5)], rtol=1e-5)
    np.testing.assert_allclose(kl(q, p), [0.5 * math.log(2) + 0.5 * math.log(2 / 3)], rtol=1e-5)
    np.testing.assert_allclose(kl(p, p), [0.0], atol=1e-7)
    # logits are shift-invariant
    np.testing.assert_allclose(kl(p + 3.0, q - 1.0), kl(p, q), rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_gae_by_hand(variant):
    r = jnp.array([1.0, 0.0, 2.0])
    done = jnp.array([False, True, False])
    v = jnp.array([0.5, 1.0, 0.2])
    f = variant(lambda r, d, v, vT: losses.gae_advantages(r, d, v, vT, 0.9, 0.8))
    adv, target = f(r, done, v, jnp.array(3.0))
    # t=2: 2 + .9*3 - .2 = 4.5;  t=1 (episode ends): 0 - 1 = -1;  t=0: 1 + .9*1 - .5 + .72*(-1)
    np.testing.assert_allclose(adv, [0.68, -1.0, 4.5], rtol=1e-6)
    np.testing.assert_allclose(target, [1.18, 0.0, 4.7], rtol=1e-6)


def test_gae_lambda_one_is_discounted_return_minus_value():
    rng = np.random.default_rng(0)
    r = rng.normal(size=6).astype(np.float32)
    v = rng.normal(size=6).astype(np.float32)
    adv, _ = losses.gae_advantages(jnp.array(r), jnp.zeros(6), jnp.array(v), jnp.array(0.5),
                                   0.95, 1.0)
    ret = [sum(0.95 ** (k - t) * r[k] for k in range(t, 6)) + 0.95 ** (6 - t) * 0.5
           for t in range(6)]
    np.testing.assert_allclose(adv, np.array(ret) - v, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_normalize_by_learner_pools_streams_of_a_learner(variant):
    # Streams 0 and 2 belong to learner 0: rows [1, 3] and [5, 7] pool to mean 4, population
    # std sqrt((9 + 1 + 1 + 9) / 4) = sqrt(5). Stream 1 (learner 1) alone: [2, 2] has std 0,
    # so it becomes 0 (the 1e-8 guards the division). Stream 3 (learner 3) alone: [0, 4] ->
    # mean 2, std 2 -> [-1, 1].
    adv = jnp.array([[1.0, 3.0], [2.0, 2.0], [5.0, 7.0], [0.0, 4.0]])
    out = variant(losses.normalize_by_learner)(adv, jnp.array([0, 1, 0, 3]))
    r5 = math.sqrt(5.0)
    np.testing.assert_allclose(out, [[-3 / r5, -1 / r5], [0.0, 0.0], [1 / r5, 3 / r5],
                                     [-1.0, 1.0]], rtol=1e-6, atol=1e-6)


def test_shape_checks_reject_mismatch():
    with pytest.raises(AssertionError):
        losses.clipped_surrogate(jnp.zeros(3), jnp.zeros(2), jnp.zeros(3), 0.2)
    with pytest.raises(AssertionError):
        losses.categorical_kl(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(AssertionError):
        losses.normalize_by_learner(jnp.zeros((4, 2)), jnp.zeros(3, jnp.int32))


# ----------------------------------------------------------- turn-based games and legal actions
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_turn_based_gae_by_hand(variant):
    # The seat acts at t = 0 and t = 2 only; its decision at 0 sees the rewards of steps 0
    # and 1 and bootstraps from the value at its next decision, two steps later:
    #   t=2: delta = 2 + .9 * 3 - .2 = 4.5 = A_2
    #   t=0: R = 1 + .9 * 0.5 = 1.45;  delta = 1.45 + .81 * .2 - .5 = 1.112;
    #        A_0 = 1.112 + .8 * .81 * 4.5 = 4.028
    # Step 1 (not acting) gets advantage 0 and target v_1.
    r = jnp.array([1.0, 0.5, 2.0])
    done = jnp.array([False, False, False])
    v = jnp.array([0.5, 7.0, 0.2])
    acting = jnp.array([True, False, True])
    f = variant(lambda *a: losses.turn_based_gae(*a, 0.9, 0.8))
    adv, target = f(r, done, v, acting, jnp.array(3.0))
    np.testing.assert_allclose(adv, [4.028, 0.0, 4.5], rtol=1e-5)
    np.testing.assert_allclose(target, [4.528, 7.0, 4.7], rtol=1e-5)
    # An episode that ends at the non-acting step cuts the decision at 0 off from what follows:
    # A_0 = 1 + .9 * .5 - .5 = 0.95.
    adv, _ = f(r, jnp.array([False, True, False]), v, acting, jnp.array(3.0))
    np.testing.assert_allclose(adv, [0.95, 0.0, 4.5], rtol=1e-5)


def test_turn_based_gae_with_every_step_acting_is_gae():
    rng = np.random.default_rng(1)
    r, v = (jnp.asarray(rng.normal(size=7), jnp.float32) for _ in range(2))
    done = jnp.asarray([0, 0, 1, 0, 0, 0, 1], bool)
    want = losses.gae_advantages(r, done, v, jnp.array(0.3), 0.97, 0.9)
    got = losses.turn_based_gae(r, done, v, jnp.ones(7, bool), jnp.array(0.3), 0.97, 0.9)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_weighted_terms_leave_out_rows_that_do_not_count(variant):
    # Row 1 does not count (weight 0): every mean is the mean over rows 0 and 2 only, whatever
    # row 1 holds.
    w = jnp.array([1.0, 0.0, 1.0])
    logp = jnp.log(jnp.array([0.5, 0.9, 0.2]))
    old = jnp.log(jnp.array([0.25, 0.1, 0.4]))
    adv = jnp.array([1.0, 100.0, -2.0])
    pg = variant(lambda *a: losses.clipped_surrogate(*a, 0.2, w))(logp, old, adv)
    np.testing.assert_allclose(pg, (1.2 - 1.6) / 2, rtol=1e-6)
    vl = variant(lambda v, y: losses.value_loss(v, y, w_t=w))(jnp.array([1.0, 50.0, 2.0]),
                                                              jnp.array([0.0, 0.0, 4.0]))
    np.testing.assert_allclose(vl, 2.5, rtol=1e-6)
    np.testing.assert_allclose(losses.masked_mean(jnp.ones(3), jnp.zeros(3)), 0.0)
    # pooled normalisation over the rows that count only: [1, 3] -> [-1, 1]
    out = variant(losses.normalize_by_learner)(jnp.array([[1.0, 99.0, 3.0]]),
                                               jnp.array([0]), w[None])
    np.testing.assert_allclose(out[0, [0, 2]], [-1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_entropy_and_kl_over_legal_actions(variant):
    # Logits masked to the legal actions (the third is illegal): the entropy and the KL are
    # those of the distributions over the two legal actions.
    legal = jnp.array([[True, True, False]])
    mask = lambda x: jnp.where(legal, x, -1e9)
    p = mask(jnp.log(jnp.array([[0.25, 0.75, 0.9]])))
    q = mask(jnp.log(jnp.array([[0.5, 0.5, 0.1]])))
    np.testing.assert_allclose(variant(losses.entropy)(p),
                               [-(0.25 * math.log(0.25) + 0.75 * math.log(0.75))], rtol=1e-6)
    np.testing.assert_allclose(variant(losses.categorical_kl)(p, q),
                               [0.25 * math.log(0.5) + 0.75 * math.log(1.5)], rtol=1e-5)
    # one legal action: no choice, entropy and KL 0
    only = jnp.where(jnp.array([[True, False, False]]), 0.3, -1e9)
    np.testing.assert_allclose(variant(losses.entropy)(only), [0.0], atol=1e-7)
    np.testing.assert_allclose(variant(losses.categorical_kl)(only, only * 2), [0.0], atol=1e-7)
