"""One-shot two-player matrix games with the payoff tensor as an env-params pytree.

``payoffs[i, a_0, a_1]`` is seat i's utility (shared reward minus its own private cost) when
seat 0 plays a_0 and seat 1 plays a_1; ``costs[i, a]`` is the private cost seat i pays for
action a (reported in infos, already included in ``payoffs``). Each episode is one simultaneous
move; the observation is a constant 1.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from flax import struct
from jaxmarl.environments import spaces

from envs.base import ParamEnv, check_int, check_matrix, check_number


@struct.dataclass
class MatrixGameParams:
    payoffs: chex.Array  # [2, A0, A1] float32
    costs: chex.Array  # [2, max(A0, A1)] float32, private cost per seat and action


@struct.dataclass
class MatrixGameState:
    step: chex.Array  # [] int32: rounds played (one-shot games: 0)
    done: chex.Array  # [] bool
    # [2] int32: the previous round's actions (-1 before the first); None in one-shot games,
    # whose state (and checkpoints holding it) keeps its structure
    last: chex.Array = None


def _symmetric(row_payoff) -> np.ndarray:
    """Payoff tensor of a symmetric game from the row player's matrix A[own, other]."""
    a = np.asarray(row_payoff, dtype=np.float64)
    return np.stack([a, a.T])


