"""Two-player normal-form games for the exact solvers: a small container and a named registry.

Convention (the same as ``envs.matrix_games``): ``payoffs[i, a_0, a_1]`` is seat i's utility
when seat 0 plays ``a_0`` (rows) and seat 1 plays ``a_1``. The solvers work with each seat's
*own-action-rows* matrix ``U_i[a_i, b]`` (docs/solvers.md): ``U_0 = payoffs[0]`` and
``U_1 = payoffs[1].T`` (see ``own_payoffs``).

A game file (YAML or JSON) holds::

    name: my_game                 # optional, defaults to the file name
    actions: [[Up, Down], [L, R]] # optional: per-seat action names (or one list for both seats)
    row: [[3, 0], [5, 1]]         # seat 0's payoffs, rows = seat 0's actions
    col: [[3, 5], [0, 1]]         # seat 1's payoffs, same indexing; omitted = common payoff
    symmetric: false              # optional: true sets col = row^T (a symmetric game)
"""
from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from envs.matrix_games import (
    bimatrix_payoffs,
    car_overtake_payoffs,
    collab_defect_payoffs,
    coordination_payoffs,
    stag_hunt_payoffs,
)
from jsrpo import yamlio


class GameError(ValueError):
    """A game name or payoff file is invalid; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Game:
    """A two-player normal-form game.

    Attributes:
      name: registry name or file stem.
      payoffs: ``[2, A0, A1]`` float64, ``payoffs[i, a_0, a_1]`` = seat i's utility.
      action_names: per-seat action names, ``(names_0 [A0], names_1 [A1])``.
    """

    name: str
    payoffs: np.ndarray
    action_names: Tuple[Tuple[str, ...], Tuple[str, ...]]

    @property
    def num_actions(self) -> Tuple[int, int]:
        return int(self.payoffs.shape[1]), int(self.payoffs.shape[2])

    @property
    def is_symmetric(self) -> bool:
        """Seats are interchangeable: ``payoffs[1] == payoffs[0].T``."""
        p = self.payoffs
        return p.shape[1] == p.shape[2] and bool(np.allclose(p[1], p[0].T))


def own_payoffs(payoffs: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """``(U_0 [A0, A1], U_1 [A1, A0])``: each seat's utility with its own action as rows."""
    return payoffs[0], payoffs[1].T


def _from_env(name: str, maker: Callable[[], tuple], actions: Sequence[str]) -> Game:
    payoffs, _ = maker()
    return Game(name, np.asarray(payoffs, np.float64), (tuple(actions), tuple(actions)))


def _collab_defect() -> Game:
    return _from_env("collab_defect", collab_defect_payoffs, ("C", "D"))


def _stag_hunt() -> Game:
    return _from_env("stag_hunt", stag_hunt_payoffs, ("Stag", "Hare"))


def _car_overtake() -> Game:
    return _from_env("car_overtake", car_overtake_payoffs, ("Stay", "Overtake"))


def _coordination() -> Game:
    return _from_env("coordination", coordination_payoffs, ("A", "B"))


def _rock_paper_scissors() -> Game:
    # Zero-sum: seat 1's payoff is minus seat 0's.
    a = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    names = ("Rock", "Paper", "Scissors")
    return Game("rock_paper_scissors", np.stack([a, -a]), (names, names))


def _matching_pennies() -> Game:
    # Seat 0 wins when the coins match, seat 1 when they differ.
    a = np.array([[1.0, -1.0], [-1.0, 1.0]])
    names = ("Heads", "Tails")
    return Game("matching_pennies", np.stack([a, -a]), (names, names))


# Built lazily: importing envs pulls in the whole environment stack.
_REGISTRY: Dict[str, Callable[[], Game]] = {
    "collab_defect": _collab_defect,
    "stag_hunt": _stag_hunt,
    "car_overtake": _car_overtake,
    "coordination": _coordination,
    "rock_paper_scissors": _rock_paper_scissors,
    "matching_pennies": _matching_pennies,
}


def game_names() -> Tuple[str, ...]:
    return tuple(_REGISTRY)


