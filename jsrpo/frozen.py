"""Seats played by frozen policies: any seat of an environment can be taken by a fixed policy (a
saved hero of a jsrpo run, a scripted agent, or a mixture of them drawn per episode), which
makes a game of the remaining seats that every method trains on unchanged (MPE Tag's chasers
against a pre-trained runner).

The frozen policies are data: their parameters and the mixture's weights sit in the env params
(``FrozenParams``), so a function given other params of the same shape plays another pool
without recompiling; an evaluation plays each policy of a pool alone by swapping the weights
(``one_policy``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxmarl.environments.spaces import Box

import envs
from envs.base import ParamEnv
from jsrpo import partners
from jsrpo.agents import Agent, check_agent
from jsrpo.checkpoint import load_run, saved_steps
from jsrpo.config import FrozenConfig, frozen_config
from jsrpo.rundir import EnvSpec


@struct.dataclass
class FrozenParams:
    inner: Any  # the inner env's params
    pool: tuple  # per agent kind: the kind's agents' params stacked on a leading axis
    # Pool entry k playing the frozen seat's slot j (slot 0 for a fixed seat; with ``seat:
    # each`` slot j is inner seat j, so a policy keeps one agent per seat it may play):
    kind: chex.Array  # [K, J] int32: the agent's kind (an index into ``pool``)
    index: chex.Array  # [K, J] int32: the agent's position in its kind's stack
    logits: chex.Array  # [K] float32: log-weights of the per-episode draw (-inf: never)


@struct.dataclass
class FrozenState:
    inner: Any  # the inner env's state
    obs: chex.Array  # [*obs_shape] the frozen seat's current observation
    policy: chex.Array  # [] int32: the pool entry playing this episode
    agent_state: tuple  # per kind: its agent state (only the playing entry's kind advances)
    action: chex.Array  # [] int32: the frozen seat's last action (0 after a reset)
    reward: chex.Array  # [] float32: the frozen seat's last reward (0 after a reset)
    # [] int32: the inner seat the pool plays this episode (``seat: each``; None for a fixed
    # seat, so the state, and checkpoints holding it, keep their structure)
    seat: Any = None


#: ``env.frozen.seat`` value for a seat drawn per episode
EACH = "each"


class FrozenSeats(ParamEnv):
    """``inner`` with seat ``seat`` played by a policy drawn per episode from ``agents``
    (weights ``weights``, uniform if None); ``inner_kwargs``: the arguments ``inner`` was built
    with.

    A fixed ``seat`` (an index): the other seats learn, in their order. ``seat=None``: the
    frozen seat is drawn per episode, uniformly (every seat of a symmetric game in turn, as
    Fictitious Co-Play trains), and learner j plays the j-th seat after it; then ``agents`` holds
    one list per policy with its agent for each inner seat, the seats must have equal
    observation shapes and action counts, and flat observations that do not say which seat
    they belong to get a one-hot of the inner seat appended (as a self-play network of the
    inner game sees them, so the learner deploys there).

    Per-seat outputs (rewards, private costs, contributions, legal moves) drop the frozen seat.
    """

    def __init__(self, inner: ParamEnv, seat: Optional[int], agents: Sequence,
                 weights: Optional[Sequence[float]] = None, inner_kwargs: Optional[dict] = None):
        super().__init__(num_agents=inner.num_agents - 1)
        P = inner.num_agents
        self.inner, self.seat = inner, seat
        #: the arguments ``inner`` was built with (scripted agents for the seat read them)
        self.inner_kwargs = dict(inner_kwargs or {})
        for name in ("contribution_keys", "max_steps", "traced_kwargs", "has_legal_moves",
                     "registry_name"):
            if hasattr(inner, name):
                setattr(self, name, getattr(inner, name))
        self.egocentric_obs = getattr(inner, "egocentric_obs", False)
        obs = jax.eval_shape(inner.reset, jax.random.PRNGKey(0))[0]
        if seat is None:
            shapes = {tuple(obs[a].shape) for a in inner.agents}
            counts = {int(getattr(inner.action_space(a), "n")) for a in inner.agents}
            if len(shapes) != 1 or len(counts) != 1:
                raise ValueError(f"env.frozen.seat: {EACH!r} needs seats with equal observation "
                                 f"shapes and action counts; {getattr(inner, 'registry_name', '')}"
                                 f" has {sorted(shapes)} and {sorted(counts)} (name a seat)")
            per_policy = [list(a) for a in agents]
            if any(len(a) != P for a in per_policy):
                raise ValueError(f"FrozenSeats: with seat None each policy needs one agent per "
                                 f"seat ({P})")
            self.agents = ["learner"] if P == 2 else [f"learner_{j}" for j in range(P - 1)]
            self.frozen_agent = "frozen"
            shape = next(iter(shapes))
            #: append the inner seat's one-hot to the learners' flat observations
            self.seat_onehot = len(shape) == 1 and not self.egocentric_obs
            self.egocentric_obs = True  # the learners' observations say their seat
            self.inner_obs_shape = shape
            learner_shape = (shape[0] + P,) if self.seat_onehot else shape
            space = inner.observation_space(inner.agents[0])
            self.observation_spaces = {a: (_box(learner_shape) if self.seat_onehot else space)
                                       for a in self.agents}
            self.action_spaces = {a: inner.action_space(inner.agents[0]) for a in self.agents}
        else:
            per_policy = [[a] for a in agents]
            self.frozen_agent = inner.agents[seat]
            self.agents = [a for i, a in enumerate(inner.agents) if i != seat]
            self.keep = np.array([i for i in range(P) if i != seat])
            self.seat_onehot = False
            self.observation_spaces = {a: inner.observation_space(a) for a in self.agents}
            self.action_spaces = {a: inner.action_space(a) for a in self.agents}
        flat = [a for slots in per_policy for a in slots]
        kinds: list[str] = []
        for a in flat:
            if a.kind not in kinds:
                kinds.append(a.kind)
        self.policies = tuple(next(a for a in flat if a.kind == k) for k in kinds)
        self.names = tuple(_policy_name(slots) for slots in per_policy)
        stacks = tuple(jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]),
                                    *[a.params for a in flat if a.kind == k]) for k in kinds)
        index = [sum(b.kind == a.kind for b in flat[:i]) for i, a in enumerate(flat)]
        J = len(per_policy[0])
        w = np.ones(len(per_policy)) if weights is None else np.asarray(weights, np.float64)
        if w.ndim == 2:  # one row per member (``member_pools`` gives each its own)
            w = w[0]
        self._default = FrozenParams(
            inner=inner.default_params, pool=stacks,
            kind=jnp.asarray([kinds.index(a.kind) for a in flat], jnp.int32).reshape(-1, J),
            index=jnp.asarray(index, jnp.int32).reshape(-1, J),
            logits=_logits(w))

    @property
    def default_params(self) -> FrozenParams:
        return self._default

    def one_policy(self, params: FrozenParams, entry) -> FrozenParams:
        """``params`` with pool entry ``entry`` (may be traced) playing every episode."""
        k = params.logits.shape[0]
        return dataclasses.replace(params, logits=jnp.where(jnp.arange(k) == entry, 0.0,
                                                             -jnp.inf))

    def params_with(self, params, values):
        return dataclasses.replace(params, inner=self.inner.params_with(params.inner, values))

    def learner_seats(self, state: FrozenState):
        """The inner seat of each learner, ``[P - 1]`` (static for a fixed frozen seat)."""
        if self.seat is not None:
            return self.keep
        P = self.inner.num_agents
        return (state.seat + 1 + jnp.arange(P - 1)) % P

    def legal_moves(self, state, params) -> jax.Array:
        return self.inner.legal_moves(state.inner, params.inner)[self.learner_seats(state)]

    def _act(self, params: FrozenParams, state: FrozenState, key):
        """The frozen seat's action and the agents' next states."""
        key_policy, key_sample = jax.random.split(key)
        slot = 0 if self.seat is not None else state.seat
        kind, index = params.kind[state.policy, slot], params.index[state.policy, slot]

        def branch(b):
            def run(_):
                p = jax.tree.map(lambda x: x[index], params.pool[b])
                logits, s = self.policies[b].policy(p, state.agent_state[b], state.obs,
                                                    key_policy)
                states = tuple(s if j == b else state.agent_state[j]
                               for j in range(len(self.policies)))
                return logits.astype(jnp.float32), states
            return run

        logits, agent_state = jax.lax.switch(kind, [branch(b) for b in range(
            len(self.policies))], None)
        if getattr(self.inner, "has_legal_moves", False):
            frozen = self.seat if self.seat is not None else state.seat
            legal = self.inner.legal_moves(state.inner, params.inner)[frozen]
            logits = jnp.where(legal, logits, -jnp.inf)
        return jax.random.categorical(key_sample, logits), agent_state

    def _outer_obs(self, obs: dict, seat) -> tuple[dict, chex.Array]:
        """The learners' observations and the frozen seat's, from the inner game's."""
        if self.seat is not None:
            return {a: obs[a] for a in self.agents}, obs[self.frozen_agent]
        P = self.inner.num_agents
        stacked = jnp.stack([obs[a] for a in self.inner.agents])  # [P, ...]
        out = {}
        for j, a in enumerate(self.agents):
            s = (seat + 1 + j) % P
            o = stacked[s]
            if self.seat_onehot:
                o = jnp.concatenate([o.astype(jnp.float32), jax.nn.one_hot(s, P)])
            out[a] = o
        return out, stacked[seat]

    def _split(self, obs, state_inner, params, key) -> FrozenState:
        key_draw, key_agent = jax.random.split(key)
        seat = None
        if self.seat is None:
            key_draw, key_seat = jax.random.split(key_draw)
            seat = jax.random.randint(key_seat, (), 0, self.inner.num_agents).astype(jnp.int32)
        policy = jax.random.categorical(key_draw, params.logits).astype(jnp.int32)
        agent_state = tuple(a.init_state(key_agent) for a in self.policies)
        _, frozen_obs = self._outer_obs(obs, seat)
        return FrozenState(inner=state_inner, obs=frozen_obs, policy=policy,
                           agent_state=agent_state, action=jnp.zeros((), jnp.int32),
                           reward=jnp.zeros((), jnp.float32), seat=seat)

    def reset_env(self, key, params):
        key_env, key_frozen = jax.random.split(key)
        obs, inner = self.inner.reset_env(key_env, params.inner)
        state = self._split(obs, inner, params, key_frozen)
        return self._outer_obs(obs, state.seat)[0], state

    def step_env(self, key, state, actions, params):
        key_act, key_env = jax.random.split(key)
        action, agent_state = self._act(params, state, key_act)
        if self.seat is None:
            P = self.inner.num_agents
            seats = self.learner_seats(state)
            acts = jnp.zeros((P,), jnp.int32).at[state.seat].set(action)
            acts = acts.at[seats].set(jnp.stack([actions[a] for a in self.agents]))
            full = {a: acts[i] for i, a in enumerate(self.inner.agents)}
        else:
            full = dict(actions) | {self.frozen_agent: action}
        obs, inner, rewards, dones, infos = self.inner.step_env(key_env, state.inner, full,
                                                                params.inner)
        out_obs, frozen_obs = self._outer_obs(obs, state.seat)
        if self.seat is None:
            r = jnp.stack([jnp.asarray(rewards[a]) for a in self.inner.agents])
            frozen_reward = r[state.seat]
            out_rewards = {a: r[s] for a, s in zip(self.agents, self.learner_seats(state))}
        else:
            frozen_reward = rewards[self.frozen_agent]
            out_rewards = {a: rewards[a] for a in self.agents}
        state = state.replace(inner=inner, obs=frozen_obs, agent_state=agent_state,
                              action=action.astype(jnp.int32),
                              reward=jnp.asarray(frozen_reward, jnp.float32))
        keep = self.learner_seats(state)
        infos = {k: (v[keep] if getattr(v, "ndim", 0) >= 1
                     and v.shape[0] == self.inner.num_agents else v) for k, v in infos.items()}
        if self.seat is None:
            out_dones = {a: dones["__all__"] for a in self.agents}
        else:
            out_dones = {a: dones[a] for a in self.agents}
        return out_obs, state, out_rewards, out_dones | {"__all__": dones["__all__"]}, infos

    def unwrap(self, episode: dict, names: Sequence[str]) -> tuple:
        """A recorded episode of this env (``render.record_episode``: ``states`` ``[T+1]``,
        ``actions``/``rewards`` ``[T, P-1]``) as one of the inner game, the frozen seat's moves
        and rewards put back in its column: ``(inner env, episode, names)``, the frozen seat
        named after the pool entry that played it."""
        st = episode["states"]
        seat = self.seat if self.seat is not None else int(np.asarray(st.seat)[0])
        P = self.inner.num_agents
        learners = ([int(i) for i in self.keep] if self.seat is not None
                    else [(seat + 1 + j) % P for j in range(P - 1)])

        def col(x, v):
            x = np.asarray(x)
            out = np.zeros(x.shape[:1] + (P,) + x.shape[2:], x.dtype)
            out[:, learners] = x
            out[:, seat] = np.asarray(v)[1:]
            return out

        played = self.names[int(np.asarray(st.policy)[0])]
        full = [""] * P
        for j, s in enumerate(learners):
            full[s] = list(names)[j]
        full[seat] = f"frozen {played}"
        return self.inner, {**episode, "states": st.inner,
                            "actions": col(episode["actions"], st.action),
                            "rewards": col(episode["rewards"], st.reward)}, full


