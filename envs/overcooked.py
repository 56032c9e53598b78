"""JaxMARL Overcooked (v1 ``overcooked`` and v2 ``overcooked_v2``) on the ``ParamEnv`` contract.

Both wrap the JaxMARL environment unchanged (it stays static: layout, episode length) and add
per-agent private costs read from a params pytree (``OvercookedParams``), so the cost setting of
the SRPO theory can be studied on the real layouts and costs can be vmapped.

Seats are ``("agent_0", "agent_1")``. Episodes end by time limit only, after exactly
``max_steps`` steps (JaxMARL counts ``state.step`` from 0 and ends when it reaches ``max_steps``);
``ParamEnv.step`` auto-resets, so the terminal observation is dropped.

Observations: JaxMARL's per-agent ego-centric grids as uint8, otherwise unchanged. Every entry is
a small count or flag inside the [0, 255] box both versions declare (v1 arrays are uint8 already,
v2 ones int32); a byte per entry keeps the stored rollouts a quarter of their float32 size, and
networks cast to float32 themselves.
v1 arrays are (H, W, 26) although JaxMARL's v1 ``observation_space`` declares (W, H, 26);
``observation_space`` here reports the true array shape. v2 arrays are (H, W, C) with C = 30 for
single-ingredient layouts (more for layouts with several ingredients).

Actions: each version's own Discrete(6) indices; the orders differ (see ``V1_*`` / ``V2_*`` and
``ACTION_NAMES``). In both, indices 0..3 are moves, 4 is stay and 5 is interact. A move action
turns the agent to face that direction, and moves it if the target cell is free.

Rewards per agent: ``sparse - private_cost[i]``, where ``sparse`` is JaxMARL's shared reward
(20 per delivered soup; in v2 layouts with a button recipe indicator, pressing it costs 5 shared).

Infos (each ``[2]`` float32, seat order agent_0, agent_1):
  ``private_cost``   >= 0, paid by the seat this step: ``move_cost`` for a move action, plus
                     ``collision_cost`` when the move left its position unchanged (wall, counter,
                     pot, dispenser, goal, or the other agent), plus ``interact_cost`` for interact.
  ``shaped_reward``  JaxMARL's shaped reward for the seat (pot placement 3, useful plate pickup 3,
                     soup pickup 5). NOT included in the reward: the trainer anneals it.
Contribution counters (``contribution_keys``, derived from each seat's inventory change on its
own interact action and the cell it faced):
  ``onions_in_pot``  ingredients it put into a pot (v1: onions; v2: any ingredient).
  ``plates_picked``  plates it picked up (from the plate pile or a counter; handoffs count).
  ``soups_picked``   cooked soups it took out of a pot onto its plate.
  ``deliveries``     soups it delivered for the 20 reward (v2: correct recipe only), so
                     ``20 * sum(deliveries)`` equals the shared delivery reward.

JaxMARL's v1 constructor emits a DeprecationWarning (it recommends v2); it is silenced here.
"""
from __future__ import annotations

import difflib
import math
import numbers
import warnings
from typing import TYPE_CHECKING, Tuple, cast

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jaxmarl.environments import spaces
from jaxmarl.environments.overcooked import overcooked as _ov1
from jaxmarl.environments.overcooked.common import OBJECT_TO_INDEX as _V1_OBJ
from jaxmarl.environments.overcooked.layouts import overcooked_layouts as _V1_LAYOUTS
from jaxmarl.environments.overcooked_v2 import common as _ov2c
from jaxmarl.environments.overcooked_v2.layouts import overcooked_v2_layouts as _V2_LAYOUTS
from jaxmarl.environments.overcooked_v2.overcooked import OvercookedV2 as _RawV2

from envs.base import ParamEnv

if TYPE_CHECKING:
    from jaxmarl.environments.overcooked_v2.layouts import Layout as _V2Layout

    _TwoCells = Tuple[Tuple[int, int], Tuple[int, int]]

# v1 (jaxmarl.environments.overcooked.OvercookedActions) action indices.
V1_UP, V1_DOWN, V1_RIGHT, V1_LEFT, V1_STAY, V1_INTERACT = 0, 1, 2, 3, 4, 5
V1_ACTION_NAMES = ("up", "down", "right", "left", "stay", "interact")
# v2 (jaxmarl.environments.overcooked_v2.common.OvercookedActionsEnum) action indices.
V2_RIGHT, V2_DOWN, V2_LEFT, V2_UP, V2_STAY, V2_INTERACT = 0, 1, 2, 3, 4, 5
V2_ACTION_NAMES = ("right", "down", "left", "up", "stay", "interact")
# Shared by both versions: indices 0..3 move, STAY = 4, INTERACT = 5.
NUM_MOVES, STAY, INTERACT = 4, 4, 5
#: version -> action names in index order; ``ACTION_INDEX[version][name]`` gives the index.
ACTION_NAMES = {"overcooked": V1_ACTION_NAMES, "overcooked_v2": V2_ACTION_NAMES}
ACTION_INDEX = {v: {n: i for i, n in enumerate(names)} for v, names in ACTION_NAMES.items()}

