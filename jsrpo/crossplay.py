"""Cross-play evaluation: how well does a policy do with someone else?

Every sweep member of every given run is pooled: its deployed heroes on each side of the seats
(``episodes.seat_halves``: seat 0 and seat 1 with two players; seats 0-1 and 2-3 with four, as
the SRPO paper pairs Hanabi policies). Entry (i, j) of the cross-play matrix is member i's
first-side heroes playing with member j's second-side heroes for N episodes, no learning; the
diagonal is each member's own trained team (training performance, TP), the off-diagonal is
cross-play (CP). Pools sharing one network architecture are evaluated as ONE compiled call
(``episodes.play_sides``: ``vmap(i) o vmap(j) o vmap(episodes)``); pools of different
architectures and scripted partners (different policy functions) are joined by a Python loop
over groups only. Held-out scripted partners (the ``jsrpo.partners`` registry) play every pooled
policy on either side and get their own rows and columns (``partner_in_seat1``: the partner on
the second side; ``partner_in_seat0``: on the first).

Every pair plays the same N episode keys (common random numbers): start positions, move orders,
respawns and action-sampling streams are shared, so differences between entries are not noise
from the environment's coin flips. ``write_outputs`` writes ``crossplay.json``,
``crossplay_heatmap.png`` and ``tp_cp.png``; the ``jsrpo crossplay`` command is in ``cli``.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, cast

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure

import envs
from envs.base import ParamEnv
from jsrpo import metrics, partners, population
from jsrpo.agents import Agent, check_agent
from jsrpo.checkpoint import RunCheckpoint, load_run
from jsrpo.config import FrozenConfig
from jsrpo.episodes import play_seats, play_sides, seat_halves, stack_agents
from jsrpo.files import savefig, write_json
from jsrpo.frozen import EACH, FrozenSeats, env_of, frozen_agents
from jsrpo.rundir import EnvSpec
from jsrpo.vec_env import EpisodeTotals, VecEnv

DEFAULT_EPISODES = 256
DEFAULT_BOOTSTRAP_REPS = 2000


# ---------------------------------------------------------------- the pool of trained policies

def method_label(member: dict, vary_eps: bool) -> str:
    """Method of a sweep member as cross-play groups it: srpo is split by tau (tau = 0 is IPPO
    run inside SRPO's program), any method by eps when the pool mixes several eps."""
    label = member["method"] + (f" tau={member['tau']:g}" if member["method"] == "srpo" else "")
    return label + (f" eps={member['eps']:g}" if vary_eps else "")


Team = tuple  # one Agent per seat of a side (``episodes.seat_halves``)


def hero_agents(ckpt: RunCheckpoint) -> tuple[list[Team], list[Team]]:
    """The deployed heroes of every member of a loaded run (``load_run``) on each side of the
    seats (two players: seat 0 and seat 1; four: seats 0-1 and 2-3), one team per member."""
    sides = seat_halves(ckpt.meta.num_seats)
    side0, side1 = ([tuple(ckpt.hero(i, seat) for seat in side) for i in range(len(ckpt.members))]
                    for side in sides)
    return side0, side1


def _with_defaults(env) -> tuple:
    """An ``EnvSpec`` with every factory argument it leaves out at its default, comparable
    (a frozen seat's policies included: chasers trained against other runners played another
    game)."""
    full = {k: envs.kwarg_default(env.name, k) for k in envs.env_kwargs(env.name)}
    return env.name, repr(sorted({**full, **env.kwargs}.items())), repr(env.frozen)


def load_pool(run_dirs: Sequence) -> dict:
    """Load and pool every member of ``run_dirs`` (all must play the same environment).

    Returns ``{"env": {"name", "kwargs"}, "runs": [str], "members": [dict], "side0": [Team],
    "side1": [Team]}`` (each member's heroes on either side of the seats), members ordered by
    method (first-seen order), then by run and member.
    Raises FileNotFoundError for a run without checkpoint, ValueError for mixed environments.
    """
    if not run_dirs:
        raise ValueError("RUN_DIR: give at least one run directory")
    # a PSRO run deploys as its final meta-strategy mixtures (``population.load``)
    ckpts: list = [population.load(d) if population.is_psro_run(d) else load_run(d)
                   for d in run_dirs]
    for c in ckpts:
        if not c.meta.plays_every_seat:
            learned = [s for s, h in enumerate(c.meta.hero_seats) if h >= 0]
            raise ValueError(f"RUN_DIR: {c.run_dir} learned seat(s) {learned} only (the others "
                             "were frozen); cross-play pairs heroes in every seat")
    env0 = ckpts[0].meta.member_env(0)
    for c in ckpts:
        for i in range(len(c.meta.members)):
            env = c.meta.member_env(i)
            if _with_defaults(env) != _with_defaults(env0):
                raise ValueError(
                    f"members from different environments cannot be pooled: {ckpts[0].run_dir} "
                    f"member 0 plays {env0.name} {env0.kwargs}, {c.run_dir} member {i} plays "
                    f"{env.name} {env.kwargs} (a run that sweeps env.kwargs holds several "
                    "environments: pool the members of one)")
    rows, side0, side1 = [], [], []
    for r, c in enumerate(ckpts):
        s0, s1 = hero_agents(c)
        side0 += s0
        side1 += s1
        rows += [dict(dataclasses.asdict(m), run=str(c.run_dir), run_index=r) for m in c.members]
    vary_eps = len({m["eps"] for m in rows}) > 1
    for m in rows:
        m["method_label"] = method_label(m, vary_eps)
    groups = list(dict.fromkeys(m["method_label"] for m in rows))
    order = sorted(range(len(rows)), key=lambda i: groups.index(rows[i]["method_label"]))
    rows = [rows[i] for i in order]
    for m in rows:
        m["label"] = f"{m['method_label']} s{m['seed']}" + (f" r{m['run_index']}"
                                                             if len(ckpts) > 1 else "")
    return {"env": dataclasses.asdict(env0), "runs": [str(c.run_dir) for c in ckpts],
            "members": rows,
            "side0": [side0[i] for i in order], "side1": [side1[i] for i in order]}


def pair_statistics(tot: EpisodeTotals) -> dict:
    """Per-pair means over episodes of totals with leading axes ``[..., N]``.

    Returns numpy arrays: ``team_return [...]`` (mean of the seats' returns, as training's
    evaluation defines it) and its standard error ``team_return_se [...]``; ``return``,
    ``private_cost`` and ``contributions[k]`` ``[..., P]`` per seat; ``free_riding [...]`` (the
    largest minus the smallest seat's cost).
    """
    ret, cost = np.asarray(tot.ret, np.float64), np.asarray(tot.cost, np.float64)
    team = ret.mean(-1)  # [..., N] per episode
    n = team.shape[-1]
    mean_cost = cost.mean(-2)
    se = team.std(-1, ddof=1) / np.sqrt(n) if n > 1 else np.full(team.shape[:-1], np.nan)
    return {
        "team_return": team.mean(-1),
        "team_return_se": se,
        "return": ret.mean(-2),
        "private_cost": mean_cost,
        "free_riding": metrics.free_riding_degree(mean_cost.max(-1), mean_cost.min(-1)),
        "contributions": {k: np.asarray(v, np.float64).mean(-2) for k, v in tot.contrib.items()},
    }


def _team_kind(team: Team) -> tuple:
    return tuple(a.kind for a in team)


def _kind_groups(teams: Sequence[Team]) -> list[np.ndarray]:
    kinds = list(dict.fromkeys(_team_kind(t) for t in teams))
    return [np.array([i for i, t in enumerate(teams) if _team_kind(t) == k]) for k in kinds]


def _stack_team(teams: Sequence[Team]) -> list[Agent]:
    """Teams of one kind as one stacked ``Agent`` per seat of the side."""
    return [stack_agents([t[k] for t in teams]) for k in range(len(teams[0]))]


def _stack_groups(groups: Sequence[Sequence[Team]]) -> list[Agent]:
    """M groups of I teams of one kind as one ``Agent`` per seat, params ``[M, I, ...]``."""
    return [stack_agents(seat) for seat in zip(*[_stack_team(g) for g in groups])]


def evaluate_pairs(venv: VecEnv, side0: Sequence[Team], side1: Sequence[Team], keys) -> dict:
    """``pair_statistics`` of every (first-side team i, second-side team j): arrays
    ``[I, J, ...]``. A team is one ``Agent`` per seat of its side (``episodes.seat_halves``;
    one seat per side with two players).

    Teams are grouped by their agents' ``kind``; each (side-0 group, side-1 group) block is one
    compiled call. Every agent is first checked against the environment
    (``agents.check_agent``), so a policy for other observations or actions fails with its name
    instead of playing garbage.
    """
    stats = evaluate_member_pairs(venv, [side0], [side1], keys)
    return jax.tree.map(lambda x: x[0], stats)


def evaluate_member_pairs(venv: VecEnv, side0: Sequence[Sequence[Team]],
                          side1: Sequence[Sequence[Team]], keys) -> dict:
    """``evaluate_pairs`` within each of M groups at once: ``side0[m]`` (I teams) against
    ``side1[m]`` (J teams), arrays ``[M, I, J, ...]``, one compiled call per block of kinds
    for all groups (a PSRO run's members, each with its own populations). Team i has the same
    kinds in every group."""
    env_name = cast(str, getattr(venv.env, "registry_name", None)
                    or getattr(venv.env, "name", "?"))
    if not side0 or len(side0) != len(side1):
        raise ValueError(f"evaluate_member_pairs: {len(side0)} groups of first-side teams, "
                         f"{len(side1)} of second-side teams (at least one, as many of each)")
    for side in (side0, side1):
        for group in side:
            for team in group:
                for a in team:
                    check_agent(a, env_name, venv.env_obs_shape, venv.num_actions)
            if [_team_kind(t) for t in group] != [_team_kind(t) for t in side[0]]:
                raise ValueError("evaluate_member_pairs: every group needs teams of the same "
                                 "kinds in the same order")
    M, I, J = len(side0), len(side0[0]), len(side1[0])
    stats = None
    for idx0 in _kind_groups(side0[0]):
        for idx1 in _kind_groups(side1[0]):
            block = pair_statistics(play_sides(
                venv, _stack_groups([[g[i] for i in idx0] for g in side0]),
                _stack_groups([[g[j] for j in idx1] for g in side1]), keys, per_member=True))
            if stats is None:
                stats = jax.tree.map(lambda x: np.full((M, I, J) + x.shape[3:], np.nan), block)
            for full, part in zip(jax.tree.leaves(stats), jax.tree.leaves(block)):
                full[:, idx0[:, None], idx1[None, :]] = part
    if stats is None:
        raise ValueError("evaluate_pairs: no agents on one side of the seats")
    return stats


# ---------------------------------------------------------------- the whole evaluation

def partner_agents(env_name: str, specs: Sequence[str], env_kwargs: Optional[Mapping] = None,
                   num_seats: Optional[int] = None) -> list[tuple[Team, Team]]:
    """Scripted partners as ``(first-side team, second-side team)`` (one agent per seat of each
    side of ``seat_halves``), one per spec string (``partners.parse``, for the env built with
    ``env_kwargs``; ``num_seats``: the seats that play, the env's own number if None); errors
    name the ``--partners`` flag."""
    if not specs:
        return []
    if num_seats is None:
        num_seats = envs.num_seats(env_name, dict(env_kwargs or {}))
    first, second = seat_halves(num_seats)
    try:
        return [(tuple(partners.parse(env_name, spec, s, env_kwargs) for s in first),
                 tuple(partners.parse(env_name, spec, s, env_kwargs) for s in second))
                for spec in specs]
    except ValueError as e:
        raise ValueError(f"--partners: {e} (pass --partners none for no partners)") from None


def summarise_partners(part: dict, methods: Sequence[str], labels: Sequence[str],
                       reps: int, seed: int) -> dict:
    """Per method and partner: ``describe`` of the team return of the method's members with the
    partner in seat 1 (``part["partner_in_seat1"]`` is ``[P, K]``) and in seat 0 (``[K, P]``)."""
    out = {}
    for m, idx in metrics.method_groups(methods).items():
        out[m] = {lab: {
            "partner_in_seat1": metrics.describe(part["partner_in_seat1"]["team_return"][idx, k],
                                                 reps, seed=seed),
            "partner_in_seat0": metrics.describe(part["partner_in_seat0"]["team_return"][k, idx],
                                                 reps, seed=seed),
        } for k, lab in enumerate(labels)}
    return out


def runner_agents(env: ParamEnv, specs: Sequence[str]) -> list:
    """The policies ``specs`` (scripted agents or run directories, as ``env.frozen.policies``)
    for the frozen seat of ``env``; errors name the ``--runners`` flag."""
    if not isinstance(env, FrozenSeats):
        raise ValueError("--runners: these runs have no frozen seat (env.frozen); runner shift "
                         "swaps the policy of a frozen seat")
    try:
        policies = frozen_agents(FrozenConfig(seat=EACH if env.seat is None else env.seat,
                                              policies=tuple(specs)),
                                 env.registry_name, env.inner, env.inner_kwargs)
        return policies if env.seat is None else [a[0] for a in policies]
    except ValueError as e:
        raise ValueError(str(e).replace("env.frozen.policies", "--runners")) from None


def play_own_teams(venv: VecEnv, frozen: FrozenSeats, runners: Sequence[Agent],
                   teams: tuple[Sequence[Team], Sequence[Team]], keys) -> dict:
    """``pair_statistics`` of each member's own team (first-side team i with second-side team
    i) against each policy of ``runners`` in the frozen seat: arrays ``[I, R, ...]``. One
    compiled call per agent kind of the teams: the runners are env params, swapped by index."""
    shifted = FrozenSeats(frozen.inner, frozen.seat, runners, inner_kwargs=frozen.inner_kwargs)
    base = VecEnv(shifted, seat_id=venv.seat_id)
    stats = None
    side0, side1 = teams
    for idx in _kind_groups([tuple(a) + tuple(b) for a, b in zip(side0, side1)]):
        s0, s1 = _stack_team([side0[i] for i in idx]), _stack_team([side1[i] for i in idx])
        agents = list(s0) + list(s1)

        def episode(params, runner, key):
            v = base.with_params(shifted.one_policy(shifted.default_params, runner))
            return play_seats(v, agents, list(params), key)

        over_keys = jax.vmap(episode, in_axes=(None, None, 0))
        over_runners = jax.vmap(over_keys, in_axes=(None, 0, None))
        over_teams = jax.vmap(over_runners, in_axes=(0, None, None))
        tot = jax.device_get(jax.jit(over_teams)(tuple(a.params for a in agents),
                                                 jnp.arange(len(runners)), keys))
        block = pair_statistics(tot)
        if stats is None:
            stats = jax.tree.map(lambda x: np.full((len(side0),) + x.shape[1:], np.nan), block)
        for full, part in zip(jax.tree.leaves(stats), jax.tree.leaves(block)):
            full[idx] = part
    if stats is None:
        raise ValueError("play_own_teams: no teams")
    return stats


def crossplay(run_dirs: Sequence, partners: Sequence[str] = (), episodes: int = DEFAULT_EPISODES,
              seed: int = 0, bootstrap_reps: int = DEFAULT_BOOTSTRAP_REPS,
              runners: Sequence[str] = ()) -> dict:
    """Evaluate the pooled members of ``run_dirs`` against each other and against ``partners``.

    Returns the content of ``crossplay.json`` (numpy arrays; ``P`` pooled members, ``K``
    partners): ``members``, ``labels``, the ``[P, P]`` matrices (``team_return``,
    ``team_return_se``, ``free_riding``; ``[P, P, 2]`` ``return``, ``private_cost``,
    ``contributions``), ``summary`` (TP/CP of team return and free-riding per method and
    method pair) and ``partners`` (``partner_in_seat1`` ``[P, K]``, ``partner_in_seat0``
    ``[K, P]``, per-method summaries); with ``runners`` (runs with a frozen seat), ``runners``:
    each member's own team against each of them in the frozen seat (``[P, R]``, per-method
    summaries).
    """
    pool = load_pool(run_dirs)
    env = env_of(EnvSpec(**pool["env"]))
    partner_pairs = partner_agents(pool["env"]["name"], partners, pool["env"]["kwargs"],
                                   env.num_agents)
    runner_pool = runner_agents(env, runners) if runners else []
    venv = VecEnv(env)
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)

    t0 = time.perf_counter()
    stats = evaluate_pairs(venv, pool["side0"], pool["side1"], keys)
    pool_seconds = time.perf_counter() - t0
    methods = [m["method_label"] for m in pool["members"]]
    result = {
        "env": pool["env"], "runs": pool["runs"], "episodes": episodes, "seed": seed,
        "bootstrap": {"reps": bootstrap_reps, "confidence": 0.95},
        "members": [{k: m[k] for k in ("label", "method_label", "method", "tau", "eps", "seed",
                                       "run", "member")} for m in pool["members"]],
        "labels": [m["label"] for m in pool["members"]],
        **stats,
        "summary": {
            "team_return": metrics.tp_cp_summary(stats["team_return"], methods, bootstrap_reps,
                                                 seed=seed),
            "free_riding": metrics.tp_cp_summary(stats["free_riding"], methods, bootstrap_reps,
                                                 seed=seed),
        },
        "seconds": {"pool": pool_seconds},
    }
    if partner_pairs:
        t0 = time.perf_counter()
        p0 = [p[0] for p in partner_pairs]
        p1 = [p[1] for p in partner_pairs]
        part: dict[str, Any] = {
            "labels": [team[0].name for team in p0], "specs": list(partners),
            "partner_in_seat1": evaluate_pairs(venv, pool["side0"], p1, keys),
            "partner_in_seat0": evaluate_pairs(venv, p0, pool["side1"], keys)}
        part["summary"] = summarise_partners(part, methods, part["labels"], bootstrap_reps, seed)
        result["partners"] = part
        result["seconds"]["partners"] = time.perf_counter() - t0
    if runner_pool:
        t0 = time.perf_counter()
        own = play_own_teams(venv, cast(FrozenSeats, env), runner_pool,
                             (pool["side0"], pool["side1"]), keys)
        labels = [a.name for a in runner_pool]
        result["runners"] = {
            "labels": labels, "specs": list(runners), **own,
            "summary": {m: {lab: metrics.describe(own["team_return"][idx, r], bootstrap_reps,
                                                  seed=seed) for r, lab in enumerate(labels)}
                        for m, idx in metrics.method_groups(methods).items()}}
        result["seconds"]["runners"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- files

def _group_bounds(methods: Sequence[str]) -> list[tuple[str, int, int]]:
    """(method, first index, one past last) of each run of equal labels (pool is grouped)."""
    bounds, start = [], 0
    for i in range(1, len(methods) + 1):
        if i == len(methods) or methods[i] != methods[start]:
            bounds.append((methods[start], start, i))
            start = i
    return bounds


def plot_heatmap(result: dict, path: Path) -> None:
    """The pooled team-return matrix grouped by method, with the scripted partners' rows
    (partner in seat 0) and columns (partner in seat 1) past a thick separator."""
    team = np.asarray(result["team_return"])
    members = result["members"]
    P = len(members)
    part = result.get("partners")
    K = len(part["labels"]) if part else 0
    full = np.full((P + K, P + K), np.nan)
    full[:P, :P] = team
    if part:
        full[:P, P:] = part["partner_in_seat1"]["team_return"]
        full[P:, :P] = part["partner_in_seat0"]["team_return"]
    # Member ticks drop the method (the group label says it): "s0", or "s0 r1" across runs.
    ticks = [m["label"][len(m["method_label"]) + 1:] for m in members] + (
        list(part["labels"]) if part else [])
    size = 4.0 + 0.32 * (P + K)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.subplots()
    # bad="white": the partner x partner corner
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(full), cmap=cmap)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean team return")
    if P + K <= 16:  # numbers stay legible only on small matrices
        for (i, j), v in np.ndenumerate(full):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="w")
    for name, lo, hi in _group_bounds([m["method_label"] for m in members]):
        for b in (lo, hi):
            ax.axhline(b - 0.5, color="k", lw=1.0)
            ax.axvline(b - 0.5, color="k", lw=1.0)
        mid = (lo + hi - 1) / 2
        ax.text(mid, -0.9, name, ha="center", va="bottom", fontsize=8, fontweight="bold")
        ax.text(-1.6, mid, name, ha="right", va="center", rotation=90, fontsize=8,
                fontweight="bold")
    if K:
        ax.axhline(P - 0.5, color="k", lw=3.0)
        ax.axvline(P - 0.5, color="k", lw=3.0)
    ax.set_xticks(range(P + K), ticks, rotation=90, fontsize=7)
    ax.set_yticks(range(P + K), ticks, fontsize=7)
    ax.set_xlabel("seat-1 policy (member, then scripted partner)")
    ax.set_ylabel("seat-0 policy", labelpad=18)
    fig.suptitle(f"{result['env']['name']} cross-play: team return over {result['episodes']} "
                 "episodes per pair", fontsize=10)
    fig.tight_layout()
    savefig(fig, Path(path))


