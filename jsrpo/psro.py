"""PSRO (Lanctot et al., 2017) with risk-averse meta-solvers (the RAE paper's method for large
games, Slumbers et al., 2023): populations of policies grown by best responses to the other
population's meta-strategy, the empirical meta-game between them, and an exact solver of it.

A PSRO run is a loop of ordinary runs in one directory: ``iter_000`` (both seats trained
briefly: the common start), then per iteration k ``iter_k/seat_s`` for each seat s, an IPPO run
of seat s alone against the other seat's population frozen (``env.frozen`` with one row of
weights per member: each seed is its own PSRO run with its own meta-strategy). With one
population (``psro.populations: 1``, symmetric games) the start is a self-play run and
iteration k is ``iter_k``, one learner against the population in both seats (``seat: each``).
Every stage checkpoints and resumes as any run does; the meta-game, the meta-strategies and the
gaps are in ``psro.json`` and ``metrics.jsonl``, with ``meta_game.png`` and
``meta_strategy.png``.

The pool of every best response is padded to the final population size with weight-0 copies
of the first policy, so every iteration's program has the same shapes (one compilation).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import envs
from jsrpo import partners
from jsrpo.config import Config, ConfigError, from_dict, to_dict
from jsrpo.crossplay import evaluate_member_pairs
from jsrpo.equilibria import rae, rqe
from jsrpo.files import atomic_write, savefig, write_json
from jsrpo.population import num_initial, policies, stage_dir
from jsrpo.vec_env import VecEnv

#: fictitious-play steps of the nash and rae meta-solvers
FP_STEPS = 2000
INITIAL = "iter_000"


def initial_config(cfg: Config) -> Config:
    """Iteration 0: both seats trained together (IPPO) for ``psro.init_env_steps`` (0: one
    update), every member from its own seed."""
    raw = to_dict(cfg)
    raw.pop("psro")
    t = cfg.train
    # one population: its first policy plays both seats, one network
    raw["method"] = "self_play" if cfg.psro.populations == 1 else "ippo"
    raw["train"]["total_env_steps"] = cfg.psro.init_env_steps or t.num_envs * t.num_steps
    return from_dict(raw)


def check(cfg: Config) -> None:
    """``psro.initial`` names scripted agents of the env for both seats, and one population
    needs seats that look alike (``ConfigError`` naming the field)."""
    if cfg.psro.populations == 1:
        differ = envs.seat_differences(cfg.env.name, cfg.env.base_kwargs)
        if differ:
            raise ConfigError(f"psro.populations: got 1; allowed: 2 for {cfg.env.name}, whose "
                              f"seats differ ({differ}); one population plays both seats")
    for i, spec in enumerate(cfg.psro.initial):
        for seat in (0, 1):
            try:
                agent = partners.parse(cfg.env.name, spec, seat, cfg.env.base_kwargs)
            except ValueError as e:
                raise ConfigError(f"psro.initial[{i}]: {e}") from None
            # the final mixtures (``agents.mixture_agent``) play stateless policies only
            if jax.tree.leaves(jax.eval_shape(agent.init_state, jax.random.PRNGKey(0))):
                raise ConfigError(f"psro.initial[{i}]: got {spec!r}; allowed: a scripted agent "
                                  "without memory (this one keeps a state between steps)")


def population_size(cfg: Config) -> int:
    """Policies per population at the end: the start and one per iteration."""
    return num_initial(cfg) + cfg.psro.iterations


def entry(cfg: Config, j: int, m: int) -> int:
    """The frozen-pool index of member ``m``'s policy ``j``: a scripted start is one entry
    that every member shares; a run's policies are one entry per member."""
    M, n = cfg.num_seeds, len(cfg.psro.initial)
    return j * M + m if not n else (j if j < n else n + (j - n) * M + m)