def _logits(w: np.ndarray) -> jax.Array:
    """Log-weights of a per-episode draw (-inf where a weight is 0)."""
    return jnp.asarray(np.where(w > 0, np.log(np.maximum(w, 1e-300)), -np.inf), jnp.float32)


def _policy_name(slots: Sequence[Agent]) -> str:
    """A pool policy's name: its agent's, or with one agent per seat the common part."""
    if len(slots) == 1:
        return slots[0].name
    base = slots[0].name
    return base[:-len("-seat0")] if base.endswith("-seat0") else base


def _box(shape):
    """An unbounded float ``Box`` of ``shape`` (observations with the seat id appended)."""
    return Box(low=-np.inf, high=np.inf, shape=shape, dtype=jnp.float32)


def member_pools(env: ParamEnv, assign: str, indices: Sequence[int],
                 weights: Optional[Sequence] = None) -> Optional[dict]:
    """Each member's frozen-seat pool as program inputs (``train.Hyper.frozen``): ``{"pool",
    "logits"}`` with leading axis ``[M]`` for members ``indices``. ``assign="member"``: member m
    plays pool entry ``m mod K`` alone; ``"episode"``: every member draws from the whole pool
    by its weights, member m by row m when ``weights`` has one row per member. None for an
    env without a frozen seat."""
    if not isinstance(env, FrozenSeats):
        return None
    d = env.default_params
    k = d.logits.shape[0]
    per_member = weights is not None and len(weights) > 0 and isinstance(weights[0],
                                                                         (tuple, list))
    if per_member:
        rows = [_logits(np.asarray((weights or [])[i], np.float64)) for i in indices]
    else:
        rows = [env.one_policy(d, i % k).logits if assign == "member" else d.logits
                for i in indices]
    m = len(rows)
    return {"pool": jax.tree.map(lambda x: jnp.broadcast_to(x, (m,) + x.shape), d.pool),
            "logits": jnp.stack(rows)}


