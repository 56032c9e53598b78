"""The partner registry: which scripted partners each environment has, found by env name.

A ``PartnerSet`` names its partners, the arguments each takes and the ones evaluated by
default, and builds them. Cross-play, render and the command line only talk to the registry,
so adding partners for a new environment is one ``register`` call (no if/elif on env names).
Partner specs are strings ``name[:key=value]...``, e.g. ``single_source:source=1`` or
``dish:epsilon=0.2``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from jsrpo.agents import Agent


@dataclass(frozen=True)
class PartnerSet:
    """Scripted partners of one or more environments.

    Attributes:
      envs: registry names of the environments they play (``envs.make`` names).
      args: partner name -> the keyword arguments it takes besides ``epsilon``.
      defaults: spec strings evaluated when the user names none.
      make: ``(env_name, name, seat, **kwargs) -> Agent``; raises ``ValueError`` naming the
        argument on a bad value.
      env_kwargs: ``make`` also takes ``env_kwargs=`` (the environment's constructor
        arguments), for partners whose observations depend on them (Hanabi's game size).
    """

    envs: Tuple[str, ...]
    args: Mapping[str, Tuple[str, ...]]
    defaults: Tuple[str, ...]
    make: Callable[..., Agent]
    env_kwargs: bool = False

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.args)

    def describe(self) -> str:
        """``name`` or ``name[:arg=...]`` for every partner, for help texts."""
        return ", ".join(n + "".join(f"[:{a}=...]" for a in a_) for n, a_ in self.args.items())


_REGISTRY: Dict[str, PartnerSet] = {}


def register(partners: PartnerSet) -> None:
    """Make ``partners`` the scripted partners of each of its environments."""
    for env in partners.envs:
        if env in _REGISTRY:
            raise ValueError(f"scripted partners for {env!r} are already registered")
    for env in partners.envs:
        _REGISTRY[env] = partners


def get(env_name: str) -> Optional[PartnerSet]:
    """The scripted partners of ``env_name``, or None when it has none."""
    return _REGISTRY.get(env_name)


def sets() -> Tuple[PartnerSet, ...]:
    """Every registered set once, in registration order."""
    out: list[PartnerSet] = []
    for found in _REGISTRY.values():
        if not any(found is seen for seen in out):
            out.append(found)
    return tuple(out)


def envs_with_partners() -> Tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def default_specs(env_name: str) -> Tuple[str, ...]:
    """Spec strings evaluated by default for ``env_name`` (empty when it has no partners)."""
    partners = get(env_name)
    return () if partners is None else partners.defaults


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse(env_name: str, spec: str, seat: int, env_kwargs: Optional[Mapping] = None) -> Agent:
    """``"name[:key=value]..."`` -> the scripted partner of ``env_name`` (built with
    ``env_kwargs``, its defaults if None) playing ``seat``.

    Raises ``ValueError`` naming what is wrong (unknown env, name, argument or value)."""
    partners = get(env_name)
    if partners is None:
        raise ValueError(f"scripted partners exist for {', '.join(envs_with_partners())}; "
                         f"{env_name} has none")
    name, *pairs = str(spec).strip().split(":")
    if name not in partners.args:
        close = difflib.get_close_matches(name, partners.names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {env_name} partner {name!r}{hint}; allowed: "
                         f"{', '.join(partners.names)}")
    allowed = ("epsilon",) + tuple(partners.args[name])
    kw = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"partner {spec!r}: expected name[:key=value]..., got {pair!r}")
        if key not in allowed:
            raise ValueError(f"partner {name!r}: unknown argument {key!r}; allowed: "
                             f"{', '.join(allowed)}")
        try:
            kw[key] = float(value) if key == "epsilon" else _number(value)
        except ValueError:
            raise ValueError(f"partner {spec!r}: {key} got {value!r}; expected a number") from None
    if partners.env_kwargs:
        kw["env_kwargs"] = dict(env_kwargs or {})
    return partners.make(env_name, name, seat, **kw)


def parse_all(env_name: str, specs: Sequence[str],
              env_kwargs: Optional[Mapping] = None) -> list[tuple[Agent, Agent]]:
    """Every spec as ``(seat-0 agent, seat-1 agent)``."""
    return [(parse(env_name, s, 0, env_kwargs), parse(env_name, s, 1, env_kwargs))
            for s in specs]
