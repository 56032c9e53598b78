"""``make_train``: IPPO, self-play, SRPO and pure-adversarial as one compiled program.

Every method is the same machinery. A rollout runs E envs split into G groups (G = 2 when E is
even); each (group, seat) pair is a *stream* of ``E/G`` envs played by one *learner*:

    learners: 0 = hero_0, 1 = hero_1, 2 = adv_0, 3 = adv_1    (self-play: 0 only)
    streams:  k = 2 * group + seat
    ippo:       (A,0)->hero_0  (A,1)->hero_1  (B,0)->hero_0  (B,1)->hero_1
    srpo:       (A,0)->hero_0  (A,1)->adv_0   (B,0)->adv_1   (B,1)->hero_1

so SRPO's equal-budget split is just a different stream table, and SRPO at tau = 0 (a traced
value) selects the IPPO table: the very same computation as IPPO. When the table is fixed
(every method but an SRPO sweep that includes tau = 0), the update and the rollout evaluate
each learner's streams in one batch (IPPO: two networks on 512 samples instead of four gathered
copies on 256; self-play: one network on all), the same values with larger matrix products
and each network's weights read once per step. With MLP networks the rollout steps run only the
actors; the behaviour values come after the rollout in one batch. A learner's
loss is the mean of its streams' losses; an adversary's stream learns from the negated reward
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
from jsrpo.episodes import play_episode
from jsrpo.networks import ActorCritic
from jsrpo.vec_env import MASKED_LOGIT, VecEnv, VecState

HERO_0, HERO_1, ADV_0, ADV_1 = 0, 1, 2, 3
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

    @classmethod
    def of(cls, members, env_keys=()) -> "Hyper":
        """``[M]`` leaves from ``sweep.Member``s (their ``values``), float32; ``env_keys``: the
        ``env.kwargs.*`` keys to set in the env params (``sweep.env_keys``; none: the env's own
        params, unchanged)."""
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
                   env={k: jnp.asarray(v, jnp.float32) for k, v in env.items()})


@struct.dataclass
class LearnerState:
    params: Any  # learner-stacked network params, leading axis L
    opt_state: Any  # learner-stacked optimiser state
    vec_state: VecState  # E envs
    obs: chex.Array  # [E, 2, *obs_shape]
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
    hero_pair: tuple  # learner index of the deployed policy in seat 0 and seat 1
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


def num_learners(method: str) -> int:
    return {"self_play": 1, "ippo": 2, "srpo": 4, "pure_adversarial": 4}[method]


def stream_table(method: str, tau: chex.Array, num_groups: int) -> chex.Array:
    """Learner index of each stream, ``[2 * num_groups]`` int32 (traced when tau is)."""
    ippo = jnp.array([HERO_0, HERO_1] * num_groups, jnp.int32)
    if method == "self_play":
        return jnp.zeros_like(ippo)
    if method == "ippo":
        return ippo
    srpo = jnp.array([HERO_0, ADV_0, ADV_1, HERO_1], jnp.int32)
    if method == "pure_adversarial":
        return srpo
    return jnp.where(tau > 0, srpo, ippo)


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
    if env is None:
        check_env_values(cfg)
        env = envs_pkg.make(cfg.env.name, **cfg.env.base_kwargs)
    method = cfg.method
    # Self-play tells the seats apart by a one-hot seat id on flat observations; grid
    # observations (Overcooked) are ego-centric, so one network plays either seat without it.
    obs_ndim = len(jax.eval_shape(env.reset, jax.random.PRNGKey(0))[0][env.agents[0]].shape)
    venv = VecEnv(env, seat_id=(method == "self_play" and obs_ndim == 1))
    if cfg.network.kind == "cnn" and len(venv.obs_shape) != 3:
        raise ConfigError(f"network.kind: 'cnn' needs grid observations [H, W, C]; "
                          f"{cfg.env.name} observations have shape {venv.obs_shape} (use 'mlp')")
    net = ActorCritic(num_actions=venv.num_actions, obs_ndim=len(venv.obs_shape),
                      hidden_sizes=tuple(cfg.network.hidden_sizes),
                      activation=cfg.network.activation, kind=cfg.network.kind)
    L = num_learners(method)
    G, Eg, T = lay.num_groups, lay.envs_per_group, lay.num_steps
    S, E = lay.num_streams, lay.rollout_envs
    M = t.num_minibatches
    N = lay.samples_per_stream
    A = venv.num_actions
    has_anchor = method == "srpo"
    stream_seat = np.arange(S) % 2
    mask = (np.ones((2, A), bool) if venv.action_mask is None else venv.action_mask)[stream_seat]
    masked = venv.action_mask is not None
    hero_pair = (HERO_0, HERO_0 if method == "self_play" else HERO_1)

    def venv_of(hyper: Hyper) -> VecEnv:
        """The envs as this member plays them: its swept env arguments set in the params."""
        if not hyper.env:
            return venv
        return venv.with_params(venv.env.params_with(venv.params, hyper.env))

    def mask_logits(logits, seat_mask):
        return jnp.where(seat_mask, logits, MASKED_LOGIT) if masked else logits

    # SRPO's table depends on tau only through tau > 0, so a sweep whose taus are all positive
    # has a fixed table too (``run_sweep`` refuses members with tau <= 0 for such a trainer).
    # An IPPO warm-up (srpo.ippo_warmup) switches the table at run time too.
    warmup = has_anchor and cfg.value_range("srpo.ippo_warmup")[1] > 0
    fixed = None
    if method != "srpo" or (cfg.value_range("tau")[0] > 0 and not warmup):
        fixed = np.asarray(stream_table(method, jnp.ones(()), G))
    table_of = (lambda tau: stream_table(method, tau, G)) if fixed is None else (
        lambda tau: jnp.asarray(fixed))
    # Learner-major stream order for the update when the table is fixed: ``order`` lists each
    # learner's streams in turn, K per learner, so ``[S, n] -> [L, K * n]`` is a reshape.
    order, K = None, S // L
    if group_streams and fixed is not None:
        order = np.argsort(fixed, kind="stable")
        assert np.array_equal(fixed[order], np.repeat(np.arange(L), K)), fixed

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
        """``[E, 2, ...]`` -> ``[S, Eg, ...]``."""
        x = x.reshape((G, Eg, 2) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((S, Eg) + x.shape[3:])

    def from_streams(x):
        """``[S, Eg, ...]`` -> ``[E, 2, ...]``."""
        x = x.reshape((G, 2, Eg) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((E, 2) + x.shape[3:])

    def coefficients(hyper: Hyper, table, done):
        """Per-stream (policy-gradient weight, entropy coefficient, KL coefficient, loss
        weight), each ``[S]``, ``done`` env steps into the run."""
        is_adv = table >= ADV_0
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
        heroes = jax.vmap(lambda k: net.init(k, dummy))(jax.random.split(k_net, min(L, 2)))
        # Adversaries start as copies of the heroes' initial parameters.
        params = heroes if L <= 2 else jax.tree.map(
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

    def streams_apply(params, stream_params, obs_s, method=None):
        """Each stream's learner on its observations ``[S, n, ...]`` -> ``net.apply`` output with
        leading axes ``[S, n]`` (``method``: an ``ActorCritic`` method; default both heads).
        With a fixed table and several streams per learner (IPPO, self-play), each learner runs
        once on all its streams' rows, so the rollout reads each network's weights once per
        step instead of once per stream."""
        apply = lambda p, o: net.apply(p, o, method=method)
        if order is None or K == 1:
            return jax.vmap(apply)(stream_params, obs_s)
        n = obs_s.shape[1]
        out = jax.vmap(apply)(params, obs_s[order].reshape((L, K * n) + obs_s.shape[2:]))
        unorder = np.argsort(order)
        return jax.tree.map(lambda x: x.reshape((S, n) + x.shape[2:])[unorder], out)

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
        anchor_params = _gather(state.params, jnp.array([HERO_1, HERO_0])) if has_anchor else None

        def step(carry, _):
            vec_state, obs, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            obs_s = to_streams(obs)
            if values_after:
                logits = streams_apply(state.params, stream_params, obs_s, ActorCritic.policy)
            else:
                logits, value = streams_apply(state.params, stream_params, obs_s)
            logits = mask_logits(logits, mask[:, None, :])
            action = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
            obs_next, vec_state, out = member_venv.step(k_env, vec_state, from_streams(action))
            done = jnp.broadcast_to(out.done[:, None], (E, 2))
            data = dict(obs=obs_s, action=action, logp=logp,
                        reward=to_streams(out.reward + coef * out.shaped), done=to_streams(done),
                        ep_ret=to_streams(out.episode.ret))
            if L == 4:  # adversaries may leave the shaped part out (srpo.adv_shaped_reward)
                data["shaped"] = to_streams(coef * out.shaped)
            if not values_after:
                data["value"] = value
            return (vec_state, obs_next, key), data

        (vec_state, obs, key), traj = jax.lax.scan(
            step, (state.vec_state, state.obs, state.key), None, length=T)
        # [T, S, Eg, ...] -> [S, T, Eg, ...]
        traj = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)
        if has_anchor:
            # Anchors of the adversary slots (A,1) and (B,0): hero_1's and hero_0's policy on the
            # states visited. Their params are the ones the rollout played with (frozen for the
            # update), so the anchors are computed here in one batch of T x Eg states per slot
            # instead of inside every rollout step.
            # (``apply`` without ``mutable`` returns just the method's output: the logits.)
            anc = cast(jax.Array, jax.vmap(lambda p, o: net.apply(p, o, method=ActorCritic.policy))(
                anchor_params, traj["obs"][1:3]))
            placeholder = jnp.zeros((1, T, Eg, A))
            anchor = jnp.concatenate([placeholder, anc, placeholder], axis=0)
            traj["anchor"] = mask_logits(anchor, mask[:, None, None, :])
        else:
            traj["anchor"] = jnp.zeros((S, T, Eg, A))
        if values_after:
            # [S, T * Eg + Eg] states: the visited ones, then the bootstrap states.
            flat_obs = traj["obs"].reshape((S, T * Eg) + traj["obs"].shape[3:])
            values = streams_apply(state.params, stream_params,
                                   jnp.concatenate([flat_obs, to_streams(obs)], axis=1),
                                   ActorCritic.value)
            traj["value"] = values[:, :T * Eg].reshape((S, T, Eg))
            last_value = values[:, T * Eg:]
        else:
            _, last_value = streams_apply(state.params, stream_params, to_streams(obs))
        return dataclasses.replace(state, vec_state=vec_state, obs=obs, key=key), traj, last_value

    # ------------------------------------------------------------------ loss
    def stream_loss(logits, value, mb: Batch, seat_mask, pg_coef, ent_coef, kl_coef,
                    hyper: Hyper):
        """Loss of one stream's minibatch (hero: PPO; adversary: PPO with its policy gradient
        weighted by its strength, + (1/tau) KL), given the learner's outputs on it: logits
        ``[n, A]``, value ``[n]``. ``mb.adv`` comes already normalised over the learner's
        minibatch when the config asks for it."""
        logits = mask_logits(logits, seat_mask)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), mb.action[:, None], -1)[:, 0]
        pg = losses.clipped_surrogate(logp, mb.logp, mb.adv, hyper.clip_eps)
        vl = losses.value_loss(value, mb.target, mb.value if t.clip_value_loss else None,
                               hyper.clip_eps if t.clip_value_loss else None)
        ent = jnp.mean(losses.entropy(logits))
        loss = -pg_coef * pg + hyper.vf_coef * vl - ent_coef * ent
        if has_anchor:
            if cfg.srpo.kl_direction == "adv_partner":
                kl = losses.categorical_kl(logits, mb.anchor_logits)
            else:
                kl = losses.categorical_kl(mb.anchor_logits, logits)
            kl = jnp.mean(kl)
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
            n = mb.obs.shape[1]
            logits, value = cast(tuple[jax.Array, jax.Array], jax.vmap(net.apply)(
                params, mb.obs.reshape((L, K * n) + mb.obs.shape[2:])))
            logits, value = logits.reshape((S, n, A)), value.reshape((S, n))
        if t.normalize_advantages:  # over each learner's whole minibatch, all its streams
            mb = dataclasses.replace(mb, adv=losses.normalize_by_learner(mb.adv, table))
        loss_s, aux = jax.vmap(stream_loss, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
            logits, value, mb, seat_mask, pg, ent, kl, hyper)
        return jnp.sum(weight * loss_s), aux

    # ------------------------------------------------------------------ health
    def all_finite(tree):
        leaves = jax.tree.leaves(tree)
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))

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
        """Where ``start`` (a traced bool), each adversary becomes its anchor: adv_0 <- hero_1,
        adv_1 <- hero_0, with the critic's output layer negated (an adversary's return is about
        minus its hero's, so its value starts at -V instead of a wrong-signed V) and a fresh
        Adam state (moments and step count; the learning-rate schedule keeps the run's count).
        Unchanged where ``start`` is false."""
        anchors = _gather(state.params, jnp.array([HERO_1, HERO_0]))
        inner = dict(anchors["params"])
        inner["critic_head"] = jax.tree.map(jnp.negative, inner["critic_head"])
        anchors = {**anchors, "params": inner}
        params = jax.tree.map(lambda p, a: p.at[ADV_0:].set(jnp.where(start, a, p[ADV_0:])),
                              state.params, anchors)
        fresh = jax.vmap(optimiser(hyper).init)(params)
        is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
        opt_state = jax.tree.map(
            lambda o, f: jax.tree.map(lambda a, b: a.at[ADV_0:].set(
                jnp.where(start, b[ADV_0:], a[ADV_0:])), o, f) if is_adam(o) else o,
            state.opt_state, fresh, is_leaf=is_adam)
        return dataclasses.replace(state, params=params, opt_state=opt_state)

    # ------------------------------------------------------------------ update
    def update(state: LearnerState, hyper: Hyper):
        """One iteration: rollout of E x T env steps, GAE, epochs of minibatch updates."""
        done = state.update.astype(jnp.float32) * lay.env_steps_per_update  # at its start
        if warmup:
            # IPPO's table (tau = 0) until ippo_warmup env steps are done; at the first update
            # after it each adversary starts from its anchor (``start_adversaries``).
            table = table_of(jnp.where(done < hyper.ippo_warmup, 0.0, hyper.tau))
            start = ((hyper.ippo_warmup > 0) & (done >= hyper.ippo_warmup)
                     & (done - lay.env_steps_per_update < hyper.ippo_warmup))
            state = start_adversaries(state, start, hyper)
        else:
            table = table_of(hyper.tau)
        pg, ent, kl, weight = coefficients(hyper, table, done)
        state, traj, last_value = rollout(state, table, hyper)
        tx = optimiser(hyper)

        is_adv = table >= ADV_0
        partner = jnp.arange(S) ^ 1  # the other seat of the same group
        sign = jnp.where(is_adv, -1.0, 1.0)[:, None, None]
        reward = traj["reward"]
        if L == 4:  # an adversary minimises its hero's reward, with w of the shaped part
            adv_reward = reward[partner] - (1.0 - hyper.adv_shaped_reward) * traj["shaped"][partner]
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
        gae = jax.vmap(jax.vmap(losses.gae_advantages, in_axes=(1, 1, 1, 0, None, None),
                                out_axes=1), in_axes=(0, 0, 0, 0, None, None))
        adv, target = gae(reward, traj["done"], traj["value"], last_value, hyper.gamma,
                          hyper.gae_lambda)

        flat = lambda x: x.reshape((S, N) + x.shape[3:])
        batch = Batch(obs=flat(traj["obs"]), action=flat(traj["action"]),
                      logp=flat(traj["logp"]), value=flat(traj["value"]), adv=flat(adv),
                      target=flat(target), anchor_logits=flat(traj["anchor"]))
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
        """Hero pair, one episode in each of ``num_envs`` envs (the member's, ``hyper.env``),
        sampled actions, no learning.

        The very code cross-play uses (``episodes.play_episode``), so training-time
        evaluation and the cross-play diagonal measure the same thing.
        """
        eval_key, key = jax.random.split(state.eval_key)
        seat_ids = (0, 1) if venv.seat_id else (None, None)
        heroes = [network_agent(f"hero_{i}", net, _gather(state.params, hero_pair[i]), seat_ids[i])
                  for i in (0, 1)]
        member_venv = venv_of(hyper)
        totals = jax.vmap(lambda k: play_episode(member_venv, heroes[0], heroes[1],
                                                   heroes[0].params, heroes[1].params, k))(
            jax.random.split(key, num_envs))
        recorded = totals.length > 0
        n = jnp.maximum(recorded.sum(), 1)
        mean = lambda x: jnp.sum(jnp.where(recorded[:, None], x, 0.0), axis=0) / n
        ret, cost = mean(totals.ret), mean(totals.cost)
        metrics = {
            "return": ret,  # [2] per seat
            "team_return": ret.mean(),
            "private_cost": cost,  # [2]
            "free_riding": jnp.abs(cost[0] - cost[1]),
            "episodes": recorded.sum(),
        }
        for k, v in totals.contrib.items():
            metrics[k] = mean(v)
        if venv.max_steps == 1:  # one-shot games: report the exact mixed strategies
            obs, _ = venv.env.reset(key, member_venv.params)
            seat_mask = np.ones((2, A), bool) if venv.action_mask is None else venv.action_mask
            probs = [jax.nn.softmax(mask_logits(
                a.policy(a.params, (), obs[venv.agents[i]], key)[0], seat_mask[i]))
                for i, a in enumerate(heroes)]
            metrics["action_probs"] = jnp.stack(probs)  # [2, A]
        return dataclasses.replace(state, eval_key=eval_key), metrics

    return Trainer(config=cfg, venv=venv, network=net, num_learners=L, init=init,
                   update=update, evaluate=evaluate, hero_pair=hero_pair,
                   stream_order=None if order is None else tuple(int(i) for i in order),
                   needs_positive_tau=method == "srpo" and fixed is not None)