def collab_defect_payoffs(cost: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Collaborate/defect (paper Example 4.2): reward 1 if anyone collaborates, C costs ``cost``.

    Actions: 0 = C(ollaborate), 1 = D(efect).
    """
    shared = np.array([[1.0, 1.0], [1.0, 0.0]])
    c = np.array([check_number("cost", cost), 0.0])
    row = shared - c[:, None]
    return _symmetric(row), np.stack([c, c])


def stag_hunt_payoffs() -> tuple[np.ndarray, np.ndarray]:
    """Stag hunt, actions 0 = Stag, 1 = Hare: A = [[5, 0], [4, 2]]."""
    return _symmetric([[5.0, 0.0], [4.0, 2.0]]), np.zeros((2, 2))


def car_overtake_payoffs() -> tuple[np.ndarray, np.ndarray]:
    """The car game, actions 0 = Stay in lane, 1 = Overtake: A = [[5, 0], [20, -50]]."""
    return _symmetric([[5.0, 0.0], [20.0, -50.0]]), np.zeros((2, 2))


def coordination_payoffs(num_actions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Pure coordination: both get 1 when they pick the same action, else 0."""
    num_actions = check_int("num_actions", num_actions, 2, 64)
    return _symmetric(np.eye(num_actions)), np.zeros((2, num_actions))


def bimatrix_payoffs(
    row: npt.ArrayLike,
    col: Optional[npt.ArrayLike] = None,
    costs: Optional[npt.ArrayLike] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A user-supplied bimatrix game in the usual convention.

    Args:
      row: ``[A0, A1]`` payoffs of seat 0 (rows are seat 0's actions).
      col: ``[A0, A1]`` payoffs of seat 1, same indexing; defaults to ``row`` (common payoff).
      costs: optional ``[2, max(A0, A1)]`` private costs per seat and action (reporting only).
    """
    a = check_matrix("row", row)
    b = a if col is None else check_matrix("col", col, a.shape)
    n = max(a.shape)
    c = np.zeros((2, n)) if costs is None else check_matrix("costs", costs, (2, n))
    return np.stack([a, b]), c


class MatrixGame(ParamEnv):
    """A two-player matrix game on the ``ParamEnv`` contract: one simultaneous move, or with
    ``rounds`` > 1 the game repeated that many times (a Markov game whose state is the previous
    round: each seat sees a constant 1, its own previous action and the other seat's, one-hot,
    all zero before the first round)."""

    max_steps = 1  # every episode is one simultaneous move (``rounds`` of them when repeated)

    def __init__(self, payoffs, costs=None, action_names: Optional[Sequence[str]] = None,
                 rounds: int = 1):
        super().__init__(num_agents=2)
        self.rounds = check_int("rounds", rounds, 1, 10_000)
        self.max_steps = self.rounds
        payoffs = np.asarray(payoffs, dtype=np.float64)
        if payoffs.ndim != 3 or payoffs.shape[0] != 2:
            raise ValueError(f"payoffs must have shape [2, A0, A1], got {payoffs.shape}")
        self.num_actions = tuple(int(n) for n in payoffs.shape[1:])
        n = max(self.num_actions)
        costs = np.zeros((2, n)) if costs is None else np.asarray(costs, dtype=np.float64)
        self._payoffs = payoffs
        self._costs = costs
        self.action_names = tuple(action_names) if action_names else tuple(str(i) for i in range(n))
        self._obs_dim = 1 if self.rounds == 1 else 1 + 2 * n
        self.observation_spaces = {a: spaces.Box(0.0, 1.0, (self._obs_dim,))
                                   for a in self.agents}
        self.action_spaces = {
            a: spaces.Discrete(k) for a, k in zip(self.agents, self.num_actions)
        }

    @property
    def default_params(self) -> MatrixGameParams:
        return MatrixGameParams(
            payoffs=jnp.asarray(self._payoffs, jnp.float32),
            costs=jnp.asarray(self._costs, jnp.float32),
        )

    def get_obs(self, state):
        if self.rounds == 1:
            return {a: jnp.ones((1,), jnp.float32) for a in self.agents}
        n = (self._obs_dim - 1) // 2
        hot = [jax.nn.one_hot(state.last[i], n) for i in range(2)]  # zeros for -1
        one = jnp.ones((1,), jnp.float32)
        return {a: jnp.concatenate([one, hot[i], hot[1 - i]]) for i, a in enumerate(self.agents)}

    @property
    def payoffs(self) -> np.ndarray:
        """``[2, A0, A1]`` float64: ``payoffs[i, a0, a1]`` is seat i's reward."""
        return self._payoffs

    def reset_env(self, key, params):
        last = None if self.rounds == 1 else jnp.full((2,), -1, jnp.int32)
        state = MatrixGameState(step=jnp.zeros((), jnp.int32), done=jnp.zeros((), bool),
                                last=last)
        return self.get_obs(state), state

    def step_env(self, key, state, actions, params):
        a0, a1 = actions[self.agents[0]], actions[self.agents[1]]
        u = params.payoffs[:, a0, a1]  # [2]
        cost = jnp.stack([params.costs[0, a0], params.costs[1, a1]])
        rewards = {a: u[i] for i, a in enumerate(self.agents)}
        if self.rounds == 1:  # one-shot: the state as it always was
            done = jnp.ones((), bool)
            state = dataclasses.replace(state, done=done)
        else:
            step = state.step + 1
            done = step >= self.rounds
            state = dataclasses.replace(state, done=done, step=step,
                                        last=jnp.stack([a0, a1]).astype(jnp.int32))
        dones = {a: done for a in self.agents} | {"__all__": done}
        infos = {"private_cost": cost}
        return self.get_obs(state), state, rewards, dones, infos


class CollabDefect(MatrixGame):
    """Collaborate/defect with its collaboration cost traced: ``params_with(p, {"cost": c})``
    gives the game of ``collab_defect_payoffs(c)``, so members of one program may differ in it."""

    traced_kwargs = ("cost",)

    def __init__(self, cost: float = 0.4):
        super().__init__(*collab_defect_payoffs(cost), action_names=("C", "D"))

    def params_with(self, params, values):
        self.check_traced(values)
        if "cost" not in values:
            return params
        c = jnp.asarray(values["cost"], jnp.float32)
        costs = jnp.stack([c, jnp.zeros_like(c)])  # [2]: C costs c, D is free
        shared = jnp.array([[1.0, 1.0], [1.0, 0.0]], jnp.float32)
        row = shared - costs[:, None]
        return params.replace(payoffs=jnp.stack([row, row.T]), costs=jnp.stack([costs, costs]))


def make_collab_defect(cost: float = 0.4) -> MatrixGame:
    return CollabDefect(cost)


def make_stag_hunt(rounds: int = 1) -> MatrixGame:
    return MatrixGame(*stag_hunt_payoffs(), action_names=("Stag", "Hare"), rounds=rounds)


def make_car_overtake(rounds: int = 1) -> MatrixGame:
    return MatrixGame(*car_overtake_payoffs(), action_names=("Stay", "Overtake"), rounds=rounds)


def make_coordination(num_actions: int = 2) -> MatrixGame:
    return MatrixGame(*coordination_payoffs(num_actions))


def make_bimatrix(row, col=None, costs=None, action_names=None) -> MatrixGame:
    payoffs, _ = bimatrix_payoffs(row, col, costs)
    n = max(payoffs.shape[1:])
    if action_names is not None and (not isinstance(action_names, (list, tuple))
                                     or len(action_names) != n):
        raise ValueError(f"env.kwargs.action_names: got {action_names!r}; allowed: a list of "
                         f"{n} names")
    return MatrixGame(*bimatrix_payoffs(row, col, costs), action_names=action_names)