# Fail loudly if a JaxMARL update reorders the actions.
assert tuple(a.name for a in _ov1.OvercookedActions)[:6] == V1_ACTION_NAMES
assert tuple(a.name for a in _ov2c.OvercookedActionsEnum) == V2_ACTION_NAMES

CLASSIC_LAYOUTS = ("cramped_room", "asymm_advantages", "coord_ring", "forced_coord",
                   "counter_circuit")
#: layouts each version accepts (v2: every two-agent layout JaxMARL ships).
ALLOWED_LAYOUTS = {
    "overcooked": CLASSIC_LAYOUTS,
    "overcooked_v2": CLASSIC_LAYOUTS + tuple(
        n for n, lay in _V2_LAYOUTS.items()
        if n not in CLASSIC_LAYOUTS and len(lay.agent_positions) == 2),
}
CONTRIBUTION_KEYS = ("onions_in_pot", "plates_picked", "soups_picked", "deliveries")


@struct.dataclass
class OvercookedParams:
    move_cost: chex.Array  # [] float32, per move action
    collision_cost: chex.Array  # [] float32, extra when a move left the position unchanged
    interact_cost: chex.Array  # [] float32, per interact action


def _check_layout(version: str, layout) -> str:
    allowed = ALLOWED_LAYOUTS[version]
    if not isinstance(layout, str) or layout not in allowed:
        close = difflib.get_close_matches(str(layout), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"env.kwargs.layout: unknown {version} layout {layout!r}{hint}; "
                         f"allowed: {', '.join(allowed)}")
    return layout