# ------------------------------------------------------------------ building from a config

def _run_agents(spec: str, env_name: str, inner: ParamEnv, seats: Sequence[int],
                where: str) -> list:
    """The heroes of ``seats`` in a run, one list per member: ``PATH`` (every member), ``PATH#m``
    (member m), either with ``@U`` (the periodic checkpoint after update U, e.g. an early
    snapshot)."""
    spec, _, step = spec.partition("@")
    path, _, member = spec.partition("#")
    if not Path(path).is_dir():
        scripted = partners.get(env_name)
        raise ValueError(f"{where}: got {spec!r}; allowed: a scripted agent of {env_name} "
                         f"({scripted.describe() if scripted else 'none'}) or a run directory "
                         "PATH[#member][@update]")
    if step and not step.isdigit():
        raise ValueError(f"{where}: update {step!r} of {path}; allowed: a saved update "
                         f"({', '.join(map(str, saved_steps(path))) or 'none saved'})")
    try:
        ckpt = load_run(path, int(step) if step else None)
    except ValueError as e:  # a step that was not saved
        raise ValueError(f"{where}: {path}: {e}") from None
    except Exception as e:  # a directory that is not a finished run: say which and why
        raise ValueError(f"{where}: {path} is not a finished jsrpo run ({e})") from None
    meta = ckpt.meta
    if meta.env.name != env_name or meta.num_seats != inner.num_agents:
        raise ValueError(f"{where}: {path} trained on {meta.env.name} with {meta.num_seats} "
                         f"seats; the frozen seat needs a run of {env_name} with "
                         f"{inner.num_agents}")
    members = range(len(ckpt.members))
    if member:
        if not member.isdigit() or int(member) >= len(ckpt.members):
            raise ValueError(f"{where}: member {member!r} of {path}; allowed: 0.."
                             f"{len(ckpt.members) - 1}")
        members = range(int(member), int(member) + 1)
    return [[ckpt.hero(m, s, int(step) if step else None) for s in seats] for m in members]


