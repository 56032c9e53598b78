"""SRPO against IPPO, self-play and Fictitious Co-Play on the five Overcooked layouts, with and
without private costs: training, pooled cross-play with held-out scripted partners, free-riding,
a tau ablation.

    python experiments/overcooked_study.py [--stages select main ablation] [--layouts ...]
        [--seeds 8] [--runs DIR] [--out DIR] [--list]

The study runs in resumable *pieces*, each skipped when its result file exists, so it can be
stopped at any time and started again (an interrupted training piece resumes from its newest
checkpoint). Pieces, in order:

- ``select/<layout>``: IPPO with every cost scale in ``COST_SCALES`` (2 seeds each, one program)
  and the choice of the layout's cost scale (``select/<layout>/choice.json``, rule in
  ``choose_cost``);
- ``<setting>/<layout>/<method>``: the shipped config ``configs/overcooked/<layout>_<method>.yaml``
  with ``--seeds`` seeds in one program, for ``setting`` ``control`` (no private cost) and
  ``costs`` (the layout's chosen scale; waits for its select piece); the self-play run keeps
  snapshots at ``FCP_SNAPSHOTS``, and ``fcp`` (waits for it) trains Fictitious Co-Play agents
  with the self-play config against the pool of those snapshots and final policies
  (``fcp_overrides``);
- ``<setting>/<layout>/crossplay``: every method's seeds pooled, with the held-out partners
  ``PARTNERS`` in both seats (waits for the layout's training pieces);
- ``<setting>/<layout>/gifs``: seed 0 of IPPO and SRPO with a held-out partner, as GIFs;
- ``ablation/<layout>``: SRPO at the taus ``ABLATION_TAUS`` (fewer seeds, one program) with the
  layout's costs, and its cross-play, on ``ABLATION_LAYOUTS``.

Run directories (with checkpoints) go under ``--runs`` (default runs/overcooked_study, not
committed); summaries, learning curves, cross-play results, GIFs and the figure
``tp_cp_layouts.png`` (TP and CP per layout and method, redrawn at the end of every invocation)
under ``--out`` (default experiments/results/overcooked_study), which
``experiments/report.py`` turns into docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from _pieces import Piece, jsrpo_command, keep, list_pieces, piece_args, run_pieces, train

# As `python -m jsrpo` does: XLA's C++ warnings off (the cache loader's machine-feature notes)
# unless the user set a level. Before JAX is imported (the pieces import jsrpo when they run).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ("cramped_room", "asymm_advantages", "coord_ring", "forced_coord", "counter_circuit")
METHODS = ("ippo", "self_play", "srpo", "fcp")
#: Fictitious Co-Play reuses the layout's self-play run as its partner pool: every self-play
#: seed at these fractions of training and at the end (Strouse et al.'s skill levels), partner
#: and seat drawn per episode. The FCP agents' seeds start at FCP_SEED, apart from their
#: partners' (0, 1, ...), so no agent starts as a copy of a partner.
FCP_SNAPSHOTS = (0.1, 0.5)
FCP_SEED = 1000
SETTINGS = ("control", "costs")
#: Private cost scales c tried per layout (0: the reference): every move and every interact
#: costs the acting seat c, a blocked move (into a wall, counter or the other agent) c more.
COST_SCALES = (0.0, 0.02, 0.05, 0.1, 0.2)
#: A second round when no scale of the first qualifies (costs already too high at the smallest):
#: finer scales below it, with the same seeds and rule over both rounds' rows.
FINE_COST_SCALES = (0.005, 0.01)
COST_SEEDS = 2
#: A cost scale qualifies when IPPO still delivers at least this share of its sparse return
#: without costs (costs that stop the team altogether show no free-riding, only idleness).
KEEP_RETURN = 0.5
PARTNERS = "stay,random,onion,dish,onion:epsilon=0.2,dish:epsilon=0.2"
#: GIFs: seed 0 of these methods with a held-out partner in seat 1, the first frames only.
GIF_METHODS, GIF_PARTNER, GIF_FRAMES = ("ippo", "srpo"), "onion", 120
ABLATION_LAYOUTS = ("cramped_room", "coord_ring")
ABLATION_TAUS = (0.3, 1.0, 3.0)
ABLATION_SEEDS = 4
WORK = ("onions_in_pot", "plates_picked", "soups_picked", "deliveries")


def cost_overrides(scale: float) -> list[str]:
    """``jsrpo train`` overrides of a cost scale (see ``COST_SCALES``)."""
    return [f"env.kwargs.move_cost={scale}", f"env.kwargs.interact_cost={scale}",
            f"env.kwargs.collision_cost={scale}"]


def work_share(row: dict) -> tuple[float, float]:
    """Each seat's share of the team's work (pot fills, plate and soup pickups, deliveries)
    in a summary row; (0.5, 0.5) when nobody works."""
    w = np.array([sum(row[k][i] for k in WORK) for i in (0, 1)], float)
    return (0.5, 0.5) if w.sum() <= 0 else tuple(float(x) for x in w / w.sum())


def free_riding_degree(row: dict) -> float:
    """How unevenly the pair shares the work: ``|share_0 - share_1|``, 0 (even) to 1 (one seat
    does everything)."""
    s = work_share(row)
    return abs(s[0] - s[1])


def sparse_return(row: dict) -> float:
    """The delivery return of a summary row: 20 per soup delivered by either seat."""
    return 20.0 * float(sum(row["deliveries"]))


def choose_cost(rows: list[dict]) -> dict:
    """The cost scale of a layout from its cost sweep's summary rows (one per member, with
    its ``env.kwargs.move_cost``; scale 0 among them): among the scales c > 0 at which IPPO's
    mean sparse return keeps at least ``KEEP_RETURN`` of its return at c = 0, the one with the
    largest mean free-riding degree (ties: the smaller scale); ``scale`` None when none does."""
    by_scale: dict = {}
    for r in rows:
        by_scale.setdefault(float(r["env.kwargs.move_cost"]), []).append(r)
    if 0.0 not in by_scale:
        raise ValueError("choose_cost: the rows need the reference scale 0")
    table = []
    for scale in sorted(by_scale):
        rs = by_scale[scale]
        table.append(dict(scale=scale,
                          sparse_return=float(np.mean([sparse_return(r) for r in rs])),
                          free_riding=float(np.mean([free_riding_degree(r) for r in rs])),
                          seeds=len(rs)))
    floor = KEEP_RETURN * table[0]["sparse_return"]
    ok = [t for t in table[1:] if t["sparse_return"] >= floor and t["sparse_return"] > 0]
    best = max(ok, key=lambda t: (t["free_riding"], -t["scale"])) if ok else None
    return dict(scale=None if best is None else best["scale"], table=table,
                rule=f"largest free-riding degree among the scales > 0 keeping >= {KEEP_RETURN} "
                     "of the sparse return without costs")


def fcp_overrides(partners: Path) -> list[str]:
    """``jsrpo train`` overrides turning a layout's self-play config into FCP against the pool
    of the self-play run ``partners``: its members at each snapshot of ``FCP_SNAPSHOTS`` and at
    the end (``PATH@U`` and ``PATH``: every member), partner and seat drawn per episode."""
    from jsrpo.config import load
    from jsrpo.fcp import run_pool

    pool = ", ".join(run_pool(partners, load(partners / "config.yaml").layout, FCP_SNAPSHOTS))
    return ["method=fcp", f"seed={FCP_SEED}", f"env.frozen={{seat: each, policies: [{pool}]}}"]


def has_snapshots(run: Path) -> bool:
    """A finished self-play run that kept the snapshots FCP's pool needs."""
    from jsrpo.checkpoint import saved_steps, snapshot_steps
    from jsrpo.config import load

    if not (final_policies(run).exists() and (run / "config.yaml").exists()):
        return False
    want = snapshot_steps(load(run / "config.yaml").layout, FCP_SNAPSHOTS)
    return set(want) <= set(saved_steps(run))