def _check_cost(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"env.kwargs.{field}: must be a number >= 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"env.kwargs.{field}: must be finite and >= 0, got {value!r}")
    return value


def _check_max_steps(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"env.kwargs.max_steps: must be a positive integer, got {value!r}")
    return int(value)


class Overcooked(ParamEnv):
    """JaxMARL Overcooked, v1 (``version="overcooked"``) or v2 (``"overcooked_v2"``).

    Attributes:
      raw_env: the wrapped JaxMARL env (static).
      layout, version, max_steps, action_names, obs_shape.
    """

    contribution_keys = CONTRIBUTION_KEYS
    traced_kwargs = ("move_cost", "collision_cost", "interact_cost")

    def __init__(self, version: str = "overcooked", layout: str = "cramped_room",
                 move_cost: float = 0.0, collision_cost: float = 0.0,
                 interact_cost: float = 0.0, max_steps: int = 400):
        if version not in ACTION_NAMES:
            raise ValueError(f"unknown Overcooked version {version!r}; allowed: "
                             f"{', '.join(ACTION_NAMES)}")
        super().__init__(num_agents=2)
        self.agents = ["agent_0", "agent_1"]
        self.version = version
        self.layout = _check_layout(version, layout)
        self._costs = dict(move_cost=_check_cost("move_cost", move_cost),
                           collision_cost=_check_cost("collision_cost", collision_cost),
                           interact_cost=_check_cost("interact_cost", interact_cost))
        self.max_steps = _check_max_steps(max_steps)
        self.raw_env: _ov1.Overcooked | _RawV2
        if version == "overcooked":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.raw_env = _ov1.Overcooked(layout=_V1_LAYOUTS[layout],
                                               max_steps=self.max_steps)
        else:
            self.raw_env = _RawV2(layout=layout, max_steps=self.max_steps)
        self.action_names = ACTION_NAMES[version]
        obs, _ = jax.eval_shape(self.raw_env.reset, jax.random.PRNGKey(0))
        self.obs_shape: Tuple[int, ...] = tuple(obs["agent_0"].shape)  # true array shape
        self.observation_spaces = {
            a: spaces.Box(0, 255, self.obs_shape, jnp.uint8) for a in self.agents}
        self.action_spaces = {a: spaces.Discrete(len(self.action_names)) for a in self.agents}

    @property
    def start_positions(self) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """Start cell (x = column, y = row) of agent_0 and agent_1 (fixed by the layout; note v1
        and v2 put the seats the other way round on cramped_room, forced_coord and
        counter_circuit)."""
        if self.version == "overcooked":
            lay = cast(_ov1.Overcooked, self.raw_env).layout
            w = int(lay["width"])
            return cast("_TwoCells", tuple((int(i) % w, int(i) // w) for i in lay["agent_idx"]))
        layout = cast("_V2Layout", cast(_RawV2, self.raw_env).layout)
        return cast("_TwoCells", tuple((int(x), int(y)) for x, y in layout.agent_positions))

    @property
    def name(self) -> str:
        return self.version

    def observation_space(self, agent: str = "agent_0"):
        return self.observation_spaces[agent]

    def action_space(self, agent: str = "agent_0"):
        return self.action_spaces[agent]

    @property
    def default_params(self) -> OvercookedParams:
        return OvercookedParams(**{k: jnp.asarray(v, jnp.float32) for k, v in self._costs.items()})

    def _obs(self, obs):
        return {a: jnp.asarray(obs[a]).astype(jnp.uint8) for a in self.agents}

    def get_obs(self, state):
        return self._obs(self.raw_env.get_obs(state))

    def reset_env(self, key, params):
        obs, state = self.raw_env.reset(key)
        return self._obs(obs), state

    # --- per-seat transition facts, read off the states before (s0) and after (s1) a step ---

    def agent_positions(self, state):
        """[2, 2] int32 grid cell (x = column, y = row) of each seat in ``state``."""
        if self.version == "overcooked":
            return state.agent_pos.astype(jnp.int32)
        return jnp.stack([state.agents.pos.x, state.agents.pos.y], axis=-1).astype(jnp.int32)

    def _counters(self, s0, s1, acts):
        """Contribution counters, each [2] bool, from inventory changes on interact."""
        interact = acts == INTERACT
        if self.version == "overcooked":
            inv0, inv1 = s0.agent_inv, s1.agent_inv
            fwd = s0.agent_pos.astype(jnp.int32) + s0.agent_dir.astype(jnp.int32)  # [2, 2]
            facing = lambda cells: jnp.any(  # cells [K, 2] -> [2]
                jnp.all(fwd[:, None, :] == cells.astype(jnp.int32)[None], axis=-1), axis=1)
            at_pot, at_goal = facing(s0.pot_pos), facing(s0.goal_pos)
            empty, onion = _V1_OBJ["empty"], _V1_OBJ["onion"]
            plate, dish = _V1_OBJ["plate"], _V1_OBJ["dish"]
            onion_in_pot = at_pot & (inv0 == onion) & (inv1 == empty)
            plate_pick = (inv0 == empty) & (inv1 == plate)
            soup_pick = (inv0 == plate) & (inv1 == dish)
            delivery = at_goal & (inv0 == dish) & (inv1 == empty)
        else:
            dyn, stat = _ov2c.DynamicObject, _ov2c.StaticObject
            inv0, inv1 = s0.agents.inventory, s1.agents.inventory
            # Interacting agents do not move or turn, so s0's position and direction apply.
            vec = _ov2c.DIR_TO_VEC[s0.agents.dir].astype(jnp.int32)  # [2, 2] (dx, dy)
            fx = jnp.clip(s0.agents.pos.x + vec[:, 0], 0, self.raw_env.width - 1)
            fy = jnp.clip(s0.agents.pos.y + vec[:, 1], 0, self.raw_env.height - 1)
            faced = s0.grid[fy, fx, 0]  # static object in front, [2]
            plated_recipe = s0.recipe | dyn.PLATE | dyn.COOKED
            onion_in_pot = (faced == stat.POT) & dyn.is_ingredient(inv0) & (inv1 == dyn.EMPTY)
            plate_pick = (inv0 == dyn.EMPTY) & (inv1 == dyn.PLATE)
            soup_pick = (inv0 == dyn.PLATE) & ((inv1 & dyn.COOKED) != 0)
            delivery = (faced == stat.GOAL) & (inv0 == plated_recipe) & (inv1 == dyn.EMPTY)
        f = lambda x: (interact & x).astype(jnp.float32)
        return {"onions_in_pot": f(onion_in_pot), "plates_picked": f(plate_pick),
                "soups_picked": f(soup_pick), "deliveries": f(delivery)}

    def step_env(self, key, state, actions, params):
        acts = jnp.stack([jnp.asarray(actions[a]).astype(jnp.int32) for a in self.agents])
        obs, new_state, raw_rew, dones, raw_infos = self.raw_env.step_env(
            key, state, {a: acts[i] for i, a in enumerate(self.agents)})
        is_move = acts < NUM_MOVES
        unmoved = jnp.all(self.agent_positions(new_state) == self.agent_positions(state), axis=-1)
        blocked = is_move & unmoved
        cost = (params.move_cost * is_move + params.collision_cost * blocked
                + params.interact_cost * (acts == INTERACT)).astype(jnp.float32)
        sparse = jnp.asarray(raw_rew["agent_0"], jnp.float32)  # shared by both seats
        rewards = {a: sparse - cost[i] for i, a in enumerate(self.agents)}
        shaped = jnp.stack([jnp.asarray(raw_infos["shaped_reward"][a], jnp.float32)
                            for a in self.agents])
        infos = {"private_cost": cost, "shaped_reward": shaped,
                 **self._counters(state, new_state, acts)}
        dones = {a: jnp.asarray(dones[a]) for a in self.agents} | {
            "__all__": jnp.asarray(dones["__all__"])}
        return self._obs(obs), new_state, rewards, dones, infos


def make_overcooked(layout="cramped_room", move_cost=0.0, collision_cost=0.0, interact_cost=0.0,
                    max_steps=400) -> Overcooked:
    """JaxMARL Overcooked v1 (2019 dynamics) with optional private costs."""
    return Overcooked("overcooked", layout, move_cost, collision_cost, interact_cost, max_steps)


def make_overcooked_v2(layout="cramped_room", move_cost=0.0, collision_cost=0.0,
                       interact_cost=0.0, max_steps=400) -> Overcooked:
    """JaxMARL OvercookedV2 with optional private costs."""
    return Overcooked("overcooked_v2", layout, move_cost, collision_cost, interact_cost,
                      max_steps)