def frozen_agents(cfg: FrozenConfig, env_name: str, inner: ParamEnv, kwargs: dict) -> list:
    """The agents of ``cfg.policies`` for seat ``cfg.seat`` of ``inner``, one list per policy
    with its agent for each seat it may play (one seat, or every seat with ``seat: each``);
    ``ValueError`` naming ``env.frozen.policies[i]`` when one cannot play it."""
    seat = seat_index(cfg.seat, inner)
    seats = range(inner.num_agents) if seat is None else [seat]
    scripted = partners.get(env_name)
    obs = jax.eval_shape(inner.reset, jax.random.PRNGKey(0))[0]
    out: list[list[Agent]] = []
    for i, spec in enumerate(cfg.policies):
        where = f"env.frozen.policies[{i}]"
        name = str(spec).split(":")[0]
        if scripted is not None and name in scripted.names:
            try:
                policies = [[partners.parse(env_name, spec, s, kwargs) for s in seats]]
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        else:
            policies = _run_agents(str(spec), env_name, inner, seats, where)
        for slots in policies:
            for s, a in zip(seats, slots):
                agent = inner.agents[s]
                try:
                    check_agent(a, env_name, obs[agent].shape,
                                int(getattr(inner.action_space(agent), "n")),
                                role="frozen policy")
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
        out += policies
    return out


