"""Cross-play evaluation (docs/evaluation.md): how well does a policy do with someone else?

Every sweep member of every given run is pooled: its deployed seat-0 hero and seat-1 hero.
Entry (i, j) of the cross-play matrix is the seat-0 hero of member i playing with the seat-1
hero of member j for N episodes, no learning; the diagonal is each member's own trained pair
(training performance, TP), the off-diagonal is cross-play (CP). Pools sharing one network
architecture are evaluated as ONE compiled call, ``vmap(i) o vmap(j) o vmap(episodes)``; pools of
different architectures and scripted partners (different policy functions) are joined by a
Python loop over groups only. Held-out scripted partners (``jsrpo.partners``) play every pooled
policy in both seat arrangements and get their own rows and columns.

Every pair plays the same N episode keys (common random numbers): start positions, move orders,
respawns and action-sampling streams are shared, so differences between entries are not noise
from the environment's coin flips.

    jsrpo crossplay RUN_DIR [RUN_DIR ...] [--partners NAMES] [--episodes N] [--out DIR] [--seed S]

writes ``crossplay.json``, ``crossplay_heatmap.png`` and ``tp_cp.png`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jsrpo import metrics
from jsrpo.agents import Agent, check_agent, network_agent
from jsrpo.vec_env import EpisodeTotals, VecEnv

DEFAULT_EPISODES = 256
DEFAULT_BOOTSTRAP_REPS = 2000
_MASKED = -1e9  # logit of an action a seat does not have (as in training)


# ---------------------------------------------------------------- the pool of trained policies

def method_label(member: dict, vary_eps: bool) -> str:
    """Method of a sweep member as cross-play groups it: srpo is split by tau (tau = 0 is IPPO
    run inside SRPO's program), any method by eps when the pool mixes several eps."""
    label = member["method"] + (f" tau={member['tau']:g}" if member["method"] == "srpo" else "")
    return label + (f" eps={member['eps']:g}" if vary_eps else "")


def hero_agents(ckpt) -> tuple[list[Agent], list[Agent]]:
    """The deployed seat-0 and seat-1 heroes of every member of a loaded run (``load_run``),
    as ``checkpoint.load_policy`` builds them but without reloading the checkpoint per member."""
    from jsrpo.checkpoint import env_obs_shape

    hero_pair = ckpt.meta["learners"]["hero_pair"]
    seat_id_in_obs = ckpt.meta.get("seat_id_in_obs")
    seats = ([], [])
    for i, m in enumerate(ckpt.members):
        for seat in (0, 1):
            name = f"{m['method']}-tau{m['tau']:g}-eps{m['eps']:g}-s{m['seed']}-seat{seat}"
            seats[seat].append(network_agent(name, ckpt.network,
                                             ckpt.learner_params(i, hero_pair[seat]),
                                             seat if seat_id_in_obs else None,
                                             env_obs_shape(ckpt.meta)))
    return seats


def load_pool(run_dirs: Sequence) -> dict:
    """Load and pool every member of ``run_dirs`` (all must play the same environment).

    Returns ``{"env": {"name", "kwargs"}, "runs": [str], "members": [dict], "seat0": [Agent],
    "seat1": [Agent]}``, members ordered by method (first-seen order), then by run and member.
    Raises FileNotFoundError for a run without checkpoint, ValueError for mixed environments.
    """
    from jsrpo.checkpoint import load_run

    if not run_dirs:
        raise ValueError("RUN_DIR: give at least one run directory")
    ckpts = [load_run(d) for d in run_dirs]
    env0 = ckpts[0].meta["env"]
    for c in ckpts[1:]:
        if c.meta["env"] != env0:
            raise ValueError(
                f"runs from different environments cannot be pooled: {ckpts[0].run_dir} plays "
                f"{env0['name']} {env0['kwargs']}, {c.run_dir} plays {c.meta['env']['name']} "
                f"{c.meta['env']['kwargs']}")
    rows, seat0, seat1 = [], [], []
    for r, c in enumerate(ckpts):
        s0, s1 = hero_agents(c)
        seat0 += s0
        seat1 += s1
        rows += [dict(m, run=str(c.run_dir), run_index=r) for m in c.members]
    vary_eps = len({m["eps"] for m in rows}) > 1
    for m in rows:
        m["method_label"] = method_label(m, vary_eps)
    groups = list(dict.fromkeys(m["method_label"] for m in rows))
    order = sorted(range(len(rows)), key=lambda i: groups.index(rows[i]["method_label"]))
    rows = [rows[i] for i in order]
    for m in rows:
        m["label"] = f"{m['method_label']} s{m['seed']}" + (f" r{m['run_index']}"
                                                             if len(ckpts) > 1 else "")
    return {"env": env0, "runs": [str(c.run_dir) for c in ckpts], "members": rows,
            "seat0": [seat0[i] for i in order], "seat1": [seat1[i] for i in order]}


def stack_agents(agents: Sequence[Agent]) -> Agent:
    """Agents of one ``kind`` as one ``Agent`` whose params have a leading axis ``[len]``."""
    kinds = {a.kind for a in agents}
    if len(kinds) != 1:
        raise ValueError(f"stack_agents: agents of different kinds {sorted(kinds)}")
    # Host-side stack: eager jnp.stack would compile one small XLA program per leaf shape.
    params = jax.tree.map(lambda *x: np.stack(x), *[a.params for a in agents])
    return Agent(name=f"{len(agents)} x {agents[0].kind}", params=params, policy=agents[0].policy,
                 init_state=agents[0].init_state, kind=agents[0].kind)


# ---------------------------------------------------------------- playing episodes

def episode_totals(venv: VecEnv, agent0: Agent, agent1: Agent, params0, params1,
                   key) -> EpisodeTotals:
    """One episode of ``agent0`` (seat 0, reading ``params0``) with ``agent1`` (seat 1), sampled
    actions, ``venv.max_steps`` steps; totals stop at the first episode end.

    ``agentX.params`` is not read (so the agents may carry stacked params); pass one member's.
    Returns EpisodeTotals with ``ret``, ``cost`` and each contribution ``[2]``, ``length []``.
    """
    env, seats = venv.env, venv.agents
    mask = None if venv.action_mask is None else jnp.asarray(venv.action_mask)
    k_reset, k_init0, k_init1, k_run = jax.random.split(key, 4)
    obs, state = env.reset(k_reset, venv.params)
    agent_states = (agent0.init_state(k_init0), agent1.init_state(k_init1))

    def step(carry, key):
        state, obs, (s0, s1), alive, tot = carry
        k0, k1, k_env = jax.random.split(key, 3)
        l0, s0 = agent0.policy(params0, s0, obs[seats[0]], k0)
        l1, s1 = agent1.policy(params1, s1, obs[seats[1]], k1)
        if mask is not None:
            l0, l1 = jnp.where(mask[0], l0, _MASKED), jnp.where(mask[1], l1, _MASKED)
        actions = {seats[0]: jax.random.categorical(k0, l0),
                   seats[1]: jax.random.categorical(k1, l1)}
        # step_env: no auto-reset (cheaper); steps after the first end are masked out below.
        obs, state, rew, dones, infos = env.step_env(k_env, state, actions, venv.params)
        live = alive.astype(jnp.float32)  # steps after the first episode end are not counted
        reward = jnp.stack([rew[a] for a in seats]).astype(jnp.float32)
        tot = EpisodeTotals(
            ret=tot.ret + live * reward,
            cost=tot.cost + live * infos["private_cost"].astype(jnp.float32),
            contrib={k: v + live * infos[k].astype(jnp.float32) for k, v in tot.contrib.items()},
            length=tot.length + alive.astype(jnp.int32))
        return (state, obs, (s0, s1), alive & ~dones["__all__"], tot), None

    zeros = jax.tree.map(lambda x: x[0], venv.zero_totals(1))
    carry = (state, obs, agent_states, jnp.ones((), bool), zeros)
    (_, _, _, _, tot), _ = jax.lax.scan(step, carry, jax.random.split(k_run, venv.max_steps))
    return tot


def crossplay_block(venv: VecEnv, agent0: Agent, agent1: Agent, keys) -> EpisodeTotals:
    """Every pair of a seat-0 stack and a seat-1 stack over the same episodes, ONE compiled call.

    Args:
      agent0: seat-0 agents of one kind, params stacked ``[I, ...]`` (see ``stack_agents``).
      agent1: seat-1 agents of one kind, params stacked ``[J, ...]``.
      keys: ``[N]`` episode keys, shared by every pair.
    Returns:
      EpisodeTotals of numpy arrays with leading axes ``[I, J, N]`` (``ret``: ``[I, J, N, 2]``).
    """
    episode = partial(episode_totals, venv, agent0, agent1)
    over_episodes = jax.vmap(episode, in_axes=(None, None, 0))
    over_j = jax.vmap(over_episodes, in_axes=(None, 0, None))
    over_i = jax.vmap(over_j, in_axes=(0, None, None))
    return jax.device_get(jax.jit(over_i)(agent0.params, agent1.params, keys))


def pair_statistics(tot: EpisodeTotals) -> dict:
    """Per-pair means over episodes of totals with leading axes ``[..., N]``.

    Returns numpy arrays: ``team_return [...]`` (mean of the two seats' returns, as training's
    evaluation defines it) and its standard error ``team_return_se [...]``; ``return``,
    ``private_cost`` and ``contributions[k]`` ``[..., 2]`` per seat; ``free_riding [...]``.
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
        "free_riding": metrics.free_riding_degree(mean_cost[..., 0], mean_cost[..., 1]),
        "contributions": {k: np.asarray(v, np.float64).mean(-2) for k, v in tot.contrib.items()},
    }


def _kind_groups(agents: Sequence[Agent]) -> list[np.ndarray]:
    kinds = list(dict.fromkeys(a.kind for a in agents))
    return [np.array([i for i, a in enumerate(agents) if a.kind == k]) for k in kinds]


def evaluate_pairs(venv: VecEnv, seat0: Sequence[Agent], seat1: Sequence[Agent], keys) -> dict:
    """``pair_statistics`` of every (seat-0 agent i, seat-1 agent j): arrays ``[I, J, ...]``.

    Agents are grouped by ``kind``; each (seat-0 group, seat-1 group) block is one compiled call.
    Every agent is first checked against the environment (``agents.check_agent``), so a policy
    for other observations or actions fails with its name instead of playing garbage.
    """
    env_name = getattr(venv.env, "registry_name", None) or getattr(venv.env, "name", "?")
    for a in list(seat0) + list(seat1):
        check_agent(a, env_name, venv.env_obs_shape, venv.num_actions)
    stats = None
    for idx0 in _kind_groups(seat0):
        for idx1 in _kind_groups(seat1):
            block = pair_statistics(crossplay_block(
                venv, stack_agents([seat0[i] for i in idx0]),
                stack_agents([seat1[j] for j in idx1]), keys))
            if stats is None:
                stats = jax.tree.map(
                    lambda x: np.full((len(seat0), len(seat1)) + x.shape[2:], np.nan), block)
            for full, part in zip(jax.tree.leaves(stats), jax.tree.leaves(block)):
                full[np.ix_(idx0, idx1)] = part
    return stats


# ---------------------------------------------------------------- the whole evaluation

def partner_agents(env_name: str, specs: Sequence[str]) -> list[tuple[Agent, Agent]]:
    """Scripted partners as ``(seat-0 agent, seat-1 agent)``, one per spec string
    (``partners.parse_partner_spec``); errors name the ``--partners`` flag."""
    if not specs:
        return []
    from jsrpo.overcooked_partners import ENV_VERSIONS, parse_overcooked_partner_spec
    from jsrpo.partners import parse_partner_spec
    if env_name == "coop_grid":
        parse = parse_partner_spec
    elif env_name in ENV_VERSIONS:
        parse = lambda s, seat: parse_overcooked_partner_spec(s, seat, ENV_VERSIONS[env_name])
    else:
        raise ValueError(f"--partners: scripted partners exist for coop_grid, "
                         f"{', '.join(ENV_VERSIONS)}; these runs play {env_name} "
                         "(pass --partners none)")
    try:
        return [(parse(s, 0), parse(s, 1)) for s in specs]
    except ValueError as e:
        raise ValueError(f"--partners: {e}") from None


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


def crossplay(run_dirs: Sequence, partners: Sequence[str] = (), episodes: int = DEFAULT_EPISODES,
              seed: int = 0, bootstrap_reps: int = DEFAULT_BOOTSTRAP_REPS) -> dict:
    """Evaluate the pooled members of ``run_dirs`` against each other and against ``partners``.

    Returns the content of ``crossplay.json`` (numpy arrays; ``P`` pooled members, ``K``
    partners): ``members``, ``labels``, the ``[P, P]`` matrices (``team_return``,
    ``team_return_se``, ``free_riding``; ``[P, P, 2]`` ``return``, ``private_cost``,
    ``contributions``), ``summary`` (TP/CP of team return and free-riding per method and
    method pair) and ``partners`` (``partner_in_seat1`` ``[P, K]``, ``partner_in_seat0``
    ``[K, P]``, per-method summaries).
    """
    import envs

    pool = load_pool(run_dirs)
    partner_pairs = partner_agents(pool["env"]["name"], partners)
    venv = VecEnv(envs.make(pool["env"]["name"], **pool["env"]["kwargs"]))
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)

    t0 = time.perf_counter()
    stats = evaluate_pairs(venv, pool["seat0"], pool["seat1"], keys)
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
        part = {"labels": [a.name for a in p0], "specs": list(partners),
                "partner_in_seat1": evaluate_pairs(venv, pool["seat0"], p1, keys),
                "partner_in_seat0": evaluate_pairs(venv, p0, pool["seat1"], keys)}
        part["summary"] = summarise_partners(part, methods, part["labels"], bootstrap_reps, seed)
        result["partners"] = part
        result["seconds"]["partners"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- files

def _savefig_atomic(fig, path: Path) -> None:
    """Save to a temp file next to ``path`` and rename, so readers never see half a PNG."""
    from jsrpo.outputs import atomic_path

    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120)


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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # the partner x partner corner
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
    _savefig_atomic(fig, Path(path))
    plt.close(fig)


def plot_tp_cp(result: dict, path: Path) -> None:
    """TP vs CP per method: IQM bars with 95% bootstrap-interval error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_method = result["summary"]["team_return"]["methods"]
    names = list(per_method)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(names) + 2), 4.2))
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
    _savefig_atomic(fig, Path(path))
    plt.close(fig)