def plot_tp_cp(result: dict, path: Path) -> None:
    """TP vs CP per method: IQM bars with 95% bootstrap-interval error bars."""
    per_method = result["summary"]["team_return"]["methods"]
    names = list(per_method)
    x = np.arange(len(names))
    fig = Figure(figsize=(max(4.5, 1.6 * len(names) + 2), 4.2))
    ax = fig.subplots()
    for offset, key, label in ((-0.2, "tp", "TP (own trained pair)"),
                               (0.2, "cp", "CP (cross-play)")):
        iqm = np.array([per_method[n][key]["iqm"] for n in names], np.float64)
        ci = np.array([per_method[n][key]["ci"] for n in names], np.float64)
        err = np.abs(np.stack([iqm - ci[:, 0], ci[:, 1] - iqm]))
        ax.bar(x + offset, np.nan_to_num(iqm), 0.4, yerr=np.nan_to_num(err), capsize=4,
               label=label)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("team return (IQM, 95% bootstrap CI)")
    ax.set_title(f"{result['env']['name']}: training vs cross-play performance", fontsize=10)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    savefig(fig, Path(path))


def write_outputs(result: dict, out: Path) -> list[Path]:
    """``crossplay.json``, ``crossplay_heatmap.png`` and ``tp_cp.png`` in ``out`` (atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "crossplay.json", out / "crossplay_heatmap.png", out / "tp_cp.png"]
    write_json(paths[0], result, indent=1)
    plot_heatmap(result, paths[1])
    plot_tp_cp(result, paths[2])
    if "runners" in result:
        paths.append(out / "runner_shift.png")
        plot_runner_shift(result, paths[-1])
    return paths


def plot_runner_shift(result: dict, path: Path) -> None:
    """Each member's own team (rows, grouped by method) against each runner (columns)."""
    run = result["runners"]
    team = np.asarray(run["team_return"])
    members = result["members"]
    P, R = team.shape
    fig = Figure(figsize=(3.0 + 0.6 * R, 2.0 + 0.3 * P))
    ax = fig.subplots()
    im = ax.imshow(team, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean team return")
    if P * R <= 400:
        for (i, j), v in np.ndenumerate(team):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="w")
    for _, lo, hi in _group_bounds([m["method_label"] for m in members])[1:]:
        ax.axhline(lo - 0.5, color="w", lw=2)
    ax.set_xticks(range(R), run["labels"], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(P), result["labels"], fontsize=7)
    ax.set_title("own team against each runner (runner shift)")
    fig.tight_layout()
    savefig(fig, path)