def best_response_config(cfg: Config, run_dir, k: int, seat: Optional[int],
                         meta: np.ndarray) -> Config:
    """Iteration ``k``'s best response of ``seat``: IPPO for that seat alone against the other
    population, member m drawing its opponent per episode by ``meta[m]`` (``[M, J]``: member
    m's meta-strategy of the other seat over its ``J`` policies so far). Padded to the final
    population size with weight-0 copies, so the program is the same at every iteration.
    ``seat`` None (one population): the learner plays a seat drawn per episode against the
    population in the other."""
    other = None if seat is None else 1 - seat
    M, size = cfg.num_seeds, population_size(cfg)
    start = list(cfg.psro.initial) or [str(stage_dir(run_dir, 0).resolve())]
    pops = start + [str(stage_dir(run_dir, j, other).resolve()) for j in range(1, k)]
    # Padding slots hold as many entries as a run's (one per member, ``entry``): the first
    # trained policies, or before any exists the first scripted one.
    first_run = str(stage_dir(run_dir, 0).resolve()) if not cfg.psro.initial else (
        pops[len(start)] if k > 1 else None)
    pad = [first_run] if first_run else [start[0]] * M
    pops += pad * (size - len(start) - (k - 1))
    J = len(start) + k - 1
    rows = np.zeros((M, entry(cfg, size - 1, M - 1) + 1))
    for m in range(M):
        rows[m, [entry(cfg, j, m) for j in range(J)]] = meta[m]
    raw = to_dict(cfg)
    raw.pop("psro")
    raw["method"] = "ippo"
    # fresh networks, apart from other stages
    raw["seed"] = cfg.seed + 1000 * (2 * k + (seat or 0))
    raw["env"]["frozen"] = {"seat": "each" if seat is None else other, "policies": pops,
                            "weights": [[float(w) for w in r] for r in rows]}
    if cfg.psro.oracle == "risk_averse" and cfg.psro.meta_solver == "rae":
        # the RAE paper's oracle: a mean-variance best response to the mixture
        raw["env"]["frozen"]["risk"] = cfg.psro.gamma
    elif cfg.psro.oracle == "risk_averse" and cfg.psro.meta_solver == "rqe":
        # the RQE's adversary over the mixture: it re-draws the opponent population's members
        # at a (1/meta_tau) KL cost to the meta-strategy, so the best response maximises the
        # entropic risk of its return, the meta-game's own risk-adjusted value
        raw["env"]["frozen"].update(risk=cfg.psro.meta_tau, risk_measure="entropic")
    return from_dict(raw)


# ---------------------------------------------------------------- meta-solvers

def solve_meta_game(payoffs: np.ndarray, cfg: Config,
                    on_fallback: Optional[Callable[[], None]] = None) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """The meta-strategies ``(x0 [n0], x1 [n1])`` of the meta-game ``payoffs [2, n0, n1]``
    (``payoffs[i, a, b]``: seat i's return when seat 0 plays policy a and seat 1 policy b).
    ``on_fallback`` is called when ``rqe`` finds no equilibrium and nash's answer is used."""
    p = cfg.psro
    n0, n1 = payoffs.shape[1:]
    u0, u1 = np.full(n0, 1.0 / n0), np.full(n1, 1.0 / n1)
    if p.meta_solver == "uniform" or (n0 == 1 and n1 == 1):  # one policy each: nothing to solve
        return u0, u1
    # one population: its symmetrised game, solved symmetrically (fictitious play from uniform
    # in a symmetric game keeps both seats equal; rqe keeps symmetric equilibria only)
    one = p.populations == 1
    game = symmetric_game(payoffs) if one else payoffs
    if p.meta_solver in ("nash", "rae"):
        # float32 unless the user enabled x64
        x0, x1 = _fictitious_play(jnp.asarray(game), p.gamma if p.meta_solver == "rae" else 0.0)
    else:
        x0, x1 = _rqe(game, cfg, on_fallback, symmetric=one)
    if one:
        x = _simplex(0.5 * (x0 + x1))
        return x, x
    return x0, x1


