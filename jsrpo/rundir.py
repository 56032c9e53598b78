"""The run-directory format, owned here: file names and the typed description of a run.

``jsrpo train`` writes a run directory; ``checkpoint``, ``crossplay``, ``render`` and the
reports read it. All of them name files through ``RunDir`` and read or write the description
of the saved policies (``checkpoint/final_meta.json``) only through ``RunMeta``::

    RUN_DIR/config.yaml                  the resolved config
    RUN_DIR/metrics.jsonl                one row per logging period and member
    RUN_DIR/summary.json                 final evaluation per member, run totals
    RUN_DIR/learning_curve.png
    RUN_DIR/checkpoint/final/            orbax: params[member, learner, ...]
    RUN_DIR/checkpoint/final_meta.json   RunMeta: env, network, learners, members, version
    RUN_DIR/checkpoint/state/<update>/   periodic full learner states (orbax manager)
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Tuple

from jsrpo.files import write_json
from jsrpo.networks import ActorCritic

#: version of the run-directory format written by this code; readers accept 1 .. this.
FORMAT_VERSION = 1


class RunFormatError(ValueError):
    """A run directory's file is missing a field or holds a value of the wrong kind."""


class RunDir:
    """The paths of one run directory."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    config = property(lambda self: self.path / "config.yaml")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    summary = property(lambda self: self.path / "summary.json")
    learning_curve = property(lambda self: self.path / "learning_curve.png")
    checkpoint_dir = property(lambda self: self.path / "checkpoint")
    final = property(lambda self: self.path / "checkpoint" / "final")
    meta = property(lambda self: self.path / "checkpoint" / "final_meta.json")
    state = property(lambda self: self.path / "checkpoint" / "state")

    def read_meta(self) -> "RunMeta":
        """The run's ``RunMeta``; ``FileNotFoundError`` when the run saved no final policies,
        ``RunFormatError`` naming the file when it cannot be read."""
        if not self.meta.is_file():
            raise FileNotFoundError(f"{self.path}: no checkpoint (expected {self.meta}); is it "
                                    "a run directory written by `jsrpo train`?")
        try:
            raw = json.loads(self.meta.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise RunFormatError(f"{self.meta}: not valid JSON ({e})") from None
        return RunMeta.from_json(raw, where=self.meta)

    def write_meta(self, meta: "RunMeta") -> None:
        write_json(self.meta, meta.to_json())


@dataclass(frozen=True)
class EnvSpec:
    name: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild the saved networks (``build``)."""

    num_actions: int
    obs_ndim: int
    hidden_sizes: Tuple[int, ...]
    activation: str
    kind: str = "mlp"

    def build(self) -> ActorCritic:
        return ActorCritic(num_actions=self.num_actions, obs_ndim=self.obs_ndim,
                           hidden_sizes=tuple(self.hidden_sizes), activation=self.activation,
                           kind=self.kind)

    @classmethod
    def of(cls, net: ActorCritic) -> "NetworkSpec":
        return cls(num_actions=net.num_actions, obs_ndim=net.obs_ndim,
                   hidden_sizes=tuple(net.hidden_sizes), activation=net.activation, kind=net.kind)


@dataclass(frozen=True)
class MemberSpec:
    """One sweep member: its index in the run and the values that define it."""

    member: int
    method: str
    tau: float
    eps: float
    seed: int

    def label(self, seat: Optional[int] = None) -> str:
        """``srpo-tau10-eps0.1-s0`` (plus ``-seat1``): a policy's name in reports."""
        name = f"{self.method}-tau{self.tau:g}-eps{self.eps:g}-s{self.seed}"
        return name if seat is None else f"{name}-seat{seat}"


@dataclass(frozen=True)
class RunMeta:
    """What a run's saved policies are: the typed content of ``checkpoint/final_meta.json``.

    ``params[member, learner, ...]`` in the orbax checkpoints; the deployed policy of seat s is
    learner ``hero_pair[s]``. ``obs_shape`` is the networks' input (with the one-hot seat id
    when ``seat_id_in_obs``, which self-play on flat observations uses).
    """

    env: EnvSpec
    network: NetworkSpec
    obs_shape: Tuple[int, ...]
    seat_id_in_obs: bool
    hero_pair: Tuple[int, int]
    num_learners: int
    members: Tuple[MemberSpec, ...]
    format_version: int = FORMAT_VERSION

    @property
    def env_obs_shape(self) -> Tuple[int, ...]:
        """The environment's observation shape (the network input minus the seat id)."""
        shape = list(self.obs_shape)
        if self.seat_id_in_obs:
            shape[-1] -= 2
        return tuple(shape)

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version,
            "network": dataclasses.asdict(self.network),
            "obs_shape": list(self.obs_shape),
            "seat_id_in_obs": self.seat_id_in_obs,
            "env": {"name": self.env.name, "kwargs": self.env.kwargs},
            "learners": {"hero_pair": list(self.hero_pair), "num_learners": self.num_learners},
            "members": [dataclasses.asdict(m) for m in self.members],
            "params_layout": "params[member, learner, ...]",
        }

    @classmethod
    def from_json(cls, raw: Any, where: Any = "final_meta.json") -> "RunMeta":
        """Validate a parsed ``final_meta.json``; ``RunFormatError`` names the file and field."""
        def need(d, key, kind, path):
            if not isinstance(d, dict) or key not in d:
                raise RunFormatError(f"{where}: missing field {path}{key!r}")
            v = d[key]
            if not isinstance(v, kind) or isinstance(v, bool):  # no field here is a bool
                raise RunFormatError(f"{where}: field {path}{key!r} is {v!r}; expected "
                                     f"{getattr(kind, '__name__', kind)}")
            return v

        if not isinstance(raw, dict):
            raise RunFormatError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        version = raw.get("format_version", 1)
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise RunFormatError(f"{where}: format_version {version!r} is not one this jsrpo "
                                 f"reads (1..{FORMAT_VERSION}); upgrade jsrpo")
        n = need(raw, "network", dict, "")
        net = NetworkSpec(num_actions=need(n, "num_actions", int, "network."),
                          obs_ndim=need(n, "obs_ndim", int, "network."),
                          hidden_sizes=tuple(need(n, "hidden_sizes", list, "network.")),
                          activation=need(n, "activation", str, "network."),
                          kind=n.get("kind", "mlp"))
        env = need(raw, "env", dict, "")
        learners = need(raw, "learners", dict, "")
        hero_pair = tuple(need(learners, "hero_pair", list, "learners."))
        if len(hero_pair) != 2:
            raise RunFormatError(f"{where}: learners.hero_pair must name two learners")
        members = []
        for i, m in enumerate(need(raw, "members", list, "")):
            p = f"members[{i}]."
            members.append(MemberSpec(member=need(m, "member", int, p),
                                      method=need(m, "method", str, p),
                                      tau=float(need(m, "tau", (int, float), p)),
                                      eps=float(need(m, "eps", (int, float), p)),
                                      seed=need(m, "seed", int, p)))
        if not members:
            raise RunFormatError(f"{where}: the run has no members")
        return cls(env=EnvSpec(name=need(env, "name", str, "env."),
                               kwargs=dict(env.get("kwargs") or {})),
                   network=net, obs_shape=tuple(need(raw, "obs_shape", list, "")),
                   seat_id_in_obs=bool(raw.get("seat_id_in_obs", False)),
                   hero_pair=(int(hero_pair[0]), int(hero_pair[1])),
                   num_learners=need(learners, "num_learners", int, "learners."),
                   members=tuple(members), format_version=version)