def block_methods(runs: Path, setting: str, layout: str) -> tuple:
    """The methods a layout's cross-play pools: ``METHODS``, without FCP when the layout's
    self-play run finished without the snapshots FCP's pool needs (trained before FCP was in
    the study: FCP then waits for a self-play run trained again, and cross-play goes ahead)."""
    sp = runs / setting / layout / "self_play"
    if final_policies(sp).exists() and not has_snapshots(sp):
        return tuple(m for m in METHODS if m != "fcp")
    return METHODS


def pieces(args) -> list[Piece]:
    runs, out = args.runs, args.out
    config = lambda layout, method: ROOT / "configs" / "overcooked" / f"{layout}_{method}.yaml"
    choice = lambda layout: out / "select" / layout / "choice.json"
    scale = lambda layout: json.loads(choice(layout).read_text())["scale"]
    common = [f"num_seeds={args.seeds}", "seed=0", "checkpoint.every_updates=500",
              "checkpoint.snapshots=[]"]
    tr = lambda run, cfg, overrides: train(run, cfg, overrides + args.override)
    ps: list[Piece] = []

    def chosen(layout: str) -> bool:
        """The layout's cost choice is final: a scale qualified, or both rounds ran."""
        if not choice(layout).exists():
            return False
        ch = json.loads(choice(layout).read_text())
        return ch["scale"] is not None or ch.get("rounds", 1) >= 2

    for layout in args.layouts:
        def run_costs(layout=layout):
            dest = out / "select" / layout
            zipped = "sweep.zip=[[env.kwargs.move_cost, env.kwargs.interact_cost, " \
                     "env.kwargs.collision_cost]]"
            rows = []
            for rnd, (tag, scales) in enumerate((("", COST_SCALES), ("fine_", FINE_COST_SCALES)),
                                                1):
                if rnd == 2 and choose_cost(rows)["scale"] is not None:
                    break
                run = runs / "select" / (layout + ("_fine" if tag else ""))
                if not (dest / f"ippo_{tag}summary.json").exists():
                    listed = "[" + ", ".join(str(c) for c in scales) + "]"
                    tr(run, config(layout, "ippo"), [
                        f"num_seeds={COST_SEEDS}", f"seed={100 * rnd}",
                        "checkpoint.every_updates=500", "checkpoint.snapshots=[]", zipped] + [
                        f"env.kwargs.{k}={listed}" for k in ("move_cost", "interact_cost",
                                                              "collision_cost")])
                    keep(run, dest, f"ippo_{tag}")
                rows += json.loads((dest / f"ippo_{tag}summary.json").read_text())["members"]
                ch = dict(choose_cost(rows), rounds=rnd)
                choice(layout).write_text(json.dumps(ch, indent=2) + "\n")
        ps.append(Piece(f"select/{layout}", lambda layout=layout: chosen(layout), lambda: True,
                        run_costs))

    for setting in SETTINGS:
        for layout in args.layouts:
            ready = (lambda: True) if setting == "control" else (
                lambda layout=layout: choice(layout).exists() and scale(layout) is not None)
            extra = (lambda: []) if setting == "control" else (
                lambda layout=layout: cost_overrides(scale(layout)))
            for method in METHODS:
                dest = out / setting / layout
                run = runs / setting / layout / method
                partners = runs / setting / layout / "self_play"

                xp = out / setting / layout / "crossplay"
                gifs = out / setting / layout / "gifs"

                def run_train(run=run, dest=dest, layout=layout, method=method, extra=extra,
                              partners=partners):
                    before = dest / f"{method}_summary.json"
                    old = json.loads(before.read_text()) if before.exists() else None
                    if method == "fcp":
                        tr(run, config(layout, "self_play"),
                           common + extra() + fcp_overrides(partners))
                    elif method == "self_play":  # FCP's partner pool: keep the snapshots
                        snaps = "[" + ", ".join(str(f) for f in FCP_SNAPSHOTS) + "]"
                        tr(run, config(layout, method),
                           common + extra() + [f"checkpoint.snapshots={snaps}"])
                    else:
                        tr(run, config(layout, method), common + extra())
                    keep(run, dest, f"{method}_")
                    if old is not None:
                        report_rerun(old, json.loads(before.read_text()), f"{dest}/{method}")

                def train_done(run=run, dest=dest, method=method, xp=xp, gifs=gifs):
                    # Done when its results exist and either its policies are still on disk or
                    # nothing downstream needs them any more. A later session on a machine
                    # without the run directory trains it again (same seeds, same program).
                    return (dest / f"{method}_summary.json").exists() and (
                        final_policies(run).exists() or (
                            (xp / "crossplay.json").exists()
                            and (method not in GIF_METHODS
                                 or (gifs / f"{method}_with_{GIF_PARTNER}.gif").exists())))
                fcp_ready = lambda ready=ready, partners=partners: ready() and has_snapshots(
                    partners)
                ps.append(Piece(f"{setting}/{layout}/{method}", train_done,
                                fcp_ready if method == "fcp" else ready, run_train))
            xp = out / setting / layout / "crossplay"

            def run_xp(setting=setting, layout=layout, xp=xp):
                jsrpo_command(["crossplay"] + [str(runs / setting / layout / m)
                                               for m in block_methods(runs, setting, layout)]
                              + ["--partners", PARTNERS, "--episodes", str(args.episodes),
                                 "--out", str(xp)], f"crossplay {setting}/{layout}")
            trained = lambda setting=setting, layout=layout: all(
                (out / setting / layout / f"{m}_summary.json").exists()
                and final_policies(runs / setting / layout / m).exists()
                for m in block_methods(runs, setting, layout))
            ps.append(Piece(f"{setting}/{layout}/crossplay",
                            (xp / "crossplay.json").exists, trained, run_xp))
            gifs = out / setting / layout / "gifs"

            def run_gifs(setting=setting, layout=layout, gifs=gifs):
                gifs.mkdir(parents=True, exist_ok=True)
                for method in GIF_METHODS:
                    jsrpo_command(["render", str(runs / setting / layout / method),
                                   "--partner", GIF_PARTNER, "--frames", str(GIF_FRAMES),
                                   "--out", str(gifs / f"{method}_with_{GIF_PARTNER}.gif")],
                                  f"render {setting}/{layout}/{method}")
            ps.append(Piece(f"{setting}/{layout}/gifs",
                            lambda gifs=gifs: all((gifs / f"{m}_with_{GIF_PARTNER}.gif").exists()
                                                  for m in GIF_METHODS),
                            trained, run_gifs))

    for layout in ABLATION_LAYOUTS:
        if layout not in args.layouts:
            continue
        dest = out / "ablation" / layout
        run = runs / "ablation" / layout

        def run_ablation(layout=layout, dest=dest, run=run):
            taus = "[" + ", ".join(str(t) for t in ABLATION_TAUS) + "]"
            tr(run, config(layout, "srpo"), [
                f"num_seeds={ABLATION_SEEDS}", "seed=0", f"tau={taus}",
                "checkpoint.every_updates=500", "checkpoint.snapshots=[]"]
                + cost_overrides(scale(layout)))
            keep(run, dest, "srpo_")
            jsrpo_command(["crossplay", str(run), "--partners", PARTNERS, "--episodes",
                           str(args.episodes), "--out", str(dest / "crossplay")],
                          f"crossplay ablation/{layout}")
        ps.append(Piece(f"ablation/{layout}", (dest / "crossplay" / "crossplay.json").exists,
                        lambda layout=layout: choice(layout).exists()
                        and scale(layout) is not None, run_ablation))
    stages = set(args.stages)
    return [p for p in ps if p.name.split("/")[0] in stages
            or (p.name.split("/")[0] in SETTINGS and "main" in stages)]


