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
    RUN_DIR/checkpoint/config.yaml       the config the checkpoints were trained with
    RUN_DIR/checkpoint/state/<update>/   periodic full learner states (orbax manager)
    RUN_DIR/.lock                        held by the process writing into the run (``RunLock``)
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Tuple

from jsrpo.config import env_values
from jsrpo.files import write_json
from jsrpo.networks import ActorCritic

#: version of the run-directory format written by this code; readers accept 1 .. this.
FORMAT_VERSION = 4  # 2: learners.hero_seats (any number of seats) instead of hero_pair;
#                    3: env.frozen (a seat played by fixed policies); 4: deploy (one learning
#                    seat that met its partners in every seat)


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
    checkpoint_config = property(lambda self: self.path / "checkpoint" / "config.yaml")
    lock = property(lambda self: self.path / ".lock")

    #: what a run directory may hold: training's files and ``jsrpo crossplay``'s outputs.
    KNOWN = ("config.yaml", "metrics.jsonl", "summary.json", "learning_curve.png", "checkpoint",
             "crossplay.json", "crossplay_heatmap.png", "tp_cp.png", ".lock", "tensorboard",
             "wandb", "report.json", "report.txt", "best_config.yaml",
             "stages.yaml", "partners",  # an FCP run's staged config and stage 1
             "psro.json", "meta_game.png", "meta_strategy.png")  # a PSRO run's (and iter_*)

    def entries(self) -> list[str]:
        """Names in the directory besides the lock (empty when it does not exist)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name != ".lock")

    def clean(self, keep=()) -> None:
        """Delete a run's files (for ``--overwrite``) but ``keep``, refusing anything a run does
        not write, so that a mistyped ``--out`` never deletes unrelated files."""
        names = [n for n in self.entries() if n not in keep]
        foreign = [n for n in names if n not in self.KNOWN and not n.startswith(".")
                   and not (n.startswith("iter_") and n[5:].isdigit())]
        if foreign:
            raise FileExistsError(
                f"--overwrite: {self.path} holds files a jsrpo run does not write "
                f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); refusing to "
                "delete them: choose another --out")
        for n in names:
            p = self.path / n
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

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


# ---------------------------------------------------------------- the run lock

class RunLockedError(RuntimeError):
    """Another live process holds the run directory."""


def _process_start(pid: int) -> Optional[str]:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a live
    holder from a new process that reused its pid; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    now = _process_start(pid)
    return start is None or now is None or now == start


class RunLock:
    """An exclusive lock on a run directory, held while a command writes into it.

    The lock is the file ``RUN_DIR/.lock``, created with ``O_EXCL`` and holding the holder's pid,
    host, process start and start time. A second process is refused with a message naming the
    holder; a lock left by a process that died (same host, pid gone or reused) is taken over.
    A lock from another host cannot be checked and is never taken over.
    """

    def __init__(self, run_dir, command: str = "jsrpo"):
        self.path = RunDir(run_dir).lock
        self.command = command
        self.held = False

    def _record(self) -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "process_start": _process_start(os.getpid()),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": self.command}

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self._record(), f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def _holder(self) -> Optional[dict]:
        return self._read(self.path)

    @staticmethod
    def _read(path: Path) -> Optional[dict]:
        try:
            raw = json.loads(path.read_text())
            return raw if isinstance(raw, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written, or torn by a kill between create and write

    def acquire(self) -> "RunLock":
        for _ in range(3):
            if self._create():
                self.held = True
                return self
            holder = self._holder()
            if holder is None:
                continue  # released in between: try again
            stale = self._stale(holder)
            if not stale:
                raise RunLockedError(self._describe(holder))
            # Take a dead holder's lock over: move it aside, and drop it only if what was moved
            # is the lock judged stale, not one a faster taker has just created.
            aside = self.path.with_name(f".lock.stale.{os.getpid()}")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                continue
            if self._read(aside) != holder:
                try:
                    os.link(aside, self.path)  # put the live lock back
                except FileExistsError:
                    pass
            os.unlink(aside)
        raise RunLockedError(f"{self.path}: could not take the lock (it keeps changing hands)")

    def _stale(self, holder: dict) -> bool:
        if not holder:  # unreadable: stale once it is older than a torn write can be young
            try:
                return time.time() - self.path.stat().st_mtime > 10.0
            except FileNotFoundError:
                return True
        if holder.get("host") != socket.gethostname():
            return False
        pid = holder.get("pid")
        return not (isinstance(pid, int) and _alive(pid, holder.get("process_start")))

    def _describe(self, holder: dict) -> str:
        if not holder:
            return (f"{self.path.parent}: another process is starting in this run directory "
                    f"(its lock {self.path} is being written); try again in a few seconds")
        where = f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
        hint = ("" if holder.get("host") == socket.gethostname() else
                f"; if that process is gone, delete {self.path}")
        return (f"{self.path.parent}: in use by another jsrpo process ({where}: "
                f"{holder.get('command', '?')}); wait for it to end{hint}")

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass(frozen=True)
class EnvSpec:
    """The environment a run trained in: ``envs.make(name, **kwargs)``, with ``frozen`` (the
    config's ``env.frozen`` as a mapping) a seat played by fixed policies."""

    name: str
    kwargs: dict = field(default_factory=dict)
    frozen: Optional[dict] = None


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
    # The run's other swept hyper-parameters and this member's values (``{"train.lr": 3e-4}``).
    hyper: dict = field(default_factory=dict)

    def label(self, seat: Optional[int] = None) -> str:
        """``srpo-tau10-eps0.1-s0`` (``ippo-eps0.1-s0``: tau only for SRPO; with the other swept
        values, ``srpo-tau10-eps0.1-lr0.0003-s0``; plus ``-seat1``): a policy's name in reports."""
        extra = "".join(f"-{k.split('.')[-1]}{v:g}" for k, v in self.hyper.items())
        tau = f"-tau{self.tau:g}" if self.method == "srpo" else ""  # only SRPO uses tau
        name = f"{self.method}{tau}-eps{self.eps:g}{extra}-s{self.seed}"
        return name if seat is None else f"{name}-seat{seat}"


@dataclass(frozen=True)
class RunMeta:
    """What a run's saved policies are: the typed content of ``checkpoint/final_meta.json``.

    ``params[member, learner, ...]`` in the orbax checkpoints; the deployed policy of seat s is
    learner ``hero_seats[s]``. ``obs_shape`` is the networks' input (with the one-hot seat id
    when ``seat_id_in_obs``, which self-play on flat observations uses).
    """

    env: EnvSpec
    network: NetworkSpec
    obs_shape: Tuple[int, ...]
    seat_id_in_obs: bool
    hero_seats: Tuple[int, ...]
    num_learners: int
    members: Tuple[MemberSpec, ...]
    format_version: int = FORMAT_VERSION
    # A run with one learning seat (the others frozen, ``env.frozen``): how its hero plays the
    # whole game, ``{"num_seats": P, "seat_id_in_obs": bool, "seats": [...]}``, ``seats`` the
    # game's seats it learned (all of them with ``seat: each``, else the one left free)
    # (``deployed``); None for every other run.
    deploy: Optional[dict] = None
    #: the pool (``env.frozen``) a deployed run trained against (``deployed``), for reports
    trained_against: Optional[dict] = None

    def deployed(self) -> "RunMeta":
        """The run's policies as policies of the game they were made for: for a run with one
        learning seat (``deploy``), its hero in the seats of the game it learned, the game
        without the frozen seat (``hero_seats[s]`` is -1 for a seat it never played); any other
        run unchanged."""
        if self.deploy is None:
            return self
        frozen = self.env.frozen
        seats = self.deploy.get("seats", range(self.deploy["num_seats"]))
        return dataclasses.replace(
            self, env=EnvSpec(name=self.env.name, kwargs=self.env.kwargs, frozen=None),
            seat_id_in_obs=bool(self.deploy["seat_id_in_obs"]),
            hero_seats=tuple(self.hero_seats[0] if s in seats else -1
                             for s in range(int(self.deploy["num_seats"]))),
            deploy=None, trained_against=frozen)

    @property
    def plays_every_seat(self) -> bool:
        """Its heroes can play every seat (a run deployed from one fixed seat cannot)."""
        return all(h >= 0 for h in self.hero_seats)

    def member_env(self, member: int) -> EnvSpec:
        """The environment ``member`` trained in: the run's, with the member's own values of
        the env arguments the run swept (``hyper["env.kwargs.<name>"]``) and its own row of a
        frozen seat's weights (``env.frozen.weights`` with one row per member)."""
        own = env_values(self.members[member].hyper)
        frozen = self.env.frozen
        if frozen:
            w = frozen.get("weights")
            if w and isinstance(w[0], list):  # one row per member: this member's draw
                frozen = {**frozen, "weights": w[member]}
        return EnvSpec(name=self.env.name, kwargs={**self.env.kwargs, **own}, frozen=frozen)

    @property
    def num_seats(self) -> int:
        return len(self.hero_seats)

    @property
    def env_obs_shape(self) -> Tuple[int, ...]:
        """The environment's observation shape (the network input minus the seat id)."""
        shape = list(self.obs_shape)
        if self.seat_id_in_obs:
            shape[-1] -= self.num_seats
        return tuple(shape)

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version,
            "network": dataclasses.asdict(self.network),
            "obs_shape": list(self.obs_shape),
            "seat_id_in_obs": self.seat_id_in_obs,
            "env": {"name": self.env.name, "kwargs": self.env.kwargs}
            | ({"frozen": self.env.frozen} if self.env.frozen is not None else {}),
            "learners": {"hero_seats": list(self.hero_seats), "num_learners": self.num_learners},
            "members": [dataclasses.asdict(m) for m in self.members],
            "params_layout": "params[member, learner, ...]",
        } | ({"deploy": self.deploy} if self.deploy is not None else {})

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
        # format 1 wrote two-seat runs' heroes as hero_pair
        seats_key = "hero_seats" if "hero_seats" in learners or version > 1 else "hero_pair"
        hero_seats = tuple(need(learners, seats_key, list, "learners."))
        if len(hero_seats) < 1 or not all(isinstance(h, int) and not isinstance(h, bool)
                                          for h in hero_seats):
            raise RunFormatError(f"{where}: learners.{seats_key} must name a learner (an "
                                 "integer) for each learning seat")
        deploy = raw.get("deploy")
        if deploy is not None and not (
                isinstance(deploy, dict) and isinstance(deploy.get("num_seats"), int)
                and deploy["num_seats"] >= 2 and isinstance(deploy.get("seat_id_in_obs"), bool)
                and isinstance(deploy.get("seats", []), list)
                and all(isinstance(x, int) and 0 <= x < deploy["num_seats"]
                        for x in deploy.get("seats", []))):
            raise RunFormatError(f"{where}: field 'deploy' is {deploy!r}; expected "
                                 "{num_seats: int >= 2, seat_id_in_obs: bool, seats: [int]}")
        members = []
        for i, m in enumerate(need(raw, "members", list, "")):
            p = f"members[{i}]."
            members.append(MemberSpec(member=need(m, "member", int, p),
                                      method=need(m, "method", str, p),
                                      tau=float(need(m, "tau", (int, float), p)),
                                      eps=float(need(m, "eps", (int, float), p)),
                                      seed=need(m, "seed", int, p),
                                      hyper=dict(m.get("hyper") or {})))
        if not members:
            raise RunFormatError(f"{where}: the run has no members")
        return cls(env=EnvSpec(name=need(env, "name", str, "env."),
                               kwargs=dict(env.get("kwargs") or {}),
                               frozen=env.get("frozen")),
                   network=net, obs_shape=tuple(need(raw, "obs_shape", list, "")),
                   seat_id_in_obs=bool(raw.get("seat_id_in_obs", False)),
                   hero_seats=tuple(int(h) for h in hero_seats),
                   num_learners=need(learners, "num_learners", int, "learners."),
                   members=tuple(members), format_version=version, deploy=deploy)
