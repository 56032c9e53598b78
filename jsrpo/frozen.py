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
    kind: chex.Array  # [K] int32: the pool entry's kind (an index into ``pool``)
    index: chex.Array  # [K] int32: the entry's position in its kind's stack
    logits: chex.Array  # [K] float32: log-weights of the per-episode draw (-inf: never)


@struct.dataclass
class FrozenState:
    inner: Any  # the inner env's state
    obs: chex.Array  # [*obs_shape] the frozen seat's current observation
    policy: chex.Array  # [] int32: the pool entry playing this episode
    agent_state: tuple  # per kind: its agent state (only the playing entry's kind advances)
    action: chex.Array  # [] int32: the frozen seat's last action (0 after a reset)
    reward: chex.Array  # [] float32: the frozen seat's last reward (0 after a reset)


class FrozenSeats(ParamEnv):
    """``inner`` with seat ``seat`` played by a policy drawn per episode from ``agents``
    (weights ``weights``, uniform if None); the other seats keep their order. ``inner_kwargs``:
    the arguments ``inner`` was built with.

    Per-seat outputs (rewards, private costs, contributions, legal moves) drop the frozen seat.
    """

    def __init__(self, inner: ParamEnv, seat: int, agents: Sequence[Agent],
                 weights: Optional[Sequence[float]] = None, inner_kwargs: Optional[dict] = None):
        super().__init__(num_agents=inner.num_agents - 1)
        self.inner, self.seat = inner, seat
        #: the arguments ``inner`` was built with (scripted agents for the seat read them)
        self.inner_kwargs = dict(inner_kwargs or {})
        self.frozen_agent = inner.agents[seat]
        self.agents = [a for i, a in enumerate(inner.agents) if i != seat]
        self.keep = np.array([i for i in range(inner.num_agents) if i != seat])
        self.observation_spaces = {a: inner.observation_space(a) for a in self.agents}
        self.action_spaces = {a: inner.action_space(a) for a in self.agents}
        for name in ("contribution_keys", "max_steps", "traced_kwargs", "has_legal_moves",
                     "registry_name"):
            if hasattr(inner, name):
                setattr(self, name, getattr(inner, name))
        self.egocentric_obs = getattr(inner, "egocentric_obs", False)
        kinds: list[str] = []
        for a in agents:
            if a.kind not in kinds:
                kinds.append(a.kind)
        self.policies = tuple(next(a for a in agents if a.kind == k) for k in kinds)
        self.names = tuple(a.name for a in agents)
        stacks = tuple(jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]),
                                    *[a.params for a in agents if a.kind == k]) for k in kinds)
        index = [sum(b.kind == a.kind for b in agents[:i]) for i, a in enumerate(agents)]
        w = np.ones(len(agents)) if weights is None else np.asarray(weights, np.float64)
        self._default = FrozenParams(
            inner=inner.default_params, pool=stacks,
            kind=jnp.asarray([kinds.index(a.kind) for a in agents], jnp.int32),
            index=jnp.asarray(index, jnp.int32),
            logits=jnp.asarray(np.where(w > 0, np.log(np.maximum(w, 1e-300)), -np.inf),
                               jnp.float32))

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

    def legal_moves(self, state, params) -> jax.Array:
        return self.inner.legal_moves(state.inner, params.inner)[self.keep]

    def _act(self, params: FrozenParams, state: FrozenState, key):
        """The frozen seat's action and the agents' next states."""
        key_policy, key_sample = jax.random.split(key)
        kind, index = params.kind[state.policy], params.index[state.policy]

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
            legal = self.inner.legal_moves(state.inner, params.inner)[self.seat]
            logits = jnp.where(legal, logits, -jnp.inf)
        return jax.random.categorical(key_sample, logits), agent_state

    def _split(self, obs, state_inner, params, key) -> FrozenState:
        key_draw, key_agent = jax.random.split(key)
        policy = jax.random.categorical(key_draw, params.logits).astype(jnp.int32)
        agent_state = tuple(a.init_state(key_agent) for a in self.policies)
        return FrozenState(inner=state_inner, obs=obs[self.frozen_agent], policy=policy,
                           agent_state=agent_state, action=jnp.zeros((), jnp.int32),
                           reward=jnp.zeros((), jnp.float32))

    def reset_env(self, key, params):
        key_env, key_frozen = jax.random.split(key)
        obs, inner = self.inner.reset_env(key_env, params.inner)
        state = self._split(obs, inner, params, key_frozen)
        return {a: obs[a] for a in self.agents}, state

    def step_env(self, key, state, actions, params):
        key_act, key_env = jax.random.split(key)
        action, agent_state = self._act(params, state, key_act)
        full = dict(actions) | {self.frozen_agent: action}
        obs, inner, rewards, dones, infos = self.inner.step_env(key_env, state.inner, full,
                                                                params.inner)
        state = state.replace(inner=inner, obs=obs[self.frozen_agent], agent_state=agent_state,
                              action=action.astype(jnp.int32),
                              reward=jnp.asarray(rewards[self.frozen_agent], jnp.float32))
        infos = {k: (v[self.keep] if getattr(v, "ndim", 0) >= 1
                     and v.shape[0] == self.inner.num_agents else v) for k, v in infos.items()}
        return ({a: obs[a] for a in self.agents}, state, {a: rewards[a] for a in self.agents},
                {a: dones[a] for a in self.agents} | {"__all__": dones["__all__"]}, infos)


    def unwrap(self, episode: dict, names: Sequence[str]) -> tuple:
        """A recorded episode of this env (``render.record_episode``: ``states`` ``[T+1]``,
        ``actions``/``rewards`` ``[T, P-1]``) as one of the inner game, the frozen seat's moves
        and rewards put back in its column: ``(inner env, episode, names)``, the frozen seat
        named after the pool entry that played it."""
        st = episode["states"]
        col = lambda x, v: np.insert(np.asarray(x), self.seat, np.asarray(v)[1:], axis=1)
        played = self.names[int(np.asarray(st.policy)[0])]
        names = list(names)
        names.insert(self.seat, f"frozen {played}")
        return self.inner, {**episode, "states": st.inner,
                            "actions": col(episode["actions"], st.action),
                            "rewards": col(episode["rewards"], st.reward)}, names