def write_outputs(result: dict, out: Path) -> list[Path]:
    """``crossplay.json``, ``crossplay_heatmap.png`` and ``tp_cp.png`` in ``out`` (atomically)."""
    from jsrpo.outputs import _json_safe, atomic_write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "crossplay.json", out / "crossplay_heatmap.png", out / "tp_cp.png"]
    atomic_write(paths[0], json.dumps(_json_safe(result), indent=1))
    plot_heatmap(result, paths[1])
    plot_tp_cp(result, paths[2])
    return paths


# ---------------------------------------------------------------- command line

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a positive integer")
    return value


def _add_arguments(p: argparse.ArgumentParser) -> None:
    from jsrpo.overcooked_partners import PARTNER_NAMES as OVERCOOKED_NAMES
    from jsrpo.partners import DEFAULT_PARTNERS, PARTNER_NAMES

    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories written by `jsrpo train` (all members are pooled)")
    p.add_argument("--partners", default=None,
                   help="comma-separated held-out scripted partners, each name[:key=value]... "
                        f"(coop_grid: {', '.join(PARTNER_NAMES)}, key source=0|1 for "
                        f"single_source; overcooked/overcooked_v2: {', '.join(OVERCOOKED_NAMES)}; "
                        "epsilon=P for any); 'none' for no partners; default on coop_grid: "
                        f"{','.join(DEFAULT_PARTNERS)}, on Overcooked: all four")
    p.add_argument("--episodes", type=_positive_int, default=DEFAULT_EPISODES,
                   help=f"episodes per pair (default {DEFAULT_EPISODES})")
    p.add_argument("--out", default=None,
                   help="output directory (default: the run directory when one is given, "
                        "else runs/crossplay-<timestamp>)")
    p.add_argument("--seed", type=int, default=0, help="seed of episodes and bootstrap")
    p.add_argument("--bootstrap-reps", type=_positive_int, default=DEFAULT_BOOTSTRAP_REPS,
                   help=f"bootstrap resamples for the 95%% intervals "
                        f"(default {DEFAULT_BOOTSTRAP_REPS})")