def summary_lines(result: dict) -> list[str]:
    """TP/CP per method (and per partner) as printable lines."""
    fmt = lambda d: f"{d['iqm']:.2f} [{d['ci'][0]:.2f}, {d['ci'][1]:.2f}]"
    lines = [f"[jsrpo] cross-play of {len(result['labels'])} pooled members, "
             f"{result['episodes']} episodes per pair (team return IQM [95% CI]):"]
    for m, s in result["summary"]["team_return"]["methods"].items():
        cp = fmt(s["cp"]) if s["cp"]["n"] else "n/a (one member)"
        lines.append(f"  {m}: TP {fmt(s['tp'])}  CP {cp}")
    part = result.get("partners")
    if part:
        for m, rows in part["summary"].items():
            cells = ", ".join(f"{lab} {rows[lab]['partner_in_seat1']['iqm']:.1f}/"
                              f"{rows[lab]['partner_in_seat0']['iqm']:.1f}" for lab in rows)
            lines.append(f"  {m} with partners (partner in seat 1 / seat 0): {cells}")
    if "runners" in result:
        for m, rows in result["runners"]["summary"].items():
            cells = ", ".join(f"{lab} {d['iqm']:.2f}" for lab, d in rows.items())
            lines.append(f"  {m} own team against runners: {cells}")
    return lines
