"""Run configuration: typed sections, YAML loading, dotted overrides, validation before compile.

Every field is checked for type, range and allowed values; unknown keys are rejected with a
"did you mean" hint. Error messages name the dotted field, the bad value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import envs
from jsrpo import yamlio
from jsrpo.networks import ACTIVATIONS

METHODS = ("ippo", "self_play", "srpo", "pure_adversarial", "fcp", "psro")
#: PSRO's meta-solvers (``psro.meta_solver``)
META_SOLVERS = ("uniform", "nash", "rqe", "rae")
#: PSRO's best-response objectives (``psro.oracle``)
PSRO_ORACLES = ("risk_averse", "neutral")
#: methods that train FCP's partner pool (``fcp.partner_method``)
FCP_PARTNER_METHODS = ("self_play", "ippo")
KL_DIRECTIONS = ("adv_partner", "partner_adv")
KL_PENALTIES = ("loss", "reward")
SRPO_SCHEMES = ("pair", "shared")
ON_NONFINITE = ("stop", "continue")
NETWORK_KINDS = ("mlp", "mlp_shared", "cnn")
FROZEN_ASSIGN = ("episode", "member")
# How a learner against a pool weighs its return across the pool's policies (env.frozen.risk).
RISK_MEASURES = ("mean_variance", "entropic")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


@dataclass(frozen=True)
class FrozenConfig:
    """A seat of the env played by fixed policies (``jsrpo.frozen``), the others learning.

    ``seat``: the env's agent name or index; ``policies``: scripted agents of the env
    (``flee``, ``random:epsilon=0.1``) or run directories (every member's hero of that seat, or
    ``PATH#member``; ``@U`` for the checkpoint after update U), one drawn per episode with
    ``weights`` (uniform when None; a list of rows: member m draws with row m, e.g. each PSRO
    run's own meta-strategy); ``assign``: ``episode`` (that draw, for every member) or
    ``member`` (member m plays policy ``m mod K`` alone: several runners in one program)."""

    seat: Union[str, int] = 0
    policies: Tuple[str, ...] = ()
    weights: Optional[Tuple] = None  # floats, or one tuple of floats per member
    assign: str = "episode"
    # Risk aversion over the pool (0: the mean alone). ``mean_variance``: the learners maximise
    # mean - risk x variance of their return across the drawn policies (the RAE paper's oracle);
    # ``entropic``: -(1/risk) log E exp(-risk x return), the value left by an adversary that
    # re-draws the pool's policies at a (1/risk) KL cost to the weights (the RQE's adversary).
    risk: float = 0.0
    risk_measure: str = "mean_variance"


@dataclass(frozen=True)
class EnvConfig:
    """The environment: its registry name and constructor arguments. An argument the env
    traces (``envs.traced_kwargs``, e.g. a private-cost weight) may be a list: a sweep axis.
    ``frozen``: a seat played by fixed policies (None: every seat learns)."""

    name: str = "collab_defect"
    kwargs: dict = field(default_factory=dict)
    frozen: Optional[FrozenConfig] = None

    @property
    def base_kwargs(self) -> dict:
        """The kwargs the env is built with: a swept argument's first value (each member's own
        value is set in its params, ``ParamEnv.params_with``)."""
        traced = envs.traced_kwargs(self.name)
        return {k: v[0] if isinstance(v, tuple) and k in traced else v
                for k, v in self.kwargs.items()}

    @property
    def num_seats(self) -> int:
        """The seats that learn: the env's, less a frozen one."""
        return envs.num_seats(self.name, self.base_kwargs) - (self.frozen is not None)

    def member_kwargs(self, values: dict) -> dict:
        """The kwargs one member plays with: ``base_kwargs`` with the member's ``env.kwargs.*``
        values (``{"env.kwargs.move_cost": 0.1, ...}``; other keys are ignored)."""
        return {**self.base_kwargs, **env_values(values)}


@dataclass(frozen=True)
class TrainConfig:
    """PPO hyper-parameters shared by every method (defaults: the authors' grid-world code)."""

    total_env_steps: int = 2_000_000
    num_envs: int = 8
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 1
    lr: float = 6e-4
    anneal_lr: bool = False
    lr_end: float = 0.0  # with anneal_lr: the learning rate at the end of training
    adam_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    clip_value_loss: bool = False
    max_grad_norm: Optional[float] = None
    normalize_advantages: bool = False
    # Env steps over which an env's shaped reward (infos["shaped_reward"], e.g. Overcooked's) is
    # annealed linearly from 1 to 0 and added to the training reward; 0: never added.
    reward_shaping_horizon: float = 0.0
    # A member whose rollout returns, losses or parameters turn non-finite is frozen at its last
    # good parameters; "stop" then ends the run (keeping the last good checkpoint), "continue"
    # trains the healthy members on and lists the failed ones in summary.json.
    on_nonfinite: str = "stop"


@dataclass(frozen=True)
class SRPOConfig:
    adv_entropy_coef: float = 0.0
    kl_direction: str = "adv_partner"
    # Env steps over which the adversaries' strength w ramps linearly from 0 to 1 (0: full from
    # the start). The adversary's policy-gradient term is weighted by w, so its objective is
    # SRPO's at tau_eff = w * tau: at first it only imitates its anchor (the heroes learn to
    # cooperate as in IPPO), then it gains its full tau.
    adv_warmup: float = 0.0
    # Weight of the hero's shaped reward (train.reward_shaping_horizon) in the reward the
    # adversary minimises: 1 = the hero's whole training reward, 0 = its unshaped reward only.
    adv_shaped_reward: float = 1.0
    # Env steps during which SRPO trains as IPPO (the heroes play each other, as at tau = 0);
    # when they end, each adversary starts from its anchor's parameters (adv_0 from hero_1,
    # adv_1 from hero_0). 0: SRPO from the start.
    ippo_warmup: float = 0.0
    # Where the adversary pays (1/tau) KL: "loss", a term of its loss on the states it visited;
    # "reward", a per-step cost (1/tau) log(adv(a|s) / anchor(a|s)) in its reward, so that it
    # is traded against the hero's return in the return's own units (advantage normalisation
    # rescales both alike). "reward" needs kl_direction adv_partner.
    kl_penalty: str = "loss"
    # The authors' grid code runs a full rollout per phase (twice the env steps of IPPO).
    full_rollout_per_phase: bool = False
    # How adversaries replace partners. "pair" (two seats): a hero per seat and an adversary
    # per hero, each anchored to the hero it replaces (two groups, one per phase). "shared"
    # (any number of seats): one hero network plays every seat and one adversary network, in
    # every env of every rollout, takes one seat drawn at random, anchored to the hero.
    scheme: str = "pair"


@dataclass(frozen=True)
class NetworkConfig:
    kind: str = "mlp"  # mlp: on the flattened observation; cnn: convolutions on grid observations
    hidden_sizes: Tuple[int, ...] = (64, 64)
    activation: str = "tanh"


@dataclass(frozen=True)
class LogConfig:
    interval: int = 10  # updates between metrics rows / hero-pair evaluations
    eval_envs: int = 32  # parallel episodes of the periodic hero-pair evaluation
    final_eval_envs: int = 256  # parallel episodes of the final evaluation
    progress: bool = True
    # Trackers (optional extras): {project, entity, group, mode} for Weights & Biases; TensorBoard
    # event files under RUN_DIR/tensorboard/. Both get the metrics.jsonl rows, a run per member.
    wandb: Optional[dict] = None
    tensorboard: bool = False


@dataclass(frozen=True)
class CheckpointConfig:
    # Full learner state of every member every this many updates (a multiple of log.interval);
    # 0 saves only the final parameters and runs the whole training as one compiled program.
    every_updates: int = 0
    keep: int = 2  # newest periodic checkpoints kept (older ones deleted)
    snapshots: Tuple[float, ...] = ()  # fractions of training kept forever, e.g. [0.1, 0.5]


@dataclass(frozen=True)
class FCPConfig:
    """Fictitious Co-Play's partner pool (``method: fcp`` without ``env.frozen``). Stage 1 trains
    ``num_partners`` partners (seeds from ``partner_seed``) with ``partner_method`` for
    ``partner_env_steps`` env steps each, keeping their policies at the fractions
    ``snapshots`` of training (skill levels) and at the end; stage 2 trains the FCP agents
    against that pool, partner and seat drawn per episode, for ``train.total_env_steps``."""

    partner_method: str = "self_play"
    num_partners: int = 8
    partner_env_steps: int = 1_000_000
    snapshots: Tuple[float, ...] = (0.1, 0.5)
    partner_seed: int = 1000


@dataclass(frozen=True)
class PSROConfig:
    """PSRO (``method: psro``) on a two-seat game, a population per seat. Both start from the
    scripted agents ``initial`` (e.g. ``[mixed:p=1, mixed:p=0]``: Stag and Hare), or when there
    are none iteration 0 trains both seats for ``init_env_steps`` (0: one update). Each of
    ``iterations`` more adds to each population a best response (IPPO for its seat,
    ``train.total_env_steps``) to the other population's meta-strategy, evaluates the new
    meta-game entries over ``eval_episodes`` episodes, and solves the meta-game with
    ``meta_solver``: ``uniform`` (fictitious self-play), ``nash`` (fictitious play), ``rae``
    (fictitious play with mean-variance best responses, coefficient ``gamma``) or ``rqe`` (the
    risk-averse quantal-response equilibrium at ``meta_tau``, ``meta_eps`` of the highest
    welfare). ``oracle``: ``risk_averse`` (the best responses take the meta-solver's risk
    measure over the opponent mixture: mean-variance at ``gamma`` with ``rae``, entropic at
    ``meta_tau`` with ``rqe``, ``env.frozen.risk``; risk-neutral with the others) or
    ``neutral`` (risk-neutral PPO best responses for every meta-solver). ``populations``: 2 (one
    per seat) or 1 (a symmetric game's one population playing both seats: its start is trained
    by self-play, each best response plays the population in both seats, and the meta-game and
    meta-strategy are symmetric)."""

    iterations: int = 5
    meta_solver: str = "nash"
    oracle: str = "risk_averse"
    populations: int = 2
    gamma: float = 1.0
    meta_tau: float = 1.0
    meta_eps: float = 0.1
    init_env_steps: int = 0
    eval_episodes: int = 256
    # scripted agents both populations start from (none: iteration 0 trains the start)
    initial: Tuple[str, ...] = ()


#: Hyper-parameters that change no array shape: each may be a list in the config (a grid axis
#: of one compiled program, like tau and eps), a ``sweep.zip`` group, or a ``sweep.random``
#: parameter. Dotted key -> (section or None, field).
SWEEPABLE = {
    "tau": (None, "tau"), "eps": (None, "eps"),
    "train.lr": ("train", "lr"), "train.lr_end": ("train", "lr_end"),
    "train.clip_eps": ("train", "clip_eps"), "train.vf_coef": ("train", "vf_coef"),
    "train.gamma": ("train", "gamma"), "train.gae_lambda": ("train", "gae_lambda"),
    "train.max_grad_norm": ("train", "max_grad_norm"), "train.adam_eps": ("train", "adam_eps"),
    "train.reward_shaping_horizon": ("train", "reward_shaping_horizon"),
    "srpo.adv_entropy_coef": ("srpo", "adv_entropy_coef"),
    "srpo.adv_warmup": ("srpo", "adv_warmup"),
    "srpo.adv_shaped_reward": ("srpo", "adv_shaped_reward"),
    "srpo.ippo_warmup": ("srpo", "ippo_warmup"),
}
#: Sweepable keys that act on the adversaries only.
ADVERSARY_KEYS = ("srpo.adv_entropy_coef", "srpo.adv_warmup", "srpo.adv_shaped_reward",
                  "srpo.ippo_warmup")
DISTRIBUTIONS = ("uniform", "log_uniform", "choice")
#: Sweep keys of the env's traced constructor arguments: ``env.kwargs.<name>``.
ENV_PREFIX = "env.kwargs."


def env_values(values: dict) -> dict:
    """The env arguments among dotted ``values`` (``{"env.kwargs.move_cost": 0.1, "train.lr":
    ...}`` -> ``{"move_cost": 0.1}``)."""
    return {k[len(ENV_PREFIX):]: v for k, v in values.items() if k.startswith(ENV_PREFIX)}


def set_value(raw: dict, key: str, value) -> None:
    """Set sweepable ``key`` to ``value`` in a plain config mapping (``to_dict``'s form)."""
    if key.startswith(ENV_PREFIX):
        raw.setdefault("env", {}).setdefault("kwargs", {})[key[len(ENV_PREFIX):]] = value
        return
    section, name = SWEEPABLE[key]
    (raw if section is None else raw.setdefault(section, {}))[name] = value


def sweepable_keys(env_name: str) -> Tuple[str, ...]:
    """Every sweepable key of a run of ``env_name``: ``SWEEPABLE``, then the env's traced
    arguments (``env.kwargs.move_cost``, ...)."""
    return tuple(SWEEPABLE) + tuple(ENV_PREFIX + k for k in envs.traced_kwargs(env_name))


@dataclass(frozen=True)
class RandomParam:
    """One ``sweep.random`` parameter: ``uniform``/``log_uniform`` over ``[low, high]``, or a
    ``choice`` among ``values``."""

    key: str
    dist: str
    values: Tuple[float, ...]  # (low, high) for uniform / log_uniform; the options for choice


@dataclass(frozen=True)
class SweepConfig:
    """How members are formed beyond the Cartesian product of the list-valued keys.

    ``zip``: groups of list-valued keys taken together (equal lengths) instead of crossed.
    ``random_members``: draws of the ``random`` parameters (with ``random_seed``), each crossed
    with the other keys' lists and the seeds; 0 without random search."""

    zip: Tuple[Tuple[str, ...], ...] = ()
    random_members: int = 0
    random_seed: int = 0
    random: Tuple[RandomParam, ...] = ()


@dataclass(frozen=True)
class Config:
    method: str = "srpo"
    tau: Union[float, Tuple[float, ...]] = 10.0
    eps: Union[float, Tuple[float, ...]] = 0.1
    seed: int = 0
    num_seeds: int = 1
    env: EnvConfig = field(default_factory=EnvConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    srpo: SRPOConfig = field(default_factory=SRPOConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    fcp: FCPConfig = field(default_factory=FCPConfig)
    psro: PSROConfig = field(default_factory=PSROConfig)

    def sweepable(self) -> Tuple[str, ...]:
        """This run's sweepable keys (``sweepable_keys`` of its env)."""
        return sweepable_keys(self.env.name)

    def values(self, key: str) -> tuple:
        """The configured values of sweepable ``key`` (one, or a grid list's)."""
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):]
            v = self.env.kwargs.get(name, envs.kwarg_default(self.env.name, name))
        else:
            section, name = SWEEPABLE[key]
            v = getattr(self if section is None else getattr(self, section), name)
        return tuple(v) if isinstance(v, tuple) else (v,)

    def swept(self) -> Tuple[str, ...]:
        """The sweepable keys that take more than one value (lists and random parameters)."""
        rand = {r.key for r in self.sweep.random}
        return tuple(k for k in self.sweepable() if len(self.values(k)) > 1 or k in rand)

    def value_range(self, key: str) -> Tuple[float, float]:
        """Smallest and largest value ``key`` can take in any member."""
        for r in self.sweep.random:
            if r.key == key:
                return min(r.values), max(r.values)
        vals = [v for v in self.values(key) if v is not None]
        return (min(vals), max(vals)) if vals else (math.nan, math.nan)

    @property
    def taus(self) -> Tuple[float, ...]:
        return self.values("tau")

    @property
    def epss(self) -> Tuple[float, ...]:
        return self.values("eps")

    @functools.cached_property
    def layout(self) -> "Layout":
        """The run's derived sizes (groups, envs, updates, periods), computed once."""
        return Layout.of(self)


@dataclass(frozen=True)
class Layout:
    """Sizes every part of a run derives from its config, computed in one place.

    A rollout runs ``rollout_envs`` envs with ``num_seats`` seats in ``num_groups`` groups of
    ``envs_per_group``; each (group, seat) pair is a stream of ``samples_per_stream = envs_per_group
    x num_steps`` samples per update. SRPO's two phases (scheme "pair") are its two groups; every
    other method uses the same two-group layout whenever ``num_envs`` is even, so that SRPO at tau =
    0 runs the very same computation as IPPO. ``num_updates`` divides the budget by ``num_envs x
    num_steps``, so a member's env steps are ``num_updates x env_steps_per_update``: the budget,
    except with ``srpo.full_rollout_per_phase`` (a full rollout per phase: twice the env steps per
    update).
    Updates are logged in ``num_periods`` periods of ``log_interval`` (the last may be partial).
    """

    num_groups: int
    envs_per_group: int
    num_steps: int
    num_updates: int
    log_interval: int
    num_seats: int = 2

    @classmethod
    def of(cls, cfg: "Config") -> "Layout":
        t = cfg.train
        paired = cfg.method in ("srpo", "pure_adversarial") and cfg.srpo.scheme == "pair"
        groups = 2 if paired or t.num_envs % 2 == 0 else 1
        per_group = (t.num_envs if paired and cfg.srpo.full_rollout_per_phase
                     else t.num_envs // groups)
        updates = t.total_env_steps // (t.num_envs * t.num_steps)
        return cls(num_groups=groups, envs_per_group=per_group, num_steps=t.num_steps,
                   num_updates=updates, log_interval=max(min(cfg.log.interval, updates), 1),
                   num_seats=cfg.env.num_seats)

    @property
    def num_streams(self) -> int:
        return self.num_seats * self.num_groups

    @property
    def rollout_envs(self) -> int:
        return self.num_groups * self.envs_per_group

    @property
    def samples_per_stream(self) -> int:
        return self.envs_per_group * self.num_steps

    @property
    def env_steps_per_update(self) -> int:
        return self.rollout_envs * self.num_steps

    @property
    def env_steps_per_member(self) -> int:
        return self.num_updates * self.env_steps_per_update

    @property
    def num_periods(self) -> int:
        return -(-self.num_updates // self.log_interval)

    def period_end(self, period: int) -> int:
        """Update count at the end of logging period ``period`` (1-based)."""
        return min(period * self.log_interval, self.num_updates)

    def periods_done(self, update: int) -> int:
        """Logging periods completed once ``update`` updates are done."""
        return -(-update // self.log_interval)


# ----------------------------------------------------------------------------- validation

_SECTIONS = {
    "env": EnvConfig, "train": TrainConfig, "srpo": SRPOConfig,
    "network": NetworkConfig, "log": LogConfig, "checkpoint": CheckpointConfig,
    "sweep": SweepConfig, "fcp": FCPConfig, "psro": PSROConfig,
}


def _fail(path: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{path}: got {value!r}; allowed: {allowed}")


def _unknown(path: str, key: str, known) -> None:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f"{path}.{key}" if path else key
    raise ConfigError(f"{where}: unknown key{hint}; allowed keys: {', '.join(sorted(known))}")


#: largest integer a count or seed may be (JAX keeps counters and seeds in 32 bits).
MAX_INT = 2**31 - 1
#: largest interaction budget per member.
MAX_ENV_STEPS = 10**15
#: largest array sizes a config may ask for (envs, steps, episodes, layer widths): generous for
#: accelerators, and a typo such as an extra zero stops here instead of exhausting memory.
MAX_SIZE = 65_536
MAX_SAMPLES = 2**24  # num_envs x num_steps per update
MAX_LAYERS = 16


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _whole(v):
    """An integer, or a float with an integer value (``2e6``), as int; None otherwise."""
    if _is_int(v):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return None


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _pos_int(path, v, top: int = MAX_INT):
    n = _whole(v)
    if n is None or not 1 <= n <= top:
        _fail(path, v, f"an integer from 1 to {top}")
    return n


def _nonneg_int(path, v, top: int = MAX_INT):
    n = _whole(v)
    if n is None or not 0 <= n <= top:
        _fail(path, v, f"an integer from 0 to {top}")
    return n


def _fractions(path, v):
    if not isinstance(v, (list, tuple)) or not all(_is_num(f) and 0 < f <= 1 for f in v):
        _fail(path, v, "a list of fractions of training in (0, 1], e.g. [0.1, 0.5]")
    return tuple(float(f) for f in v)


def _nonneg_num(path, v):
    if not _is_num(v) or v < 0:
        _fail(path, v, "a finite number >= 0")
    return float(v)


def _finite_num(path, v):
    if not _is_num(v):
        _fail(path, v, "a finite number")
    return float(v)


def _pos_num(path, v):
    if not _is_num(v) or v <= 0:
        _fail(path, v, "a finite number > 0")
    return float(v)


def _unit(path, v):
    if not _is_num(v) or not 0 <= v <= 1:
        _fail(path, v, "a number in [0, 1]")
    return float(v)


def _bool(path, v):
    if not isinstance(v, bool):
        _fail(path, v, "true or false")
    return v


def _choice(path, v, options):
    if v not in options:
        close = difflib.get_close_matches(str(v), options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{path}: got {v!r}{hint}; allowed: {', '.join(options)}")
    return v


def _populations(path, v):
    if isinstance(v, bool) or v not in (1, 2):
        _fail(path, v, "1 (one population for both seats of a symmetric game) or 2 (one per "
              "seat)")
    return int(v)


def _scalar_or_list(path, v, check):
    if isinstance(v, (list, tuple)):
        if not v:
            _fail(path, v, "a number or a non-empty list of numbers")
        # (Repeated values are refused in ``_check``, which knows the zip groups: a zipped
        # key may repeat a value as long as the zipped tuples differ.)
        vals = tuple(check(f"{path}[{i}]", x) for i, x in enumerate(v))
        return vals if len(vals) > 1 else vals[0]
    return check(path, v)


_FIELD_CHECKS = {
    "train": {
        "total_env_steps": lambda p, v: _pos_int(p, v, MAX_ENV_STEPS),
        "num_envs": lambda p, v: _pos_int(p, v, MAX_SIZE),
        "num_steps": lambda p, v: _pos_int(p, v, MAX_SIZE),
        "update_epochs": _pos_int, "num_minibatches": _pos_int, "lr": _pos_num,
        "anneal_lr": _bool, "lr_end": _nonneg_num, "adam_eps": _pos_num, "gamma": _unit,
        "gae_lambda": _unit,
        "clip_eps": _pos_num, "vf_coef": _nonneg_num, "clip_value_loss": _bool,
        "max_grad_norm": lambda p, v: None if v is None else _pos_num(p, v),
        "normalize_advantages": _bool,
        "reward_shaping_horizon": _nonneg_num,
        "on_nonfinite": lambda p, v: _choice(p, v, ON_NONFINITE),
    },
    "srpo": {
        "adv_entropy_coef": _nonneg_num,
        "adv_warmup": _nonneg_num,
        "adv_shaped_reward": _unit,
        "ippo_warmup": _nonneg_num,
        "kl_direction": lambda p, v: _choice(p, v, KL_DIRECTIONS),
        "kl_penalty": lambda p, v: _choice(p, v, KL_PENALTIES),
        "full_rollout_per_phase": _bool,
        "scheme": lambda p, v: _choice(p, v, SRPO_SCHEMES),
    },
    "network": {
        "kind": lambda p, v: _choice(p, v, NETWORK_KINDS),
        "hidden_sizes": lambda p, v: _hidden(p, v),
        "activation": lambda p, v: _choice(p, v, ACTIVATIONS),
    },
    "checkpoint": {
        "every_updates": lambda p, v: _nonneg_int(p, v),
        "keep": _pos_int,
        "snapshots": lambda p, v: _fractions(p, v),
    },
    "fcp": {
        "partner_method": lambda p, v: _choice(p, v, FCP_PARTNER_METHODS),
        "num_partners": _pos_int,
        "partner_env_steps": lambda p, v: _pos_int(p, v, MAX_ENV_STEPS),
        "snapshots": lambda p, v: _fractions(p, v),
        "partner_seed": _nonneg_int,
    },
    "psro": {
        "iterations": lambda p, v: _pos_int(p, v, 1000),
        "meta_solver": lambda p, v: _choice(p, v, META_SOLVERS),
        "oracle": lambda p, v: _choice(p, v, PSRO_ORACLES),
        "populations": _populations,
        "gamma": _nonneg_num, "meta_tau": _nonneg_num, "meta_eps": _pos_num,
        "init_env_steps": lambda p, v: _nonneg_int(p, v, MAX_ENV_STEPS),
        "eval_episodes": lambda p, v: _pos_int(p, v, MAX_SIZE),
        "initial": lambda p, v: _specs(p, v),
    },
    "log": {
        "interval": _pos_int, "eval_envs": lambda p, v: _pos_int(p, v, 16 * MAX_SIZE),
        "final_eval_envs": lambda p, v: _pos_int(p, v, 16 * MAX_SIZE),
        "progress": _bool,
        "wandb": lambda p, v: _wandb(p, v),
        "tensorboard": _bool,
    },
}

WANDB_MODES = ("online", "offline", "disabled")


def _specs(path, v):
    """Scripted-agent specs: one string (empty: none) or a list of non-empty strings."""
    if isinstance(v, str):
        return (v,) if v.strip() else ()
    if isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v):
        return tuple(v)
    _fail(path, v, "a scripted agent of the env (name[:key=value]...), a list of them, or "
          "[] (train the start)")


def _wandb(path, v):
    if v is None:
        return None
    if not isinstance(v, dict):
        _fail(path, v, "null or a mapping {project, entity, group, mode}")
    for k in v:
        if k not in ("project", "entity", "group", "mode"):
            _unknown(path, str(k), ("project", "entity", "group", "mode"))
    if not isinstance(v.get("project"), str) or not v["project"].strip():
        _fail(f"{path}.project", v.get("project"), "a project name (required)")
    for k in ("entity", "group"):
        if v.get(k) is not None and not isinstance(v[k], str):
            _fail(f"{path}.{k}", v[k], "a name or null")
    _choice(f"{path}.mode", v.get("mode", "online"), WANDB_MODES)
    return {"mode": "online", **v}


def _hidden(path, v):
    if not isinstance(v, (list, tuple)) or not 1 <= len(v) <= MAX_LAYERS or not all(
            _is_int(h) and 1 <= h <= MAX_SIZE for h in v):
        _fail(path, v, f"a list of 1 to {MAX_LAYERS} integers from 1 to {MAX_SIZE}, e.g. [64, 64]")
    return tuple(v)


def _sweepable_check(name: str, key: str, check):
    """A sweepable field's check that also accepts a non-empty list of distinct values."""
    if f"{name}.{key}" not in SWEEPABLE:
        return check
    return lambda p, v: _scalar_or_list(p, v, check)


def _absolute_run(spec: str) -> str:
    """A run directory (``PATH[#member][@update]``: has a slash or exists) with its path made
    absolute; a scripted agent's spec (``name[:key=value]...``) unchanged."""
    path = spec.partition("@")[0].partition("#")[0]
    if ":" in spec or not ("/" in path or Path(path).exists()):
        return spec
    return str(Path(path).resolve()) + spec[len(path):]


def frozen_config(raw: Any) -> Optional[FrozenConfig]:
    """``env.frozen`` checked for its form (whether the policies can play the seat is checked
    when the env is built, ``jsrpo.frozen.build_env``); run paths made absolute so a run's
    saved config finds them from anywhere."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        _fail("env.frozen", raw, "a mapping with seat, policies and optionally weights")
    known = {f.name for f in dataclasses.fields(FrozenConfig)}
    for k in raw:
        if k not in known:
            _unknown("env.frozen", str(k), known)
    seat = raw.get("seat", FrozenConfig.seat)
    if isinstance(seat, bool) or not isinstance(seat, (str, int)):
        _fail("env.frozen.seat", seat, "an agent name or index of the env")
    policies = raw.get("policies")
    if isinstance(policies, str):
        policies = [policies]
    if (not isinstance(policies, list) or not policies
            or not all(isinstance(p, str) and p.strip() for p in policies)):
        _fail("env.frozen.policies", policies, "a non-empty list of scripted agent names or "
              "run directories (PATH[#member][@update])")
    policies = [_absolute_run(p) for p in policies]
    weights = raw.get("weights")
    if weights is not None:
        def row_ok(row):
            return isinstance(row, list) and row and all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                and w >= 0 for w in row) and sum(row) > 0
        rows = isinstance(weights, list) and weights and all(isinstance(r, list) for r in weights)
        if rows and all(row_ok(r) for r in weights) and len({len(r) for r in weights}) == 1:
            weights = tuple(tuple(float(w) for w in r) for r in weights)
        elif row_ok(weights):
            weights = tuple(float(w) for w in weights)
        else:
            _fail("env.frozen.weights", weights, "a list of numbers >= 0, one per policy, "
                  "not all 0; or one such list per member (rows of equal length)")
    assign = raw.get("assign", FrozenConfig.assign)
    if assign not in FROZEN_ASSIGN:
        _fail("env.frozen.assign", assign, ", ".join(map(repr, FROZEN_ASSIGN)))
    risk = _nonneg_num("env.frozen.risk", raw.get("risk", FrozenConfig.risk))
    measure = raw.get("risk_measure", FrozenConfig.risk_measure)
    if measure not in RISK_MEASURES:
        _fail("env.frozen.risk_measure", measure, ", ".join(map(repr, RISK_MEASURES)))
    return FrozenConfig(seat=seat, policies=tuple(policies), weights=weights, assign=assign,
                        risk=float(risk), risk_measure=measure)


def _build_section(name: str, raw: Any, env_name: str = EnvConfig.name):
    """One section of a config; ``env_name`` (the run's env) decides the sweep's keys."""
    cls = _SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail(name, raw, "a mapping of keys to values")
    known = ({"zip", "random"} if name == "sweep"
             else {f.name for f in dataclasses.fields(cls)})
    for k in raw:
        if k not in known:
            _unknown(name, str(k), known)
    if name == "env":
        env_name = raw.get("name", EnvConfig.name)
        kwargs = raw.get("kwargs", {}) or {}
        if not isinstance(kwargs, dict):
            _fail("env.kwargs", kwargs, "a mapping of keyword arguments")
        try:
            envs.check_name(env_name)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        allowed = envs.env_kwargs(env_name)
        traced = envs.traced_kwargs(env_name)
        kwargs = dict(kwargs)
        for k, v in kwargs.items():
            if k not in allowed:
                _unknown("env.kwargs", str(k), allowed)
            if k in traced and isinstance(v, list):
                # A sweep axis; each value's range is checked by the env's factory.
                kwargs[k] = _scalar_or_list(f"env.kwargs.{k}", v, _finite_num)
        return EnvConfig(name=env_name, kwargs=kwargs, frozen=frozen_config(raw.get("frozen")))
    if name == "sweep":
        return _build_sweep(raw, env_name)
    checks = _FIELD_CHECKS[name]
    values = {k: _sweepable_check(name, k, checks[k])(f"{name}.{k}", v) for k, v in raw.items()}
    return cls(**values)


def _field_check(key: str):
    """The validation of one value of sweepable ``key``."""
    if key.startswith(ENV_PREFIX):
        return _finite_num  # its range is the env factory's to check
    section, name = SWEEPABLE[key]
    if section is None:
        return _nonneg_num
    return _FIELD_CHECKS[section][name]


def _build_sweep(raw: dict, env_name: str) -> SweepConfig:
    keys = sweepable_keys(env_name)
    zips = raw.get("zip", []) or []
    if not isinstance(zips, list) or not all(isinstance(g, list) and len(g) >= 2 for g in zips):
        _fail("sweep.zip", zips, "a list of groups of at least two keys, e.g. "
                                 "[[train.lr, train.clip_eps]]")
    seen: set = set()
    for i, group in enumerate(zips):
        for k in group:
            if k not in keys:
                _fail(f"sweep.zip[{i}]", k, "keys of sweepable hyper-parameters: "
                      + ", ".join(keys))
            if k in seen:
                _fail(f"sweep.zip[{i}]", k, "a key in at most one zip group")
            seen.add(k)
    rand = raw.get("random")
    params: list = []
    members, seed = 0, 0
    if rand is not None:
        if not isinstance(rand, dict):
            _fail("sweep.random", rand, "a mapping with members, seed and params")
        for k in rand:
            if k not in ("members", "seed", "params"):
                _unknown("sweep.random", str(k), ("members", "seed", "params"))
        members = _pos_int("sweep.random.members", rand.get("members"), MAX_SIZE)
        seed = _nonneg_int("sweep.random.seed", rand.get("seed", 0))
        ps = rand.get("params")
        if not isinstance(ps, dict) or not ps:
            _fail("sweep.random.params", ps, "a mapping of sweepable keys to distributions, e.g. "
                  "{train.lr: {log_uniform: [1e-4, 1e-3]}, tau: {choice: [1, 10]}}")
        for k, d in ps.items():
            path = f"sweep.random.params.{k}"
            if k not in keys:
                _fail("sweep.random.params", k, "keys of sweepable hyper-parameters: "
                      + ", ".join(keys))
            if k in seen:
                _fail(path, d, "a key that is not also in a sweep.zip group")
            if not isinstance(d, dict) or len(d) != 1 or next(iter(d)) not in DISTRIBUTIONS:
                _fail(path, d, "one of {uniform: [low, high]}, {log_uniform: [low, high]}, "
                               "{choice: [v1, v2, ...]}")
            (dist, vals), = d.items()
            check = _field_check(k)
            if not isinstance(vals, list) or not vals:
                _fail(f"{path}.{dist}", vals, "a non-empty list")
            if any(v is None for v in vals):
                _fail(f"{path}.{dist}", vals, "numbers (null is not a value to draw)")
            vals = tuple(check(f"{path}.{dist}[{i}]", v) for i, v in enumerate(vals))
            if dist != "choice":
                if len(vals) != 2 or not vals[0] < vals[1]:
                    _fail(f"{path}.{dist}", list(vals), "[low, high] with low < high")
                if dist == "log_uniform" and vals[0] <= 0:
                    _fail(f"{path}.{dist}", list(vals), "[low, high] with 0 < low < high")
            elif len(set(vals)) != len(vals):
                _fail(f"{path}.choice", list(vals), "a list without repeated values")
            params.append(RandomParam(k, dist, vals))
    return SweepConfig(zip=tuple(tuple(g) for g in zips), random_members=members,
                       random_seed=seed, random=tuple(params))


def from_dict(raw: dict) -> Config:
    """Validate a plain mapping (e.g. parsed YAML) into a ``Config``; raises ``ConfigError``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(Config)}
    for k in raw:
        if k not in known:
            _unknown("", str(k), known)
    values = {}
    env_raw = raw.get("env")
    env_name = env_raw.get("name", EnvConfig.name) if isinstance(env_raw, dict) else EnvConfig.name
    for k, v in raw.items():
        if k in _SECTIONS:
            values[k] = _build_section(k, v, env_name if isinstance(env_name, str) else "")
        elif k == "method":
            values[k] = _choice("method", v, METHODS)
        elif k in ("tau", "eps"):
            values[k] = _scalar_or_list(k, v, _nonneg_num)
        elif k == "seed":
            values[k] = _nonneg_int("seed", v)
        elif k == "num_seeds":
            values[k] = _pos_int("num_seeds", v)
    cfg = Config(**values)
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: Config) -> None:
    t = cfg.train
    adversarial = cfg.method in ("srpo", "pure_adversarial")
    seats = cfg.env.num_seats
    if adversarial and seats < 2:
        _fail("method", cfg.method, "'ippo' or 'self_play' when one seat learns (env.frozen "
              f"plays the other seat of {cfg.env.name}; an adversary needs a partner to replace)")
    if adversarial and cfg.srpo.scheme == "pair" and seats != 2:
        _fail("srpo.scheme", "pair", f"'shared' for {cfg.env.name} with {seats} seats (the pair "
              "scheme gives each of two seats its own hero and adversary)")
    if adversarial and cfg.srpo.scheme == "shared" and cfg.srpo.full_rollout_per_phase:
        _fail("srpo.full_rollout_per_phase", True, "false with srpo.scheme 'shared' (it has no "
              "phases)")
    if adversarial and cfg.srpo.scheme == "pair" and t.num_envs % 2:
        _fail("train.num_envs", t.num_envs,
              f"an even number for method {cfg.method!r} (half the envs run each SRPO phase)")
    if t.num_envs * t.num_steps > MAX_SAMPLES:
        _fail("train.num_envs", t.num_envs,
              f"at most {MAX_SAMPLES} samples per update (num_envs x num_steps {t.num_steps})")
    lay = Layout.of(cfg)
    per_stream = lay.samples_per_stream
    if per_stream % t.num_minibatches:
        _fail("train.num_minibatches", t.num_minibatches,
              f"a divisor of the samples per learner stream ({per_stream} = envs per group "
              f"{lay.envs_per_group} x num_steps {t.num_steps})")
    if lay.num_updates < 1:
        _fail("train.total_env_steps", t.total_env_steps,
              f"at least num_envs x num_steps = {t.num_envs * t.num_steps} (one update)")
    if lay.num_updates > MAX_INT:
        _fail("train.total_env_steps", t.total_env_steps,
              f"at most {MAX_INT} updates of num_envs x num_steps = {t.num_envs * t.num_steps}")
    if cfg.seed + cfg.num_seeds - 1 > MAX_INT:
        _fail("num_seeds", cfg.num_seeds,
              f"at most {MAX_INT - cfg.seed + 1} with seed {cfg.seed} (seeds up to {MAX_INT})")
    every, interval = cfg.checkpoint.every_updates, cfg.log.interval
    if every and every % interval:
        _fail("checkpoint.every_updates", every,
              f"0 or a multiple of log.interval ({interval}), "
              f"e.g. {max(every // interval, 1) * interval}")
    if cfg.method == "fcp":
        _check_fcp(cfg)
    if cfg.method == "psro":
        seats = envs.num_seats(cfg.env.name, cfg.env.base_kwargs)
        if seats != 2:
            _fail("method", "psro", f"a method other than 'psro' for {cfg.env.name} with "
                  f"{seats} seats (PSRO here keeps one population per seat of a two-seat game)")
        if cfg.env.frozen is not None:
            _fail("env.frozen", "a frozen seat", "none with method 'psro' (its best responses "
                  "play against the other population)")
        size = max(len(cfg.psro.initial), 1) + cfg.psro.iterations
        if cfg.psro.meta_solver in ("nash", "rae") and len(cfg.psro.initial) > 11:
            _fail("psro.initial", list(cfg.psro.initial), f"at most 11 policies with meta_solver "
                  f"{cfg.psro.meta_solver!r} (its exact best responses enumerate the supports "
                  "of at most 12 policies)")
        if cfg.psro.meta_solver in ("nash", "rae") and size > 12:
            top = 12 - size + cfg.psro.iterations
            _fail("psro.iterations", cfg.psro.iterations, f"at most {top} with meta_solver "
                  f"{cfg.psro.meta_solver!r} and {len(cfg.psro.initial)} "
                  "initial policies (its exact best responses enumerate the supports of at "
                  "most 12 policies)")
        if cfg.swept() or cfg.sweep.random:
            _fail("method", "psro", "a single value of every hyper-parameter with method "
                  f"'psro' (it sweeps seeds only; swept: {', '.join(cfg.swept())})")
    fz = cfg.env.frozen
    if fz is not None and fz.weights and isinstance(fz.weights[0], tuple):
        if cfg.swept() or cfg.sweep.random or len(fz.weights) != cfg.num_seeds:
            _fail("env.frozen.weights", [list(r) for r in fz.weights],
                  f"one row per member: {cfg.num_seeds} rows for num_seeds {cfg.num_seeds} "
                  "(rows are for runs that sweep nothing but the seed)")
        if fz.assign != "episode":
            _fail("env.frozen.assign", fz.assign, "'episode' with one row of weights per member")
    if cfg.method in ("ippo", "self_play", "pure_adversarial", "fcp") and "tau" in cfg.swept():
        _fail("tau", list(cfg.taus) if len(cfg.taus) > 1 else "a random parameter",
              f"a single value for method {cfg.method!r} (tau only acts in 'srpo')")
    if cfg.srpo.kl_penalty == "reward" and cfg.srpo.kl_direction != "adv_partner":
        _fail("srpo.kl_penalty", "reward", "'loss' with srpo.kl_direction "
              f"{cfg.srpo.kl_direction!r} (a sampled log-ratio in the reward estimates "
              "KL(adversary || anchor) only)")
    for key in ADVERSARY_KEYS:
        if cfg.method in ("ippo", "self_play", "fcp") and key in cfg.swept():
            _fail(key, list(cfg.values(key)),
                  f"a single value for method {cfg.method!r} (it has no adversary)")
    if cfg.method != "srpo" and "srpo.ippo_warmup" in cfg.swept():
        _fail("srpo.ippo_warmup", list(cfg.values("srpo.ippo_warmup")),
              f"a single value for method {cfg.method!r} (the IPPO warm-up acts in 'srpo' only)")
    for i, group in enumerate(cfg.sweep.zip):
        lengths = {k: len(cfg.values(k)) for k in group}
        if len(set(lengths.values())) != 1 or min(lengths.values()) < 2:
            _fail(f"sweep.zip[{i}]", list(group),
                  "keys whose values are lists of one equal length >= 2 (got lengths "
                  + ", ".join(f"{k}: {n}" for k, n in lengths.items()) + ")")
        rows = list(zip(*[cfg.values(k) for k in group]))
        if len(set(rows)) != len(rows):
            _fail(f"sweep.zip[{i}]", [list(cfg.values(k)) for k in group],
                  "lists that never repeat a combination (members would be identical)")
    zipped = {k for group in cfg.sweep.zip for k in group}
    for key in cfg.sweepable():
        vals = cfg.values(key)
        if key not in zipped and len(set(vals)) != len(vals):
            _fail(key, list(vals), "a list without repeated values")
    for r in cfg.sweep.random:
        if len(cfg.values(r.key)) > 1:
            _fail(r.key, list(cfg.values(r.key)), f"a single value: it is drawn by "
                  f"sweep.random.params.{r.key}")
    if "train.lr_end" in cfg.swept() and not t.anneal_lr:
        _fail("train.lr_end", list(cfg.values("train.lr_end")),
              "a single value unless train.anneal_lr is true (it is the annealed end value)")
    if "train.max_grad_norm" in cfg.swept() and None in cfg.values("train.max_grad_norm"):
        _fail("train.max_grad_norm", list(cfg.values("train.max_grad_norm")), "numbers")


def _check_fcp(cfg: Config) -> None:
    """FCP trains one agent for every seat of a two-seat game against a pool: its own
    (``env.frozen`` with ``seat: each``) or the one stage 1 trains (no ``env.frozen``)."""
    seats = envs.num_seats(cfg.env.name, cfg.env.base_kwargs)
    if seats != 2:
        _fail("method", "fcp", f"a method other than 'fcp' for {cfg.env.name} with {seats} seats "
              "(Fictitious Co-Play trains one agent for both seats of a two-seat game)")
    if cfg.env.frozen is not None and cfg.env.frozen.seat != "each":
        _fail("env.frozen.seat", cfg.env.frozen.seat, "'each' with method 'fcp' (the FCP agent "
              "meets its pool in every seat)")
    f = cfg.fcp
    if cfg.env.frozen is None and (f.partner_seed < cfg.seed + cfg.num_seeds
                                   and cfg.seed < f.partner_seed + f.num_partners):
        _fail("fcp.partner_seed", f.partner_seed, f"a first seed whose {f.num_partners} seeds "
              f"miss the agents' ({cfg.seed}..{cfg.seed + cfg.num_seeds - 1}): an agent and a "
              "partner of one seed would start as the same network")
    if cfg.env.frozen is None and cfg.fcp.snapshots and max(cfg.fcp.snapshots) >= 1:
        _fail("fcp.snapshots", list(cfg.fcp.snapshots), "fractions in (0, 1) (the final "
              "policies are always in the pool)")


# ----------------------------------------------------------------------------- loading

def to_dict(cfg: Config) -> dict:
    """Plain YAML-safe mapping of a config (tuples become lists)."""
    def plain(x):
        if isinstance(x, tuple):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x
    out = plain(dataclasses.asdict(cfg))
    sw = cfg.sweep  # in the form the config file gives it, so that it reads back the same
    out["sweep"] = {"zip": [list(g) for g in sw.zip]}
    for method in ("fcp", "psro"):  # their settings mean nothing to other methods
        if cfg.method != method:
            del out[method]
    if sw.random_members:
        out["sweep"]["random"] = {"members": sw.random_members, "seed": sw.random_seed,
                                  "params": {r.key: {r.dist: list(r.values)} for r in sw.random}}
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)``; values are parsed as YAML
    (``jsrpo.yamlio``: ``1e-3`` is a number; quote a value to keep it a string)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value, e.g. train.lr=3e-4")
    key, _, value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: expected a dotted key such as train.lr")
    try:
        parsed = yamlio.loads(value, f"override {key}") if value.strip() else None
    except yamlio.YamlError as e:
        raise ConfigError(str(e)) from None
    return key, parsed


def merge(base: Any, update: Any) -> Any:
    """``update`` over ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(update, dict):
        out = dict(base)
        for k, v in update.items():
            out[k] = merge(base.get(k), v)
        return out
    return update


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply dotted ``key=value`` overrides to a raw mapping (validated later by ``from_dict``).

    A mapping value merges into the section it names (``'train={lr: 1e-3}'`` changes only
    ``train.lr``), the same as ``train.lr=1e-3``."""
    raw = dict(raw or {})
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node = raw
        for depth, p in enumerate(parts[:-1]):
            child = node.get(p)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {key}: {'.'.join(parts[:depth + 1])} is not a section")
            node[p] = dict(child)
            node = node[p]
        node[parts[-1]] = merge(node.get(parts[-1]), value)
    return raw


def load(path: Union[str, Path, None] = None, overrides=()) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None), apply overrides, validate."""
    raw: Any = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            what = "is a directory, not a config file" if p.is_dir() else "no such file"
            raise ConfigError(f"--config: {what} {str(p)!r}")
        try:
            raw = yamlio.load_file(p)
        except yamlio.YamlError as e:
            raise ConfigError(f"--config {e}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"--config {p}: expected a mapping of keys to values at the top "
                              f"level, got {type(raw).__name__}")
    return from_dict(apply_overrides(raw, overrides))