def add_crossplay_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``crossplay`` on the ``jsrpo`` command's subparsers."""
    p = subparsers.add_parser(
        "crossplay", help="cross-play matrix of pooled runs and held-out scripted partners",
        description="Pool every sweep member of the given runs; play every seat-0 hero with "
                    "every seat-1 hero (and scripted partners), no learning; write "
                    "crossplay.json, crossplay_heatmap.png and tp_cp.png.")
    _add_arguments(p)
    return p


def _partner_specs(arg, env_name: str) -> tuple[str, ...]:
    from jsrpo.partners import DEFAULT_PARTNERS

    from jsrpo.overcooked_partners import DEFAULT_PARTNERS as OVERCOOKED_PARTNERS
    from jsrpo.overcooked_partners import ENV_VERSIONS

    if arg is None:
        if env_name in ENV_VERSIONS:
            return OVERCOOKED_PARTNERS
        return DEFAULT_PARTNERS if env_name == "coop_grid" else ()
    if arg.strip().lower() == "none":
        return ()
    return tuple(s.strip() for s in arg.split(",") if s.strip())


def _print_summary(result: dict) -> None:
    fmt = lambda d: f"{d['iqm']:.2f} [{d['ci'][0]:.2f}, {d['ci'][1]:.2f}]"
    print(f"[jsrpo] cross-play of {len(result['labels'])} pooled members, "
          f"{result['episodes']} episodes per pair (team return IQM [95% CI]):")
    for m, s in result["summary"]["team_return"]["methods"].items():
        cp = fmt(s["cp"]) if s["cp"]["n"] else "n/a (one member)"
        print(f"  {m}: TP {fmt(s['tp'])}  CP {cp}")
    part = result.get("partners")
    if part:
        for m, rows in part["summary"].items():
            cells = ", ".join(f"{lab} {rows[lab]['partner_in_seat1']['iqm']:.1f}/"
                              f"{rows[lab]['partner_in_seat0']['iqm']:.1f}" for lab in rows)
            print(f"  {m} with partners (partner in seat 1 / seat 0): {cells}")


