"""``jsrpo sweep``: settings that change array shapes (env count, network, method, environment)
as groups of runs, one compiled program per group, in one sweep directory.

A sweep file is a run config plus a ``structure`` mapping of dotted keys to lists of values::

    method: srpo
    tau: [1.0, 10.0]                    # traced: one program per group serves every tau
    train: {lr: [3.0e-4, 1.0e-3]}       # traced too
    structure:
      train.num_envs: [8, 16]           # one group per combination of these
      network.hidden_sizes: [[64, 64], [128, 128]]

Every group's config is checked before anything runs. The sweep directory holds ``sweep.yaml``
(the file as given), ``groups/<name>/`` (a run directory per group), ``sweep.json`` and
``sweep.csv`` (one row per member of every group: its values, final metrics and run directory)
and ``sweep_returns.png`` (final team return against each swept value).
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from jsrpo import config as config_mod
from jsrpo import yamlio
from jsrpo.config import Config, ConfigError
from jsrpo.files import atomic_write, savefig, write_json
from jsrpo.rundir import RunDir


@dataclass(frozen=True)
class Group:
    """One combination of the structural values: its run directory name, the values and the
    validated config."""

    name: str
    values: dict
    config: Config


def _slug(values: dict) -> str:
    parts = []
    for k, v in values.items():
        text = "x".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
        parts.append(f"{k.split('.')[-1]}{text}")
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "-".join(parts))[:120]


def load(path, overrides=()) -> tuple[dict, list[Group]]:
    """The sweep file (dotted overrides applied) and its groups, every config validated.

    Raises ``ConfigError`` naming the field (for a group's config: the group's values)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"SWEEP_FILE: no such file {str(p)!r}")
    try:
        raw = yamlio.load_file(p)
    except yamlio.YamlError as e:
        raise ConfigError(f"SWEEP_FILE {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"SWEEP_FILE {p}: expected a mapping of keys to values")
    raw = config_mod.apply_overrides(raw, overrides)
    structure = raw.pop("structure", None) or {}
    if not isinstance(structure, dict) or not structure:
        raise ConfigError("structure: got " + repr(structure) + "; allowed: a mapping of dotted "
                          "config keys to lists of values, e.g. {train.num_envs: [8, 16]} "
                          "(a config without one is a plain run: use jsrpo train)")
    axes = []
    for key, values in structure.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"structure.{key}: got {values!r}; allowed: a non-empty list of "
                              "values")
        axes.append((key, values))
    groups: list[Group] = []
    for combo in itertools.product(*[v for _, v in axes]):
        values = {k: v for (k, _), v in zip(axes, combo)}
        over = [f"{k}={json.dumps(v)}" for k, v in values.items()]
        try:
            cfg = config_mod.from_dict(config_mod.apply_overrides(raw, over))
        except ConfigError as e:
            raise ConfigError(f"group {values}: {e}") from None
        for key in values:  # judged per group: the env (and its traced arguments) may vary
            if key in cfg.sweepable():
                raise ConfigError(f"structure.{key}: {key} changes no shape; give it as a list "
                                  "in the config instead (all its values then share one "
                                  "program)")
        groups.append(Group(name=f"{len(groups):03d}-{_slug(values)}", values=values,
                            config=cfg))
    return {**raw, "structure": structure}, groups


def finished_runs(sweep_dir: Path) -> list[Path]:
    """The run directories of a sweep directory's finished groups, in group order."""
    return [d for d in sorted((Path(sweep_dir) / "groups").glob("*")) if status(d) == "done"]


def status(run_dir: Path) -> str:
    """``done`` (summary.json written), ``resumable`` (a periodic checkpoint) or ``new``."""
    rd = RunDir(run_dir)
    if rd.summary.exists():
        return "done"
    if rd.state.exists() and any(rd.state.iterdir()):
        return "resumable"
    return "new"


def rows(sweep_dir: Path, groups: list[Group]) -> list[dict]:
    """One row per member of every finished group: group, structural values, the member's
    summary fields (hyper-parameters and final metrics) and its run directory."""
    out = []
    for g in groups:
        rd = RunDir(sweep_dir / "groups" / g.name)
        if not rd.summary.exists():
            continue
        for m in json.loads(rd.summary.read_text())["members"]:
            out.append({"group": g.name, **g.values, **m, "run_dir": str(rd.path)})
    return out


def _csv(table: list[dict]) -> str:
    keys: list = []
    for r in table:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in table:
        w.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    return buf.getvalue()


def swept_keys(groups: list[Group]) -> list[str]:
    """Structural keys, then every traced key any group sweeps, then the seed."""
    keys = list(groups[0].values)
    for g in groups:
        keys += [k for k in g.config.swept() if k not in keys]
    return keys + ["seed"]


def plot(table: list[dict], keys: list[str], path: Path) -> None:
    """Final team return of every member against each swept value (one panel per key)."""
    keys = [k for k in keys if len({json.dumps(r.get(k)) for r in table}) > 1] or keys[-1:]
    fig = Figure(figsize=(4.0 * len(keys), 3.4))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    ret = np.array([r["team_return"] for r in table], float)
    for ax, key in zip(axes, keys):
        labels = sorted({json.dumps(r.get(key)) for r in table})
        x = np.array([labels.index(json.dumps(r.get(key))) for r in table], float)
        ax.scatter(x + np.random.default_rng(0).uniform(-0.1, 0.1, len(x)), ret, s=12, alpha=0.7)
        ax.set_xticks(range(len(labels)), [lbl.strip('"') for lbl in labels], rotation=30,
                      fontsize=7)
        ax.set_xlabel(key)
    axes[0].set_ylabel("final team return")
    fig.tight_layout()
    savefig(fig, path)


def write_outputs(sweep_dir: Path, groups: list[Group]) -> list[Path]:
    """sweep.json, sweep.csv and sweep_returns.png of the finished groups."""
    table = rows(sweep_dir, groups)
    keys = swept_keys(groups)
    write_json(sweep_dir / "sweep.json", {"groups": [{"name": g.name, "values": g.values,
                                                      "status": status(sweep_dir / "groups" /
                                                                       g.name)}
                                                     for g in groups],
                                          "swept": keys, "members": table})
    atomic_write(sweep_dir / "sweep.csv", _csv(table))
    paths = [sweep_dir / "sweep.json", sweep_dir / "sweep.csv"]
    if table:
        plot(table, keys, sweep_dir / "sweep_returns.png")
        paths.append(sweep_dir / "sweep_returns.png")
    return paths


def sweep_file_text(raw: dict) -> str:
    """The sweep file as written into the sweep directory (what a resume compares against)."""
    return yaml.safe_dump(raw, sort_keys=False)