def _rqe(game: np.ndarray, cfg: Config, on_fallback: Optional[Callable[[], None]],
         symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The highest-welfare RQE of ``game [2, n0, n1]`` at ``meta_tau``, ``meta_eps`` (only
    symmetric ones when ``symmetric``), or nash's answer when none is found."""
    p = cfg.psro
    found = [e for e in rqe.rqe_equilibria(game, p.meta_tau, p.meta_eps)
             if not symmetric or np.allclose(e.x0, e.x1, atol=1e-6)]
    if not found:  # a stuck run helps no one: say so and go on with the Nash meta-strategy
        n0, n1 = game.shape[1:]
        print(f"[jsrpo] warning: psro.meta_solver rqe: no {'symmetric ' * symmetric}"
              f"equilibrium of the {n0} x {n1} meta-game at meta_tau {p.meta_tau}, meta_eps "
              f"{p.meta_eps}; using fictitious play (the nash meta-solver) for it", flush=True)
        if on_fallback is not None:
            on_fallback()
        return _fictitious_play(jnp.asarray(game), 0.0)
    welfare = [float(e.x0 @ (game[0] + game[1]) @ e.x1) for e in found]
    best = found[int(np.argmax(welfare))]
    return _simplex(best.x0), _simplex(best.x1)


def symmetric_game(payoffs: np.ndarray) -> np.ndarray:
    """One population's meta-game as a symmetric two-player game ``[2, S, S]``: ``U[a, b]``,
    policy a's return against policy b averaged over the two seat assignments; seat 1's
    payoff is ``U.T``."""
    U = 0.5 * (payoffs[0] + payoffs[1].T)
    return np.stack([U, U.T])


def _fictitious_play(pay: jax.Array, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-population fictitious play from uniform, ``FP_STEPS`` steps, mean-variance best
    responses at ``gamma`` (0: Nash's): the final empirical mixtures. Exact best responses
    enumerate supports, so ties (duplicate policies) are fine."""
    n0, n1 = pay.shape[1:]
    x0, x1 = rae.fictitious_play(pay, jnp.full((n0,), 1.0 / n0, pay.dtype),
                                 jnp.full((n1,), 1.0 / n1, pay.dtype), gamma, FP_STEPS)
    return _simplex(x0[-1]), _simplex(x1[-1])


def _simplex(x) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float64), 0.0, None)
    return x / x.sum()


def gaps(payoffs: np.ndarray, x0: np.ndarray, x1: np.ndarray, new0: int, new1: int) -> list:
    """How much each seat's newest policy (``new0``, ``new1``) gains over its meta-strategy
    against the other's: ``[gain_0, gain_1]`` (PSRO's convergence measure; about 0 when the
    best responses find nothing better)."""
    v0, v1 = x0 @ payoffs[0] @ x1, x0 @ payoffs[1] @ x1
    return [float(payoffs[0, new0] @ x1 - v0), float(x0 @ payoffs[1][:, new1] - v1)]


# ---------------------------------------------------------------- the meta-game

class MetaGame:
    """Every member's empirical meta-game ``payoffs [M, 2, S, S]`` (NaN until evaluated, S the
    final population size) with its meta-strategies and gaps per iteration, kept in
    ``psro.json``."""

    def __init__(self, cfg: Config, run_dir):
        self.cfg, self.path = cfg, Path(run_dir) / "psro.json"
        M, S = cfg.num_seeds, population_size(cfg)
        self.payoffs = np.full((M, 2, S, S), np.nan)
        self.meta: list = []  # per iteration k >= 1: [M][2] meta-strategies over k policies
        self.gaps: list = []  # per iteration k >= 1: [M][2]
        self.fallbacks: set = set()  # (population size, member) solved by nash instead of rqe
        if self.path.is_file():
            raw = json.loads(self.path.read_text())
            self.payoffs = np.asarray(raw["payoffs"], np.float64)
            self.meta, self.gaps = raw["meta_strategies"], raw["gaps"]
            self.fallbacks = {tuple(f) for f in raw.get("fallbacks", [])}

    def evaluate(self, run_dir, S: int) -> None:
        """Fill the entries of the first ``S`` policies not yet known: each seat's new policies
        against every policy of the other, for every member at once (``evaluate_member_pairs``:
        one compiled call per side and block of kinds, whatever the number of members)."""
        if not np.isnan(self.payoffs[:, :, :S, :S]).any():
            return
        cfg = self.cfg
        venv = VecEnv(envs.make(cfg.env.name, **cfg.env.base_kwargs))
        heroes = [[policies(cfg, run_dir, j, s) for j in range(S)] for s in (0, 1)]
        keys = jax.random.split(jax.random.PRNGKey(cfg.seed + S), cfg.psro.eval_episodes)
        members = range(cfg.num_seeds)
        rows = [[(heroes[0][j][m],) for j in range(S)] for m in members]
        cols = [[(heroes[1][j][m],) for j in range(S)] for m in members]
        new = np.flatnonzero(np.isnan(self.payoffs[:, 0, :S, :S]).any(axis=(0, 2)))
        if new.size:  # new rows, against every column
            ret = evaluate_member_pairs(venv, [[r[i] for i in new] for r in rows], cols,
                                        keys)["return"]  # [M, rows, S, 2]
            self.payoffs[:, :, new, :S] = np.moveaxis(ret, -1, 1)
        new = np.flatnonzero(np.isnan(self.payoffs[:, 0, :S, :S]).any(axis=(0, 1)))
        if new.size:  # every row against the new columns
            ret = evaluate_member_pairs(venv, rows, [[c[j] for j in new] for c in cols],
                                        keys)["return"]  # [M, S, cols, 2]
            self.payoffs[:, :, :S, new] = np.moveaxis(ret, -1, 1)

    def solve(self, k: int) -> np.ndarray:
        """Every member's meta-strategies over the first ``k`` policies: ``[M, 2, k]``."""
        def solved(m):
            return solve_meta_game(self.payoffs[m, :, :k, :k], self.cfg,
                                   lambda: self.fallbacks.add((k, m)))
        return np.stack([np.stack(solved(m)) for m in range(self.cfg.num_seeds)])

    def save(self) -> None:
        write_json(self.path, {"payoffs": self.payoffs, "meta_strategies": self.meta,
                               "gaps": self.gaps, "meta_solver": self.cfg.psro.meta_solver,
                               # [population size, member]: meta-games rqe could not solve
                               "fallbacks": sorted(self.fallbacks)})


# ---------------------------------------------------------------- the loop

def run(cfg: Config, run_dir, train_stage: Callable[[Config, Path], int],
        log: Callable[[str], None] = print) -> int:
    """Run (or resume) PSRO in ``run_dir``; ``train_stage(config, directory)`` trains or
    resumes one stage and returns its exit code (non-zero stops the loop)."""
    run_dir = Path(run_dir)
    p = cfg.psro
    check(cfg)
    if not p.initial:  # a trained start
        log(f"[jsrpo] psro ({p.meta_solver}) iteration 0/{p.iterations}: the common start")
        code = train_stage(initial_config(cfg), stage_dir(run_dir, 0))
        if code:
            return code
    game = MetaGame(cfg, run_dir)
    n = num_initial(cfg)
    game.evaluate(run_dir, n)
    game.save()
    for k in range(1, p.iterations + 1):
        J = n + k - 1  # policies per population before this iteration
        # a resumed run keeps the meta-strategies its best responses trained against
        meta = np.asarray(game.meta[k - 1]) if len(game.meta) >= k else game.solve(J)
        # one population: one learner for both seats (the meta-strategies are equal)
        for seat in ((None,) if p.populations == 1 else (0, 1)):
            log(f"[jsrpo] psro iteration {k}/{p.iterations}: best response"
                + (" (both seats)" if seat is None else f" of seat {seat}"))
            code = train_stage(best_response_config(cfg, run_dir, k, seat,
                                                    meta[:, 1 - (seat or 0)]),
                               stage_dir(run_dir, k, seat))
            if code:
                return code
        game.evaluate(run_dir, J + 1)
        gk = [gaps(game.payoffs[m, :, :J + 1, :J + 1], np.append(meta[m, 0], 0.0),
                   np.append(meta[m, 1], 0.0), J, J) for m in range(cfg.num_seeds)]
        if len(game.meta) < k:  # a new iteration (a resumed one keeps its record)
            game.meta.append(meta.tolist())
        game.gaps = game.gaps[:k - 1] + [gk] + game.gaps[k:]
        game.save()
        log(f"[jsrpo] psro iteration {k}: gains of the new policies (seat 0, seat 1) "
            + "; ".join(f"s{cfg.seed + m}: {g[0]:+.3f}, {g[1]:+.3f}" for m, g in enumerate(gk)))
    final = game.solve(population_size(cfg))
    game.save()
    _write_results(cfg, run_dir, game, final)
    return 0


def _write_results(cfg: Config, run_dir: Path, game: MetaGame, final: np.ndarray) -> None:
    """``metrics.jsonl`` (a row per member and iteration), the final meta-strategies in
    ``psro.json``, and the two plots."""
    rows = []
    for k, (meta, gk) in enumerate(zip(game.meta, game.gaps), start=1):
        for m in range(cfg.num_seeds):
            rows.append({"member": m, "seed": cfg.seed + m, "iteration": k,
                         "meta_strategy": meta[m], "gain": gk[m]})
    for m in range(cfg.num_seeds):
        x0, x1 = final[m]
        pay = game.payoffs[m]
        rows.append({"member": m, "seed": cfg.seed + m, "iteration": cfg.psro.iterations + 1,
                     "meta_strategy": final[m].tolist(),
                     "value": [float(x0 @ pay[0] @ x1), float(x0 @ pay[1] @ x1)]})
    atomic_write(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    raw = json.loads(game.path.read_text())
    raw["final_meta_strategies"] = final.tolist()
    write_json(game.path, raw)
    plot_meta_game(game.payoffs[0], final[0], run_dir / "meta_game.png")
    plot_meta_strategies(game.meta + [final.tolist()], run_dir / "meta_strategy.png")


def plot_meta_game(payoffs: np.ndarray, final: np.ndarray, path: Path) -> None:
    """Member 0's meta-game: each seat's return per (seat-0 policy, seat-1 policy)."""
    fig = Figure(figsize=(9, 4))
    for i, ax in enumerate(fig.subplots(1, 2)):
        im = ax.imshow(payoffs[i], cmap="viridis")
        fig.colorbar(im, ax=ax)
        ax.set_xlabel("seat 1 policy (iteration)")
        ax.set_ylabel("seat 0 policy (iteration)")
        ax.set_title(f"seat {i}'s return; final meta-strategy\nseat 0 "
                     + " ".join(f"{v:.2f}" for v in final[0]))
    fig.tight_layout()
    savefig(fig, path)


def plot_meta_strategies(metas: list, path: Path) -> None:
    """Member 0's meta-strategy over the iterations, per seat (stacked weights of each
    population's policies)."""
    fig = Figure(figsize=(9, 3.5))
    for seat, ax in enumerate(fig.subplots(1, 2)):
        size = len(metas[-1][0][seat])
        w = np.zeros((len(metas), size))
        for k, meta in enumerate(metas):
            x = meta[0][seat]
            w[k, :len(x)] = x
        ax.stackplot(np.arange(1, len(metas) + 1), w.T, labels=[f"policy {j}"
                                                                 for j in range(size)])
        ax.set_xlabel("iteration")
        ax.set_ylabel("meta-strategy weight")
        ax.set_title(f"seat {seat}")
    fig.axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    savefig(fig, path)