def run_crossplay(args) -> int:
    """``jsrpo crossplay``: evaluate, write the three files, print TP/CP per method."""
    run_dirs = [Path(d) for d in args.run_dirs]
    try:
        meta_env = _peek_env(run_dirs[0])
        specs = _partner_specs(args.partners, meta_env)
        partner_agents(meta_env, specs)  # unknown names fail here, before anything compiles
        out = Path(args.out) if args.out else (run_dirs[0] if len(run_dirs) == 1 else Path(
            "runs") / f"crossplay-{time.strftime('%Y%m%d-%H%M%S')}")
        result = crossplay(run_dirs, specs, args.episodes, args.seed, args.bootstrap_reps)
    except (FileNotFoundError, ValueError) as e:
        print(f"jsrpo crossplay: error: {e}", file=sys.stderr)
        return 2
    paths = write_outputs(result, out)
    _print_summary(result)
    print(f"[jsrpo] pool evaluated in {result['seconds']['pool']:.1f}s (incl. compile); wrote "
          + " ".join(str(p) for p in paths))
    return 0


def _peek_env(run_dir: Path) -> str:
    """Environment name of a run, from its checkpoint metadata (no params loaded)."""
    meta = Path(run_dir) / "checkpoint" / "final_meta.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{run_dir}: no checkpoint (expected {meta}); is it a run "
                                "directory written by `jsrpo train`?")
    return json.loads(meta.read_text())["env"]["name"]


def main(argv=None) -> int:
    """``python -m jsrpo.crossplay RUN_DIR ...`` (same arguments as ``jsrpo crossplay``)."""
    parser = argparse.ArgumentParser(prog="python -m jsrpo.crossplay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    return run_crossplay(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