def final_policies(run: Path) -> Path:
    """The file that marks a run's saved final policies (``jsrpo.rundir.RunDir.meta``; imported
    late: it imports JAX)."""
    from jsrpo.rundir import RunDir
    return RunDir(run).meta


def report_rerun(old: dict, new: dict, what: str) -> None:
    """Print whether a training piece trained again reproduced its recorded per-seed returns
    (its new summary replaces the old, so that cross-play and the table describe the same
    policies)."""
    a = [m["return"] for m in old["members"]]
    b = [m["return"] for m in new["members"]]
    print(f"[study] {what}: trained again; per-seed returns "
          + ("reproduced exactly" if a == b else f"differ: recorded {a}, now {b}"), flush=True)


def tp_cp_figure(out: Path) -> Path | None:
    """``tp_cp_layouts.png``: TP and CP (IQM, 95% bootstrap interval) per layout and method,
    one panel per setting, from whatever cross-play results exist; None when there are none."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = {(st, lay): json.loads(f.read_text())["summary"]["team_return"]["methods"]
             for st in SETTINGS for lay in LAYOUTS
             if (f := out / st / lay / "crossplay" / "crossplay.json").exists()}
    if not found:
        return None
    fig, axes = plt.subplots(len(SETTINGS), 1, figsize=(11, 3.6 * len(SETTINGS)), squeeze=False)
    for ax, setting in zip(axes[:, 0], SETTINGS):
        labels = sorted({m for (st, _), ms in found.items() if st == setting for m in ms})
        width = 0.8 / max(2 * len(labels), 1)
        for i, lay in enumerate(LAYOUTS):
            ms = found.get((setting, lay), {})
            for j, label in enumerate(labels):
                for k, stat in enumerate(("tp", "cp")):
                    if label not in ms:
                        continue
                    v = ms[label][stat]
                    x = i - 0.4 + width * (2 * j + k + 0.5)
                    ax.bar(x, v["iqm"], width, color=f"C{j}", alpha=1.0 if stat == "tp" else 0.45,
                           yerr=[[v["iqm"] - v["ci"][0]], [v["ci"][1] - v["iqm"]]], capsize=2,
                           label=f"{label} {stat.upper()}" if i == 0 else None)
        ax.set_xticks(range(len(LAYOUTS)), LAYOUTS)
        ax.set_ylabel("team return (IQM)")
        ax.set_title(f"{setting}: training pair (TP, solid) and cross-play (CP, light)")
        if labels:
            ax.legend(fontsize=7, ncol=len(labels), loc="upper right")
    fig.tight_layout()
    path = out / "tp_cp_layouts.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", nargs="+", default=["select", "main", "ablation"],
                    choices=["select", "main", "ablation"])
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                    help="training pieces to run (a layout's cross-play waits for all methods)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=64, help="cross-play episodes per pair")
    piece_args(ap, ROOT / "runs" / "overcooked_study",
               ROOT / "experiments" / "results" / "overcooked_study")
    args = ap.parse_args(argv)
    def wanted(name: str) -> bool:
        parts = name.split("/")
        if parts[0] not in SETTINGS:
            return True
        return parts[0] in args.settings and (parts[2] in ("crossplay", "gifs")
                                              or parts[2] in args.methods)
    todo = [p for p in pieces(args) if wanted(p.name)]
    if args.list:
        list_pieces(todo)
        return
    run_pieces(todo, args.out, "study")
    figure = tp_cp_figure(args.out)
    if figure is not None:
        print(f"[study] wrote {figure}")


if __name__ == "__main__":
    main()