def seat_index(seat, inner: ParamEnv) -> Optional[int]:
    """``env.frozen.seat`` (an agent name or index of ``inner``, or ``each``) as an index (None
    for ``each``: the seat is drawn per episode)."""
    names = list(inner.agents)
    if seat == EACH:
        return None
    if isinstance(seat, str) and seat in names:
        return names.index(seat)
    if isinstance(seat, int) and not isinstance(seat, bool) and 0 <= seat < len(names):
        return seat
    raise ValueError(f"env.frozen.seat: got {seat!r}; allowed: {', '.join(names)}, 0.."
                     f"{len(names) - 1} or {EACH!r} (drawn per episode)")


def build_env(name: str, kwargs: dict, frozen: Optional[FrozenConfig] = None) -> ParamEnv:
    """``envs.make(name, **kwargs)``, with the seat ``frozen`` names played by its policies."""
    env = envs.make(name, **kwargs)
    if frozen is None:
        return env
    if env.num_agents < 2:
        raise ValueError(f"env.frozen: {name} has {env.num_agents} seat; freezing one needs "
                         "at least two (one must learn)")
    agents = frozen_agents(frozen, name, env, kwargs)
    weights = None
    if frozen.weights is not None:
        rows = frozen.weights if isinstance(frozen.weights[0], tuple) else [frozen.weights]
        if len(rows[0]) != len(agents):
            names = ", ".join(_policy_name(a) for a in agents)
            raise ValueError(f"env.frozen.weights: got {len(rows[0])} weights; allowed: "
                             f"one per frozen policy ({len(agents)}: {names})")
        weights = frozen.weights
    seat = seat_index(frozen.seat, env)
    return FrozenSeats(env, seat, agents if seat is None else [a[0] for a in agents], weights,
                       kwargs)


def env_of(spec: EnvSpec) -> ParamEnv:
    """The environment a run's ``EnvSpec`` describes (a member's: ``RunMeta.member_env``)."""
    return build_env(spec.name, spec.kwargs, frozen_config(spec.frozen))
