"""``make_train``: IPPO, self-play, SRPO and pure-adversarial as one compiled program.

Every method is the same machinery. A rollout runs E envs with P seats split into G groups
(G = 2 when E is even); each (group, seat) pair is a *stream* of ``E/G`` envs played by one
*learner*. With two seats:

    learners: 0 = hero_0, 1 = hero_1, 2 = adv_0, 3 = adv_1    (self-play: 0 only)
    streams:  k = 2 * group + seat
    ippo:       (A,0)->hero_0  (A,1)->hero_1  (B,0)->hero_0  (B,1)->hero_1
    srpo:       (A,0)->hero_0  (A,1)->adv_0   (B,0)->adv_1   (B,1)->hero_1

so SRPO's equal-budget split is just a different stream table, and SRPO at tau = 0 (a traced
value) selects the IPPO table: the very same computation as IPPO. With P seats IPPO has a
learner per seat and self-play one; SRPO's "shared" scheme (``srpo.scheme``) has a hero (0) and
an adversary (1), and its streams are *roles* rather than seats: in every rollout each env
draws the seat its adversary takes, role 0 is that seat and roles 1..P-1 the seats after it,
so the table ``(g, 0)->adv, (g, r>0)->hero`` puts the adversary in a random seat of every env.

When the table is fixed (every method but an SRPO sweep that includes tau = 0), the update and the
rollout evaluate each learner's streams in one batch (IPPO: two networks on 512 samples instead of
four gathered copies on 256; self-play: one network on all), the same values with larger matrix
products and each network's weights read once per step. With MLP networks the rollout steps run only
the actors; the behaviour values come after the rollout in one batch. A learner's loss is the mean
of its streams' losses; an adversary's stream learns from the negated reward
of the hero it plays against and pays ``(1/tau) KL`` to its anchor, the real partner's policy
recorded at rollout time (frozen during the update, as the spec's stop-gradient requires).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, cast

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

import envs as envs_pkg
from jsrpo import losses
from jsrpo.agents import network_agent
from jsrpo.config import ENV_PREFIX, Config, ConfigError
from jsrpo.episodes import play_seats
from jsrpo.frozen import build_env
from jsrpo.networks import ActorCritic
from jsrpo.vec_env import MASKED_LOGIT, VecEnv, VecState

HERO_0, HERO_1, ADV_0, ADV_1 = 0, 1, 2, 3
#: learners of SRPO's shared scheme (any number of seats)
HERO, ADV = 0, 1
#: what turned non-finite first in a failed member (checked in this order within an update).
FAILURES = ("none", "rollout return", "loss", "parameters")


@struct.dataclass
class Hyper:
    """Every sweepable hyper-parameter (``config.SWEEPABLE``, and in ``env`` the env's traced
    arguments, ``Config.sweepable``), traced: one compiled program serves every member whatever
    values it sweeps. Leaves ``[]`` per member (``[M]`` for a sweep)."""

    tau: chex.Array  # risk aversion; 0 means IPPO
    eps: chex.Array  # heroes' entropy coefficient (bounded rationality)
    lr: chex.Array
    lr_end: chex.Array  # the annealed learning rate's end value (with train.anneal_lr)
    clip_eps: chex.Array
    vf_coef: chex.Array
    gamma: chex.Array
    gae_lambda: chex.Array
    max_grad_norm: chex.Array  # unused when train.max_grad_norm is null (no clipping)
    adam_eps: chex.Array
    reward_shaping_horizon: chex.Array  # env steps; 0: the shaped reward is never added
    adv_entropy_coef: chex.Array
    adv_warmup: chex.Array  # env steps over which the adversaries' strength ramps 0 -> 1
    adv_shaped_reward: chex.Array  # weight of the hero's shaped reward in the adversary's
    ippo_warmup: chex.Array  # env steps of IPPO before SRPO starts (adversaries from anchors)
    # The env's traced constructor arguments (``env.kwargs.<name>`` keys, ``sweep.env_keys``):
    # name -> value, set in each member's env params (``ParamEnv.params_with``).
    env: dict = struct.field(default_factory=dict)
    # A frozen seat's pool as program input (``frozen.member_pools``): {"pool", "logits"} with
    # leading axis M, set in each member's env params; None: the env's own pool (constants).
    frozen: Any = None

    @classmethod
    def of(cls, members, env_keys=(), frozen=None) -> "Hyper":
        """``[M]`` leaves from ``sweep.Member``s (their ``values``), float32; ``env_keys``: the
        ``env.kwargs.*`` keys to set in the env params (``sweep.env_keys``; none: the env's own
        params, unchanged); ``frozen``: the members' frozen-seat pools (``frozen.member_pools``),
        or None."""
        cols: dict = {}
        env: dict = {}
        for m in members:
            for key, v in m.values:
                if key.startswith(ENV_PREFIX):
                    if key in env_keys:
                        env.setdefault(key[len(ENV_PREFIX):], []).append(v)
                    continue
                cols.setdefault(key.split(".")[-1], []).append(np.inf if v is None else v)
        return cls(**{k: jnp.asarray(v, jnp.float32) for k, v in cols.items()},
                   env={k: jnp.asarray(v, jnp.float32) for k, v in env.items()}, frozen=frozen)


@struct.dataclass
class LearnerState:
    params: Any  # learner-stacked network params, leading axis L
    opt_state: Any  # learner-stacked optimiser state
    vec_state: VecState  # E envs
    obs: chex.Array  # [E, P, *obs_shape]
    key: chex.PRNGKey  # training randomness
    eval_key: chex.PRNGKey  # evaluation randomness (kept apart so eval never changes training)
    update: chex.Array  # [] int32, updates done
    # Health: the update whose rollout returns, losses or parameters were first non-finite
    # (-1 while healthy) and which (``FAILURES``); a failed learner keeps its last good params.
    failed_at: chex.Array  # [] int32
    failure: chex.Array  # [] int32 index into FAILURES (0 = none)


@struct.dataclass
class Batch:
    """Stream-major training data, leading axes ``[S, ...]``."""

    obs: chex.Array  # [S, N, *obs_shape]
    action: chex.Array  # [S, N]
    logp: chex.Array  # [S, N] behaviour log-probability
    value: chex.Array  # [S, N] behaviour value
    adv: chex.Array  # [S, N]
    target: chex.Array  # [S, N]
    anchor_logits: chex.Array  # [S, N, A] (uniform placeholder on hero streams)
    # [S, N, A] bool legal actions and [S, N] float 1/0 acting rows (turn-based envs), or None
    legal: Any = None
    acting: Any = None


@dataclass(frozen=True)
class Trainer:
    """The pure pieces of a run and the compiled sweep built from them."""

    config: Config
    venv: VecEnv
    network: ActorCritic
    num_learners: int
    init: Callable  # (key, hyper) -> LearnerState
    update: Callable  # (state, hyper) -> (state, metrics)
    evaluate: Callable  # (state, hyper, num_envs) -> (state, eval metrics)
    # (state, hyper) -> (state, traj, last_value): one rollout as ``update`` runs it (traj
    # leaves ``[S, T, E/G, ...]``, stream-major), for diagnostics and tests
    rollout: Callable
    hero_seats: tuple  # learner index of the deployed policy in each seat
    # Stream order of the update, learner-major (None: per-stream computation, as for SRPO
    # sweeps that include tau = 0).
    stream_order: tuple | None = None
    # The stream table was fixed assuming every member has tau > 0 (SRPO without tau = 0).
    needs_positive_tau: bool = False


def adversary_strength(env_steps_done: chex.Array, warmup: chex.Array) -> chex.Array:
    """The adversaries' strength ``w`` (``srpo.adv_warmup``): 0 -> 1 linearly over ``warmup``
    env steps, counted at the start of an update; 1 from the start when ``warmup`` is 0. The
    adversary's policy gradient is weighted by ``w``, so its objective is SRPO's at
    ``tau_eff = w * tau``. Shapes broadcast; ``[]`` per member."""
    safe = jnp.where(warmup > 0, warmup, 1.0)
    return jnp.where(warmup > 0, jnp.clip(env_steps_done / safe, 0.0, 1.0), 1.0)


def kl_reward(reward: chex.Array, strength: chex.Array, inv_tau: chex.Array, logp: chex.Array,
              anchor_logits: chex.Array, action: chex.Array) -> chex.Array:
    """An adversary's reward with its KL paid per step (``srpo.kl_penalty: reward``):
    ``strength * reward - inv_tau * (logp - log anchor(action))``, where ``reward`` is already
    the negated hero reward and ``logp`` the log-probability of ``action`` under the adversary's
    behaviour policy; the log-ratio's expectation over the adversary's actions is
    ``KL(adversary || anchor)``. ``anchor_logits`` ``[..., A]``; the others ``[...]`` (or
    broadcastable)."""
    anchor_logp = jnp.take_along_axis(jax.nn.log_softmax(anchor_logits), action[..., None],
                                      -1)[..., 0]
    return strength * reward - inv_tau * (logp - anchor_logp)


def pool_weights(entry: chex.Array, done: chex.Array, ep_ret: chex.Array, logits: chex.Array,
                 risk: float, measure: str = "mean_variance") -> chex.Array:
    """Per-policy reward weights of a risk-averse objective over a frozen pool: ``[K]``.

    The pool is drawn with probabilities ``p = softmax(logits)`` ``[K]``; ``R_j`` is the
    learner's mean return against policy j. Each measure's gradient is ``sum_j p_j w_j grad R_j``,
    the ordinary policy gradient with the rewards of episodes against j weighted by ``w_j``:

    - ``mean_variance``: ``mean_j R_j - risk * var_j R_j``; ``w_j = 1 - 2 risk (R_j - Rbar)``;
    - ``entropic``: ``-(1/risk) log sum_j p_j exp(-risk R_j)``, the value an adversary leaves
      that re-draws the pool by ``q_j ∝ p_j exp(-risk R_j)`` at a ``(1/risk) KL(q || p)`` cost
      (SRPO's adversary over the pool); ``w_j = q_j / p_j``.

    ``R_j`` is estimated from the episodes against j that ended in this rollout (``entry``,
    ``done``, ``ep_ret``: ``[S, T, n]``); a policy without one keeps weight 1 and stays out of
    the others' weights."""
    K = logits.shape[0]
    hot = jax.nn.one_hot(entry, K) * done[..., None]  # [S, T, n, K]
    count = hot.sum(axis=(0, 1, 2))
    seen = count > 0
    ret = (hot * ep_ret[..., None]).sum(axis=(0, 1, 2)) / jnp.maximum(count, 1.0)
    p = jnp.where(seen, jax.nn.softmax(logits), 0.0)
    total = jnp.maximum(jnp.sum(p), 1e-12)  # the seen policies' probabilities, renormalised
    if measure == "entropic":
        # exp(-risk (R_j - min R)) keeps the exponent <= 0 whatever the return's scale
        low = jnp.min(jnp.where(seen, ret, jnp.inf))
        tilt = jnp.where(seen, jnp.exp(-risk * (ret - low)), 0.0)
        return jnp.where(seen, tilt * total / jnp.maximum(jnp.sum(p * tilt), 1e-30), 1.0)
    mean = jnp.sum(p * ret) / total
    return jnp.where(seen, 1.0 - 2.0 * risk * (ret - mean), 1.0)


def num_learners(method: str, num_seats: int = 2, scheme: str = "pair") -> int:
    if method in ("srpo", "pure_adversarial"):
        return 4 if scheme == "pair" else 2
    return {"self_play": 1, "ippo": num_seats}[method]


def first_adversary(method: str, scheme: str = "pair", num_seats: int = 2) -> int:
    """Learners from this index on are adversaries (none for IPPO and self-play)."""
    if method in ("srpo", "pure_adversarial"):
        return ADV_0 if scheme == "pair" else ADV
    return num_learners(method, num_seats)


def stream_table(method: str, tau: chex.Array, num_groups: int, num_seats: int = 2,
                 scheme: str = "pair") -> chex.Array:
    """Learner index of each stream, ``[num_seats * num_groups]`` int32 (traced when tau is).
    With scheme "shared" the streams are roles (role 0: the adversary's seat)."""
    ippo = jnp.array(list(range(num_seats)) * num_groups, jnp.int32)
    if method == "self_play":
        return jnp.zeros_like(ippo)
    if method == "ippo":
        return ippo
    if scheme == "shared":  # at tau = 0 the shared hero plays every seat: self-play
        adv = jnp.array(([ADV] + [HERO] * (num_seats - 1)) * num_groups, jnp.int32)
        return adv if method == "pure_adversarial" else jnp.where(tau > 0, adv,
                                                                   jnp.zeros_like(adv))
    srpo = jnp.array([HERO_0, ADV_0, ADV_1, HERO_1], jnp.int32)
    if method == "pure_adversarial":
        return srpo
    return jnp.where(tau > 0, srpo, ippo)


def seat_rotation(shift: chex.Array, num_seats: int) -> tuple[chex.Array, chex.Array]:
    """Roles of SRPO's shared scheme: ``shift [E]`` (the adversary's seat in each env) ->
    ``(seat_of_role, role_of_seat)``, each ``[E, P]`` int32: role r plays seat
    ``(shift + r) % P``."""
    r = jnp.arange(num_seats, dtype=jnp.int32)
    shift = shift.astype(jnp.int32)[:, None]
    return (shift + r) % num_seats, (r - shift) % num_seats


def rotate(x: chex.Array, index: chex.Array) -> chex.Array:
    """``x [E, P, ...]`` with its seat axis gathered by ``index [E, P]``: ``out[e, j] =
    x[e, index[e, j]]``."""
    idx = index.reshape(index.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, idx, axis=1)


def minibatch_indices(keys: chex.PRNGKey, num_samples: int, num_minibatches: int) -> chex.Array:
    """One epoch's minibatches as row indices: ``keys [S]`` (one per stream) ->
    ``[num_minibatches, S, num_samples / num_minibatches]`` int32. Each stream's minibatches
    partition ``range(num_samples)``: minibatch m of stream s is ``perm_s[m * n:(m + 1) * n]``
    for a random permutation ``perm_s``."""
    perms = jax.vmap(lambda k: jax.random.permutation(k, num_samples))(keys)
    n = num_samples // num_minibatches
    return jnp.swapaxes(perms.reshape((keys.shape[0], num_minibatches, n)), 0, 1)


def _gather(tree, idx):
    return jax.tree.map(lambda x: x[idx], tree)


def check_env_values(cfg: Config) -> None:
    """The smallest and largest value a sweep gives each env argument pass the env factory's
    own check (a range check for every traced argument), so a bad one is refused by name
    before anything compiles."""
    for key in cfg.swept():
        if key.startswith(ENV_PREFIX):  # every env check is a range: its ends suffice
            for v in cfg.value_range(key):
                envs_pkg.make(cfg.env.name, **{**cfg.env.base_kwargs, key[len(ENV_PREFIX):]: v})


def make_train(config: Config, env=None, group_streams: bool = True) -> Trainer:
    """Build the pure init/update/evaluate functions of one sweep member.

    Args:
      config: validated run config.
      env: a ``ParamEnv`` (built from ``config.env`` when None).
      group_streams: with a fixed stream table, run each learner's streams through its network
        as one batch (faster; equal to the per-stream computation up to float rounding).
        False keeps the per-stream computation that SRPO sweeps including tau = 0 use (tests
        compare the two).
    """
    cfg, t = config, config.train
    lay = cfg.layout
    if cfg.method == "fcp" and cfg.env.frozen is None:
        raise ConfigError("env.frozen: method 'fcp' trains against a pool: give env.frozen "
                          "(seat: each) or let `jsrpo train` build it (jsrpo.fcp stages)")
    if cfg.method == "psro":
        raise ConfigError("method: 'psro' is a loop of runs (jsrpo.psro), not one program; "
                          "train it with `jsrpo train`")
    if env is None:
        check_env_values(cfg)
        env = build_env(cfg.env.name, cfg.env.base_kwargs, cfg.env.frozen)
    # FCP's agent is self-play's shared network with one learning seat: its partner is the
    # pool in the env (``env.frozen`` with ``seat: each``).
    method = "self_play" if cfg.method == "fcp" else cfg.method
    adversarial = method in ("srpo", "pure_adversarial")
    scheme = cfg.srpo.scheme if adversarial else "pair"
    shared = scheme == "shared"  # SRPO's shared hero and adversary (any number of seats)
    # A network that plays several seats (self-play, the shared scheme) tells them apart by a
    # one-hot seat id on flat observations; grid observations (Overcooked) and envs that say
    # their observations are ego-centric (``egocentric_obs``) need none.
    obs_ndim = len(jax.eval_shape(env.reset, jax.random.PRNGKey(0))[0][env.agents[0]].shape)
    seat_id = ((method == "self_play" or shared) and obs_ndim == 1 and env.num_agents > 1
               and not getattr(env, "egocentric_obs", False))
    venv = VecEnv(env, seat_id=seat_id)
    if shared and venv.action_mask is not None:
        raise ConfigError(f"srpo.scheme: 'shared' needs seats with equal action counts; "
                          f"{cfg.env.name} has {[int(m.sum()) for m in venv.action_mask]} "
                          "(use 'pair')")
    if cfg.network.kind == "cnn" and len(venv.obs_shape) != 3:
        raise ConfigError(f"network.kind: 'cnn' needs grid observations [H, W, C]; "
                          f"{cfg.env.name} observations have shape {venv.obs_shape} (use 'mlp')")
    net = ActorCritic(num_actions=venv.num_actions, obs_ndim=len(venv.obs_shape),
                      hidden_sizes=tuple(cfg.network.hidden_sizes),
                      activation=cfg.network.activation, kind=cfg.network.kind)
    P = venv.num_seats
    if P != lay.num_seats:
        raise ConfigError(f"env.name: {cfg.env.name} has {P} seats; the config's layout has "
                          f"{lay.num_seats}")
    L = num_learners(method, P, scheme)
    first_adv = first_adversary(method, scheme, P)
    G, Eg, T = lay.num_groups, lay.envs_per_group, lay.num_steps
    S, E = lay.num_streams, lay.rollout_envs
    M = t.num_minibatches
    N = lay.samples_per_stream
    A = venv.num_actions
    has_anchor = method == "srpo"
    stream_seat = np.arange(S) % P
    mask = (np.ones((P, A), bool) if venv.action_mask is None else venv.action_mask)[stream_seat]
    masked = venv.action_mask is not None or venv.has_legal_moves
    turn_based = venv.has_legal_moves  # rows store legal actions; only acting rows train
    if method == "self_play" or shared:
        hero_seats = (HERO_0,) * P
    elif method == "ippo":
        hero_seats = tuple(range(P))
    else:
        hero_seats = (HERO_0, HERO_1)
    # Adversary streams and the learners that are their anchors (the partner each replaces):
    # pair: (A,1) <- hero_1, (B,0) <- hero_0; shared: every group's role 0 <- the hero.
    if shared:
        anchor_streams, anchor_learners = np.arange(G) * P, np.full(G, HERO)
        adv_sources = np.array([HERO])  # start_adversaries: adv <- hero
    else:
        anchor_streams, anchor_learners = np.array([1, 2]), np.array([HERO_1, HERO_0])
        adv_sources = np.array([HERO_1, HERO_0])  # adv_0 <- hero_1, adv_1 <- hero_0

    per_member_pool = cfg.env.frozen is not None and cfg.env.frozen.assign == "member"
    # Risk over the frozen pool (``env.frozen.risk``): the rollout records which pool policy
    # each env plays, and the update weights rewards per policy (``pool_weights``).
    pool_risk = cfg.env.frozen.risk if cfg.env.frozen is not None else 0.0
    risk_measure = cfg.env.frozen.risk_measure if cfg.env.frozen is not None else ""

    def venv_of(hyper: Hyper) -> VecEnv:
        """The envs as this member plays them: its swept env arguments set in the params, and
        its frozen-seat pool when the pool is a program input."""
        if per_member_pool and hyper.frozen is None:
            raise ValueError("env.frozen.assign: 'member' needs each member's pool in its "
                             "inputs (sweep.member_inputs with frozen.member_pools)")
        if not hyper.env and hyper.frozen is None:
            return venv
        params = venv.params
        if hyper.env:
            params = venv.env.params_with(params, hyper.env)
        if hyper.frozen is not None:
            params = dataclasses.replace(params, pool=hyper.frozen["pool"],
                                         logits=hyper.frozen["logits"])
        return venv.with_params(params)

    def mask_logits(logits, seat_mask):
        return jnp.where(seat_mask, logits, MASKED_LOGIT) if masked else logits

    # SRPO's table depends on tau only through tau > 0, so a sweep whose taus are all positive
    # has a fixed table too (``run_sweep`` refuses members with tau <= 0 for such a trainer).
    # An IPPO warm-up (srpo.ippo_warmup) switches the table at run time too.
    warmup = has_anchor and cfg.value_range("srpo.ippo_warmup")[1] > 0
    fixed = None
    if method != "srpo" or (cfg.value_range("tau")[0] > 0 and not warmup):
        fixed = np.asarray(stream_table(method, jnp.ones(()), G, P, scheme))
    table_of = (lambda tau: stream_table(method, tau, G, P, scheme)) if fixed is None else (
        lambda tau: jnp.asarray(fixed))
    # Learner-major stream order for the update when the table is fixed: ``order`` lists each
    # learner's streams in turn (``counts[l]`` of them). With K streams for every learner,
    # ``[S, n] -> [L, K * n]`` is a reshape; otherwise (SRPO's shared scheme: P - 1 hero roles
    # per group, one adversary role) each learner runs on its own slice.
    order, K = None, S // L
    counts = np.bincount(fixed, minlength=L) if fixed is not None else np.zeros(L, int)
    equal = bool(np.all(counts == K))
    if group_streams and fixed is not None:
        order = np.argsort(fixed, kind="stable")
        assert np.array_equal(fixed[order], np.repeat(np.arange(L), counts)), fixed

    steps_per_run = lay.num_updates * t.update_epochs * M

    def optimiser(hyper: Hyper):
        """Adam with the member's (traced) step size, schedule end, eps and clipping norm; its
        state's structure depends on the config only, not on the values."""
        lr = (optax.linear_schedule(hyper.lr, hyper.lr_end, steps_per_run) if t.anneal_lr
              else hyper.lr)
        tx = optax.adam(lr, eps=hyper.adam_eps)
        if t.max_grad_norm is not None:
            tx = optax.chain(optax.clip_by_global_norm(hyper.max_grad_norm), tx)
        return tx

    def to_streams(x):
        """``[E, P, ...]`` -> ``[S, Eg, ...]``."""
        x = x.reshape((G, Eg, P) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((S, Eg) + x.shape[3:])

    def from_streams(x):
        """``[S, Eg, ...]`` -> ``[E, P, ...]``."""
        x = x.reshape((G, P, Eg) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((E, P) + x.shape[3:])

    def partner_mean(x):
        """What each stream's adversary minimises, from per-stream ``x [S, ...]``: pair, the
        other seat of its group; shared, the mean over the hero roles (1..P-1) of its group,
        for every stream of the group."""
        if not shared:
            return x[np.arange(S) ^ 1]
        g = x.reshape((G, P) + x.shape[1:])
        heroes = jnp.mean(g[:, 1:], axis=1, keepdims=True)
        return jnp.broadcast_to(heroes, g.shape).reshape(x.shape)

    def coefficients(hyper: Hyper, table, done):
        """Per-stream (policy-gradient weight, entropy coefficient, KL coefficient, loss
        weight), each ``[S]``, ``done`` env steps into the run."""
        is_adv = table >= first_adv
        pg = jnp.where(is_adv, adversary_strength(done, hyper.adv_warmup), 1.0)
        ent = jnp.where(is_adv, hyper.adv_entropy_coef, hyper.eps)
        if has_anchor:
            safe_tau = jnp.where(hyper.tau > 0, hyper.tau, 1.0)
            kl = jnp.where(is_adv & (hyper.tau > 0), 1.0 / safe_tau, 0.0)
        else:
            kl = jnp.zeros((S,))
        counts = jnp.sum(table[:, None] == table[None, :], axis=1)
        return pg, ent, kl, 1.0 / counts

    # ------------------------------------------------------------------ init
    def init(key, hyper: Hyper) -> LearnerState:
        tx = optimiser(hyper)
        key, k_net, k_env, k_eval = jax.random.split(key, 4)
        dummy = jnp.zeros((1,) + venv.obs_shape, jnp.float32)
        num_heroes = first_adv if adversarial else L
        heroes = jax.vmap(lambda k: net.init(k, dummy))(jax.random.split(k_net, num_heroes))
        # Adversaries start as copies of the heroes' initial parameters.
        params = heroes if not adversarial else jax.tree.map(
            lambda h: jnp.concatenate([h, h], axis=0), heroes)
        obs, vec_state = venv_of(hyper).reset(k_env, E)
        return LearnerState(params=params, opt_state=jax.vmap(tx.init)(params),
                            vec_state=vec_state, obs=obs, key=key, eval_key=k_eval,
                            update=jnp.zeros((), jnp.int32), failed_at=jnp.int32(-1),
                            failure=jnp.int32(0))

    # ------------------------------------------------------------------ rollout
    def shaping_coef(update, horizon):
        """Weight of the shaped reward: 1 -> 0 linearly over ``horizon`` env steps (counted at
        the start of the update, as JaxMARL's IPPO does); 0 when shaping is off (horizon 0)."""
        done = update.astype(jnp.float32) * lay.env_steps_per_update
        safe = jnp.where(horizon > 0, horizon, 1.0)
        # ``done * (1 / horizon)``: what XLA makes of a division by a constant, so a traced
        # horizon gives the floats a constant one gave (checked bitwise on cramped_room).
        return jnp.where(horizon > 0, jnp.clip(1.0 - done * (1.0 / safe), 0.0, 1.0), 0.0)

    def learners_apply(params, obs_lm, apply):
        """Each learner once on all its streams' rows: ``obs_lm [S, n, ...]`` in learner-major
        order (``order``) -> ``apply`` output with leading axes ``[S, n]``, same order."""
        n, rest = obs_lm.shape[1], obs_lm.shape[2:]
        if equal:
            out = jax.vmap(apply)(params, obs_lm.reshape((L, K * n) + rest))
            return jax.tree.map(lambda x: x.reshape((S, n) + x.shape[2:]), out)
        starts = np.concatenate([[0], np.cumsum(counts)])
        outs = [apply(_gather(params, l), obs_lm[starts[l]:starts[l + 1]].reshape(
            (int(counts[l]) * n,) + rest)) for l in range(L) if counts[l]]
        return jax.tree.map(lambda *xs: jnp.concatenate(xs).reshape((S, n) + xs[0].shape[1:]),
                            *outs)

    def streams_apply(params, stream_params, obs_s, method=None):
        """Each stream's learner on its observations ``[S, n, ...]`` -> ``net.apply`` output with
        leading axes ``[S, n]`` (``method``: an ``ActorCritic`` method; default both heads).
        With a fixed table and several streams per learner (IPPO, self-play, SRPO's shared
        hero), each learner runs once on all its streams' rows, so the rollout reads each
        network's weights once per step instead of once per stream."""
        apply = lambda p, o: net.apply(p, o, method=method)
        if order is None or (equal and K == 1):
            return jax.vmap(apply)(stream_params, obs_s)
        out = learners_apply(params, obs_s[order], apply)
        return jax.tree.map(lambda x: x[np.argsort(order)], out)

    # With separate actor and critic MLPs the rollout runs only the actors and the behaviour
    # values come after it, one batch of T x Eg states per stream: acting reads half the
    # weights at each step, and the critics run as large matrix products. (The CNN's torso is
    # shared, so its values stay inside the step.)
    values_after = cfg.network.kind == "mlp"
    kl_in_reward = has_anchor and cfg.srpo.kl_penalty == "reward"

    def rollout(state: LearnerState, table, hyper: Hyper):
        member_venv = venv_of(hyper)
        coef = shaping_coef(state.update, hyper.reward_shaping_horizon)
        stream_params = _gather(state.params, table)
        anchor_params = _gather(state.params, anchor_learners) if has_anchor else None
        key = state.key
        if shared:
            # The seat each env's adversary takes in this rollout (role 0); roles 1..P-1 are
            # the seats after it. Seat-indexed arrays become role-indexed and back.
            key, k_seat = jax.random.split(key)
            seat_of_role, role_of_seat = seat_rotation(
                jax.random.randint(k_seat, (E,), 0, P), P)
            to_roles = lambda x: rotate(x, seat_of_role)
            to_seats = lambda x: rotate(x, role_of_seat)
        else:
            to_roles = to_seats = lambda x: x

        def step(carry, _):
            vec_state, obs, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            obs_s = to_streams(to_roles(obs))
            if values_after:
                logits = streams_apply(state.params, stream_params, obs_s, ActorCritic.policy)
            else:
                logits, value = streams_apply(state.params, stream_params, obs_s)
            if turn_based:
                legal = to_streams(to_roles(vec_state.legal))  # [S, Eg, A]
                logits = mask_logits(logits, legal)
            else:
                logits = mask_logits(logits, mask[:, None, :])
            action = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
            obs_next, vec_state_next, out = member_venv.step(
                k_env, vec_state, to_seats(from_streams(action)))
            done = jnp.broadcast_to(out.done[:, None], (E, P))
            data = dict(obs=obs_s, action=action, logp=logp,
                        reward=to_streams(to_roles(out.reward + coef * out.shaped)),
                        done=to_streams(done), ep_ret=to_streams(to_roles(out.episode.ret)))
            if pool_risk:  # the pool policy each env played this step (its episode's draw)
                data["entry"] = to_streams(jnp.broadcast_to(
                    vec_state.env_state.policy[:, None], (E, P)))
            if adversarial:  # adversaries may leave the shaped part out (srpo.adv_shaped_reward)
                data["shaped"] = to_streams(to_roles(coef * out.shaped))
            if turn_based:
                data["legal"] = legal
            if not values_after:
                data["value"] = value
            return (vec_state_next, obs_next, key), data

        (vec_state, obs, key), traj = jax.lax.scan(
            step, (state.vec_state, state.obs, key), None, length=T)
        # [T, S, Eg, ...] -> [S, T, Eg, ...]
        traj = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)
        if has_anchor:
            # Anchors of the adversary streams: the policy of the hero each one replaces on the
            # states it visited. Their params are the ones the rollout played with (frozen for
            # the update), so the anchors are computed here in one batch of T x Eg states per
            # stream instead of inside every rollout step.
            # (``apply`` without ``mutable`` returns just the method's output: the logits.)
            anc = cast(jax.Array, jax.vmap(lambda p, o: net.apply(p, o, method=ActorCritic.policy))(
                anchor_params, traj["obs"][anchor_streams]))
            anchor = jnp.zeros((S, T, Eg, A)).at[anchor_streams].set(anc)
            traj["anchor"] = mask_logits(anchor, traj["legal"] if turn_based
                                         else mask[:, None, None, :])
        else:
            traj["anchor"] = jnp.zeros((S, T, Eg, A))
        last_obs = to_streams(to_roles(obs))
        if values_after:
            # [S, T * Eg + Eg] states: the visited ones, then the bootstrap states.
            flat_obs = traj["obs"].reshape((S, T * Eg) + traj["obs"].shape[3:])
            values = streams_apply(state.params, stream_params,
                                   jnp.concatenate([flat_obs, last_obs], axis=1),
                                   ActorCritic.value)
            traj["value"] = values[:, :T * Eg].reshape((S, T, Eg))
            last_value = values[:, T * Eg:]
        else:
            _, last_value = streams_apply(state.params, stream_params, last_obs)
        return dataclasses.replace(state, vec_state=vec_state, obs=obs, key=key), traj, last_value

    # ------------------------------------------------------------------ loss
    def stream_loss(logits, value, mb: Batch, seat_mask, pg_coef, ent_coef, kl_coef,
                    hyper: Hyper):
        """Loss of one stream's minibatch (hero: PPO; adversary: PPO with its policy gradient
        weighted by its strength, + (1/tau) KL), given the learner's outputs on it: logits
        ``[n, A]``, value ``[n]``. ``mb.adv`` comes already normalised over the learner's
        minibatch when the config asks for it. In turn-based envs the logits are masked to
        each row's legal actions (so entropy and KL are over legal actions) and every term is
        a mean over the rows where the seat acted: a row where it could not act contributes
        nothing."""
        w = mb.acting  # None unless turn-based
        logits = mask_logits(logits, mb.legal if turn_based else seat_mask)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), mb.action[:, None], -1)[:, 0]
        pg = losses.clipped_surrogate(logp, mb.logp, mb.adv, hyper.clip_eps, w)
        vl = losses.value_loss(value, mb.target, mb.value if t.clip_value_loss else None,
                               hyper.clip_eps if t.clip_value_loss else None, w)
        ent = losses.masked_mean(losses.entropy(logits), w)
        loss = -pg_coef * pg + hyper.vf_coef * vl - ent_coef * ent
        if has_anchor:
            if cfg.srpo.kl_direction == "adv_partner":
                kl = losses.categorical_kl(logits, mb.anchor_logits)
            else:
                kl = losses.categorical_kl(mb.anchor_logits, logits)
            kl = losses.masked_mean(kl, w)
            # kl_coef < 0 marks an adversary that pays its KL in the reward (kl_penalty reward)
            loss = loss + jnp.maximum(kl_coef, 0.0) * kl
            kl = jnp.where(kl_coef != 0, kl, 0.0)  # hero streams have no anchor to report
        else:
            kl = jnp.zeros(())
        return loss, dict(pg=pg, value=vl, entropy=ent, kl=kl)

    def total_loss(params, mb: Batch, hyper: Hyper, table, pg, ent, kl, weight, seat_mask):
        """Weighted sum of the stream losses; ``mb`` (and the per-stream arguments) in the
        update's stream order (learner-major when ``order`` is set)."""
        if order is None:
            logits, value = jax.vmap(net.apply)(_gather(params, table), mb.obs)
        else:
            logits, value = cast(tuple[jax.Array, jax.Array],
                                 learners_apply(params, mb.obs, net.apply))
        if t.normalize_advantages:  # over each learner's whole minibatch, all its streams
            mb = dataclasses.replace(mb, adv=losses.normalize_by_learner(mb.adv, table,
                                                                         mb.acting))
        loss_s, aux = jax.vmap(stream_loss, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
            logits, value, mb, seat_mask, pg, ent, kl, hyper)
        return jnp.sum(weight * loss_s), aux

    # ------------------------------------------------------------------ health
    def all_finite(tree):
        # One reduction over all leaves, flattened and joined: a reduction per leaf (about a
        # hundred here) made the health check a large share of the program XLA compiles.
        leaves = [jnp.ravel(x) for x in jax.tree.leaves(tree)
                  if jnp.issubdtype(x.dtype, jnp.inexact)]
        return jnp.all(jnp.isfinite(jnp.concatenate(leaves))) if leaves else jnp.bool_(True)

    def check_health(state: LearnerState, params, opt_state, reward, aux):
        """Detect the first non-finite rollout return, loss or parameter inside the program.

        A member that fails (now or earlier) keeps its last good params and optimiser state, so
        its checkpoints stay usable and a sweep can go on with its healthy members.
        Returns ``(params, opt_state, failed_at, failure)``.
        """
        code = jnp.where(~all_finite(reward), 1,
                         jnp.where(~all_finite(aux), 2,
                                   jnp.where(~all_finite(params), 3, 0)))
        healthy = state.failed_at < 0
        fails_now = healthy & (code > 0)
        keep_new = healthy & (code == 0)
        pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(keep_new, a, b), new, old)
        return (pick(params, state.params), pick(opt_state, state.opt_state),
                jnp.where(fails_now, state.update + 1, state.failed_at),
                jnp.where(fails_now, code, state.failure).astype(jnp.int32))

    def start_adversaries(state: LearnerState, start, hyper: Hyper) -> LearnerState:
        """Where ``start`` (a traced bool), each adversary becomes its anchor (pair: adv_0 <-
        hero_1, adv_1 <- hero_0; shared: adv <- hero), with the critic's output layer negated
        (an adversary's return is about minus its hero's, so its value starts at -V instead of
        a wrong-signed V) and a fresh Adam state (moments and step count; the learning-rate
        schedule keeps the run's count). Unchanged where ``start`` is false."""
        a0 = first_adv
        anchors = _gather(state.params, jnp.asarray(adv_sources))
        inner = dict(anchors["params"])
        inner["critic_head"] = jax.tree.map(jnp.negative, inner["critic_head"])
        anchors = {**anchors, "params": inner}
        params = jax.tree.map(lambda p, a: p.at[a0:].set(jnp.where(start, a, p[a0:])),
                              state.params, anchors)
        fresh = jax.vmap(optimiser(hyper).init)(params)
        is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
        opt_state = jax.tree.map(
            lambda o, f: jax.tree.map(lambda a, b: a.at[a0:].set(
                jnp.where(start, b[a0:], a[a0:])), o, f) if is_adam(o) else o,
            state.opt_state, fresh, is_leaf=is_adam)
        return dataclasses.replace(state, params=params, opt_state=opt_state)

    # ------------------------------------------------------------------ update
    def table_at(done, hyper: Hyper):
        """The stream table of an update that starts ``done`` env steps into the run: IPPO's
        (tau = 0) during an IPPO warm-up (``srpo.ippo_warmup``), else the member's tau's."""
        if warmup:
            return table_of(jnp.where(done < hyper.ippo_warmup, 0.0, hyper.tau))
        return table_of(hyper.tau)

    def update(state: LearnerState, hyper: Hyper):
        """One iteration: rollout of E x T env steps, GAE, epochs of minibatch updates."""
        done = state.update.astype(jnp.float32) * lay.env_steps_per_update  # at its start
        table = table_at(done, hyper)
        if warmup:
            # At the first update after the warm-up each adversary starts from its anchor.
            start = ((hyper.ippo_warmup > 0) & (done >= hyper.ippo_warmup)
                     & (done - lay.env_steps_per_update < hyper.ippo_warmup))
            state = start_adversaries(state, start, hyper)
        pg, ent, kl, weight = coefficients(hyper, table, done)
        state, traj, last_value = rollout(state, table, hyper)
        tx = optimiser(hyper)

        is_adv = table >= first_adv
        sign = jnp.where(is_adv, -1.0, 1.0)[:, None, None]
        reward = traj["reward"]
        if pool_risk:
            logits = (hyper.frozen["logits"] if hyper.frozen is not None
                      else venv.params.logits)
            w = pool_weights(traj["entry"], traj["done"], traj["ep_ret"], logits, pool_risk,
                             risk_measure)
            reward = reward * w[traj["entry"]]
        if adversarial:  # an adversary minimises its heroes' reward, with w of the shaped part
            adv_reward = (partner_mean(reward)
                          - (1.0 - hyper.adv_shaped_reward) * partner_mean(traj["shaped"]))
            reward = jnp.where(is_adv[:, None, None], adv_reward, reward)
        reward = reward * sign
        if kl_in_reward:
            # The adversary's reward: w * (-r_hero) - (1/tau) log(adv(a|s) / anchor(a|s)), the
            # sampled log-ratio of the action it took (its expectation is the KL); the strength
            # w weights the hero's part (the policy gradient then keeps weight 1).
            b = lambda x: x[:, None, None]
            reward = kl_reward(reward, b(jnp.where(is_adv, pg, 1.0)), b(kl), traj["logp"],
                               traj["anchor"], traj["action"])
            pg = jnp.ones_like(pg)
        if turn_based:  # each seat's decisions are its trajectory (``turn_based_gae``)
            acting = jnp.sum(traj["legal"], axis=-1) > 1  # [S, T, Eg]: the seat had a choice
            tb_gae = jax.vmap(jax.vmap(losses.turn_based_gae,
                                       in_axes=(1, 1, 1, 1, 0, None, None), out_axes=1),
                              in_axes=(0, 0, 0, 0, 0, None, None))
            adv, target = tb_gae(reward, traj["done"], traj["value"], acting, last_value,
                                 hyper.gamma, hyper.gae_lambda)
        else:
            gae = jax.vmap(jax.vmap(losses.gae_advantages, in_axes=(1, 1, 1, 0, None, None),
                                    out_axes=1), in_axes=(0, 0, 0, 0, None, None))
            adv, target = gae(reward, traj["done"], traj["value"], last_value, hyper.gamma,
                              hyper.gae_lambda)

        flat = lambda x: x.reshape((S, N) + x.shape[3:])
        batch = Batch(obs=flat(traj["obs"]), action=flat(traj["action"]),
                      logp=flat(traj["logp"]), value=flat(traj["value"]), adv=flat(adv),
                      target=flat(target), anchor_logits=flat(traj["anchor"]),
                      legal=flat(traj["legal"]) if turn_based else None,
                      acting=flat(acting).astype(jnp.float32) if turn_based else None)
        # The update's stream order (see ``order``); each stream keeps its own shuffling key.
        reorder = (lambda x: x) if order is None else (lambda x: x[order])
        batch = jax.tree.map(reorder, batch)
        # With the KL in the reward the loss has no KL term; its value is still reported.
        kl_loss = jnp.where(kl > 0, -1.0, 0.0) if kl_in_reward else kl
        args = tuple(map(reorder, (table, pg, ent, kl_loss, weight, mask)))

        def epoch(carry, key):
            params, opt_state = carry
            # Each minibatch gathers its rows from the batch when it runs, rather than the epoch
            # materialising a shuffled, transposed copy: one pass over the observations instead
            # of three, and the gather fuses with the conversion to float.
            idx = minibatch_indices(reorder(jax.random.split(key, S)), N, M)  # [M, S, n]

            def minibatch(carry, idx_m):
                params, opt_state = carry
                mb = jax.tree.map(lambda x: jax.vmap(lambda xs, i: xs[i])(x, idx_m), batch)
                grads, aux = jax.grad(total_loss, has_aux=True)(params, mb, hyper, *args)
                updates, opt_state = jax.vmap(tx.update)(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), aux

            return jax.lax.scan(minibatch, (params, opt_state), idx)

        key, k_epochs = jax.random.split(state.key)
        (params, opt_state), aux = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_epochs, t.update_epochs))
        if order is not None:  # metrics back in stream order
            aux = jax.tree.map(lambda x: x[..., np.argsort(order)], aux)
        params, opt_state, failed_at, failure = check_health(
            state, params, opt_state, traj["reward"], aux)
        state = dataclasses.replace(state, params=params, opt_state=opt_state, key=key,
                                    update=state.update + 1, failed_at=failed_at,
                                    failure=failure)
        done = traj["done"]
        metrics = {f"loss/{k}": v.mean(axis=(0, 1)) for k, v in aux.items()}
        metrics["train/episodes"] = done.sum(axis=(1, 2)).astype(jnp.float32)
        # Return of each stream's own seat over the episodes that ended in this rollout.
        metrics["train/return_sum"] = jnp.where(done, traj["ep_ret"], 0.0).sum(axis=(1, 2))
        return state, metrics

    # ------------------------------------------------------------------ evaluation
    def evaluate(state: LearnerState, hyper: Hyper, num_envs: int):
        """The heroes in every seat, one episode in each of ``num_envs`` envs (the member's,
        ``hyper.env``), sampled actions, no learning.

        The very code cross-play uses (``episodes.play_seats``), so training-time
        evaluation and the cross-play diagonal measure the same thing.
        """
        eval_key, key = jax.random.split(state.eval_key)
        heroes = [network_agent(f"hero_{i}", net, _gather(state.params, hero_seats[i]),
                                i if venv.seat_id else None, num_seats=P)
                  for i in range(P)]
        member_venv = venv_of(hyper)
        totals = jax.vmap(lambda k: play_seats(member_venv, heroes, [h.params for h in heroes],
                                               k))(jax.random.split(key, num_envs))
        recorded = totals.length > 0
        n = jnp.maximum(recorded.sum(), 1)
        mean = lambda x: jnp.sum(jnp.where(recorded[:, None], x, 0.0), axis=0) / n
        ret, cost = mean(totals.ret), mean(totals.cost)
        metrics = {
            "return": ret,  # [P] per seat
            "team_return": ret.mean(),
            "private_cost": cost,  # [P]
            "free_riding": jnp.max(cost) - jnp.min(cost),
            "episodes": recorded.sum(),
        }
        for k, v in totals.contrib.items():
            metrics[k] = mean(v)
        if venv.max_steps == 1:  # one-shot games: report the exact mixed strategies
            obs, _ = venv.env.reset(key, member_venv.params)
            seat_mask = np.ones((P, A), bool) if venv.action_mask is None else venv.action_mask
            probs = [jax.nn.softmax(mask_logits(
                a.policy(a.params, (), obs[venv.agents[i]], key)[0], seat_mask[i]))
                for i, a in enumerate(heroes)]
            metrics["action_probs"] = jnp.stack(probs)  # [P, A]
        return dataclasses.replace(state, eval_key=eval_key), metrics

    def rollout_of(state: LearnerState, hyper: Hyper):
        done = state.update.astype(jnp.float32) * lay.env_steps_per_update
        return rollout(state, table_at(done, hyper), hyper)

    return Trainer(config=cfg, venv=venv, network=net, num_learners=L, init=init,
                   update=update, evaluate=evaluate, rollout=rollout_of, hero_seats=hero_seats,
                   stream_order=None if order is None else tuple(int(i) for i in order),
                   needs_positive_tau=method == "srpo" and fixed is not None)