def get_game(name_or_path: str) -> Game:
    """A registered game by name, or a game loaded from a YAML/JSON payoff file."""
    if name_or_path in _REGISTRY:
        return _REGISTRY[name_or_path]()
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        return load_game(path)
    close = difflib.get_close_matches(name_or_path, _REGISTRY, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise GameError(
        f"unknown game {name_or_path!r}{hint}; allowed names: {', '.join(game_names())}, "
        "or the path of a YAML/JSON payoff file"
    )


def _matrix(field: str, value) -> np.ndarray:
    """A finite 2-D float matrix from nested lists, or a GameError naming ``field``."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in value):
        raise GameError(f"{field}: must be a 2-D list of numbers (a list of rows), got {value!r}")
    lengths = {len(r) for r in value}
    if len(value) == 0 or lengths == {0}:
        raise GameError(f"{field}: needs at least one row and one column")
    if len(lengths) != 1:
        raise GameError(f"{field}: rows have different lengths {sorted(lengths)}")
    for i, r in enumerate(value):
        for j, v in enumerate(r):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise GameError(f"{field}[{i}][{j}]: must be a number, got {v!r}")
            if not np.isfinite(v):
                raise GameError(f"{field}[{i}][{j}]: must be finite, got {v!r}")
    return np.asarray(value, dtype=np.float64)


def _action_names(value, shape: Tuple[int, int]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    if value is None:
        return tuple(str(a) for a in range(shape[0])), tuple(str(a) for a in range(shape[1]))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        value = [value, value]
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise GameError(
            "actions: must be one list of names (both seats) or two lists [seat 0, seat 1]"
        )
    names = []
    for seat, (seat_names, n) in enumerate(zip(value, shape)):
        if not isinstance(seat_names, (list, tuple)) or len(seat_names) != n:
            raise GameError(f"actions[{seat}]: needs {n} names for seat {seat}, got {seat_names!r}")
        names.append(tuple(str(v) for v in seat_names))
    return names[0], names[1]


def _load_json(path: Path):
    """A JSON file with the YAML reader's rules: text only, each key once."""
    def pairs(items):
        keys = [k for k, _ in items]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise yamlio.YamlError(f"{path}: key {dup!r} is given twice; give each key once")
        return dict(items)

    try:
        return json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=pairs)
    except UnicodeDecodeError:
        raise yamlio.YamlError(f"{path}: not a text file (not UTF-8)") from None
    except json.JSONDecodeError as e:
        raise yamlio.YamlError(f"{path}: not valid JSON ({e})") from None


def load_game(path) -> Game:
    """Load a game from a YAML or JSON payoff file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise GameError(f"game file {str(path)!r} does not exist")
    try:
        data = _load_json(path) if path.suffix.lower() == ".json" else yamlio.load_file(path)
    except yamlio.YamlError as err:
        raise GameError(f"game file {err}") from None
    if not isinstance(data, dict):
        raise GameError(f"game file {str(path)!r}: expected a mapping with a 'row' field")
    known = {"name", "actions", "row", "col", "symmetric"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GameError(f"{unknown[0]}: unknown field; allowed: {', '.join(sorted(known))}")
    if "row" not in data:
        raise GameError("row: missing; give seat 0's payoff matrix (rows = seat 0's actions)")
    row = _matrix("row", data["row"])
    symmetric = data.get("symmetric", False)
    if not isinstance(symmetric, bool):
        raise GameError(f"symmetric: must be true or false, got {symmetric!r}")
    if symmetric:
        if "col" in data:
            raise GameError("col: not allowed with symmetric: true (col is row transposed)")
        if row.shape[0] != row.shape[1]:
            raise GameError(f"row: a symmetric game needs a square matrix, got shape {row.shape}")
        col = row.T
    elif "col" in data:
        col = _matrix("col", data["col"])
        if col.shape != row.shape:
            raise GameError(f"col: shape {col.shape} does not match row shape {row.shape}")
    else:
        col = row
    payoffs, _ = bimatrix_payoffs(row, col)
    name = str(data.get("name", path.stem))
    return Game(name, payoffs, _action_names(data.get("actions"), row.shape))