def member_pools(env: ParamEnv, assign: str, indices: Sequence[int]) -> Optional[dict]:
    """Each member's frozen-seat pool as program inputs (``train.Hyper.frozen``): ``{"pool",
    "logits"}`` with leading axis ``[M]`` for members ``indices``. ``assign="member"``: member m
    plays pool entry ``m mod K`` alone; ``"episode"``: every member draws from the whole pool
    by its weights. None for an env without a frozen seat."""
    if not isinstance(env, FrozenSeats):
        return None
    d = env.default_params
    k = d.logits.shape[0]
    rows = [env.one_policy(d, i % k).logits if assign == "member" else d.logits
            for i in indices]
    m = len(rows)
    return {"pool": jax.tree.map(lambda x: jnp.broadcast_to(x, (m,) + x.shape), d.pool),
            "logits": jnp.stack(rows)}


# ------------------------------------------------------------------ building from a config

def _run_agents(spec: str, env_name: str, inner: ParamEnv, seat: int, where: str) -> list:
    """The heroes of ``seat`` in a run: ``PATH`` (every member), ``PATH#m`` (member m), either
    with ``@U`` (the periodic checkpoint after update U, e.g. an early snapshot)."""
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
    return [ckpt.hero(m, seat, int(step) if step else None) for m in members]


def frozen_agents(cfg: FrozenConfig, env_name: str, inner: ParamEnv, kwargs: dict) -> list:
    """The agents of ``cfg.policies`` for seat ``cfg.seat`` of ``inner`` (``ValueError`` naming
    ``env.frozen.policies[i]`` when one cannot play it)."""
    seat = seat_index(cfg.seat, inner)
    scripted = partners.get(env_name)
    obs_shape = jax.eval_shape(inner.reset, jax.random.PRNGKey(0))[0][inner.agents[seat]].shape
    num_actions = int(getattr(inner.action_space(inner.agents[seat]), "n"))
    out: list[Agent] = []
    for i, spec in enumerate(cfg.policies):
        where = f"env.frozen.policies[{i}]"
        name = str(spec).split(":")[0]
        if scripted is not None and name in scripted.names:
            try:
                agents = [partners.parse(env_name, spec, seat, kwargs)]
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        else:
            agents = _run_agents(str(spec), env_name, inner, seat, where)
        for a in agents:
            try:
                check_agent(a, env_name, obs_shape, num_actions, role="frozen policy")
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        out += agents
    return out


def seat_index(seat, inner: ParamEnv) -> int:
    """``env.frozen.seat`` (an agent name or index of ``inner``) as an index."""
    names = list(inner.agents)
    if isinstance(seat, str) and seat in names:
        return names.index(seat)
    if isinstance(seat, int) and not isinstance(seat, bool) and 0 <= seat < len(names):
        return seat
    raise ValueError(f"env.frozen.seat: got {seat!r}; allowed: {', '.join(names)} or 0.."
                     f"{len(names) - 1}")


def build_env(name: str, kwargs: dict, frozen: Optional[FrozenConfig] = None) -> ParamEnv:
    """``envs.make(name, **kwargs)``, with the seat ``frozen`` names played by its policies."""
    env = envs.make(name, **kwargs)
    if frozen is None:
        return env
    if env.num_agents < 3:
        raise ValueError(f"env.frozen: {name} has {env.num_agents} seats; freezing one needs "
                         "at least three (two must learn)")
    agents = frozen_agents(frozen, name, env, kwargs)
    weights = None
    if frozen.weights is not None:
        if len(frozen.weights) != len(agents):
            names = ", ".join(a.name for a in agents)
            raise ValueError(f"env.frozen.weights: got {len(frozen.weights)} weights; allowed: "
                             f"one per frozen policy ({len(agents)}: {names})")
        weights = frozen.weights
    return FrozenSeats(env, seat_index(frozen.seat, env), agents, weights, kwargs)


def env_of(spec: EnvSpec) -> ParamEnv:
    """The environment a run's ``EnvSpec`` describes (a member's: ``RunMeta.member_env``)."""
    return build_env(spec.name, spec.kwargs, frozen_config(spec.frozen))
