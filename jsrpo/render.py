"""Animated GIF of one coop_grid episode: a member's hero pair, or its seat-0 hero with a
scripted partner in seat 1.

    jsrpo render RUN_DIR [--member M] [--partner NAME] [--seed S] [--fps F] --out FILE.gif

The grid is drawn with PIL (cells, the solid pot, the two onion sources filled when available,
the agents with a carry marker, step and returns); frame t shows the state after t steps, so an
episode of T steps gives T + 1 frames.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jsrpo.agents import Agent

CELL = 72  # pixels per grid cell
HEADER = 64  # pixels of text above the grid
SEAT_COLOURS = ((40, 100, 220), (220, 60, 50))
ONION = (235, 160, 30)


def play_recorded(env, agent0: Agent, agent1: Agent, key) -> dict:
    """One coop_grid episode without auto-reset, every state kept (sampled actions).

    Returns numpy arrays over ``T = env.max_steps`` steps: ``positions [T+1, 2, 2]``,
    ``has_onion [T+1, 2]``, ``onion_available [T+1, 2]`` (index 0 = the reset state),
    ``actions [T, 2]`` and ``rewards [T, 2]``.
    """
    params = env.default_params
    seats = env.agents

    def run(key):
        k_reset, k_init0, k_init1, k_run = jax.random.split(key, 4)
        obs, state = env.reset(k_reset, params)

        def step(carry, key):
            state, obs, s0, s1 = carry
            k0, k1, k_env = jax.random.split(key, 3)
            l0, s0 = agent0.policy(agent0.params, s0, obs[seats[0]], k0)
            l1, s1 = agent1.policy(agent1.params, s1, obs[seats[1]], k1)
            actions = jnp.stack([jax.random.categorical(k0, l0), jax.random.categorical(k1, l1)])
            # step_env, not step: the last frame must show the final state, not a reset one.
            obs, state, rew, _, _ = env.step_env(
                k_env, state, {a: actions[i] for i, a in enumerate(seats)}, params)
            return (state, obs, s0, s1), (state, actions, jnp.stack([rew[a] for a in seats]))

        carry = (state, obs, agent0.init_state(k_init0), agent1.init_state(k_init1))
        _, (states, actions, rewards) = jax.lax.scan(
            step, carry, jax.random.split(k_run, env.max_steps))
        first = lambda x, xs: jnp.concatenate([x[None], xs])
        return {"positions": first(state.positions, states.positions),
                "has_onion": first(state.has_onion, states.has_onion),
                "onion_available": first(state.onion_available, states.onion_available),
                "actions": actions, "rewards": rewards}

    return jax.tree.map(np.asarray, jax.jit(run)(key))


def draw_frame(episode: dict, t: int, names: tuple[str, str]):
    """PIL image of the state after ``t`` steps of a ``play_recorded`` episode."""
    from PIL import Image, ImageDraw, ImageFont

    from envs.coop_grid import GRID_SIZE, ONION_SOURCES, POT

    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=11)
    side = GRID_SIZE * CELL
    img = Image.new("RGB", (side, side + HEADER), "white")
    d = ImageDraw.Draw(img)

    def box(r, c, inset=0):
        y = HEADER + r * CELL
        return (c * CELL + inset, y + inset, (c + 1) * CELL - inset, y + CELL - inset)

    for r in range(GRID_SIZE):
        for c in range(GRID_SIZE):
            d.rectangle(box(r, c), fill=(236, 236, 236), outline=(200, 200, 200))
    d.rectangle(box(*POT, inset=6), fill=(90, 70, 60))
    d.text(((POT[1] + 0.5) * CELL, HEADER + (POT[0] + 0.5) * CELL), "pot", fill="white",
           font=font, anchor="mm")
    for k, (r, c) in enumerate(ONION_SOURCES):
        avail = bool(episode["onion_available"][t, k])
        d.ellipse(box(r, c, inset=20), fill=ONION if avail else None, outline=ONION, width=3)
        d.text((c * CELL + 4, HEADER + r * CELL + 2), f"onion {k}", fill=(120, 90, 20), font=small)
    for seat in (0, 1):
        r, c = (int(v) for v in episode["positions"][t, seat])
        d.ellipse(box(r, c, inset=12), fill=SEAT_COLOURS[seat], outline="black")
        d.text(((c + 0.5) * CELL, HEADER + (r + 0.5) * CELL), str(seat), fill="white",
               font=font, anchor="mm")
        if episode["has_onion"][t, seat]:  # carry marker: an onion on the agent's shoulder
            x0, y0 = (c + 1) * CELL - 26, HEADER + r * CELL + 6
            d.ellipse((x0, y0, x0 + 18, y0 + 18), fill=ONION, outline="black")
    ret = episode["rewards"][:t].sum(0)
    T = len(episode["actions"])
    d.text((6, 4), f"step {t}/{T}   team return {ret.mean():.1f}", fill="black", font=font)
    for seat in (0, 1):
        d.text((6, 22 + 18 * seat), f"seat {seat} ({names[seat]}): return {ret[seat]:.1f}",
               fill=SEAT_COLOURS[seat], font=small)
    return img


def write_gif(episode: dict, names: tuple[str, str], path: Path, fps: float = 4.0) -> int:
    """Draw every frame of ``episode`` into an animated GIF at ``path`` (atomically).

    Returns the number of frames (``T + 1``).
    """
    frames = [draw_frame(episode, t, names) for t in range(len(episode["actions"]) + 1)]
    path = Path(path)
    from jsrpo.outputs import atomic_path

    with atomic_path(path, ".gif") as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0)
    return len(frames)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    from jsrpo.partners import PARTNER_NAMES

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `jsrpo train`")
    p.add_argument("--member", type=int, default=0,
                   help="sweep member whose heroes play (default 0)")
    p.add_argument("--partner", default=None,
                   help="scripted partner in seat 1 instead of the member's seat-1 hero, "
                        f"name[:key=value]... (names: {', '.join(PARTNER_NAMES)})")
    p.add_argument("--out", required=True, help="GIF file to write")
    p.add_argument("--seed", type=int, default=0, help="episode seed")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second (default 4)")


def add_render_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``render`` on the ``jsrpo`` command's subparsers."""
    p = subparsers.add_parser("render", help="animated GIF of one coop_grid episode",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    return p


def run_render(args) -> int:
    """``jsrpo render``: play one episode and write the GIF."""
    import envs
    from jsrpo.checkpoint import load_policy
    from jsrpo.partners import parse_partner_spec

    try:
        meta_path = Path(args.run_dir) / "checkpoint" / "final_meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{args.run_dir}: no checkpoint (expected {meta_path})")
        env_meta = json.loads(meta_path.read_text())["env"]
        if env_meta["name"] != "coop_grid":
            raise ValueError(f"RUN_DIR: render draws coop_grid only; this run plays "
                             f"{env_meta['name']}")
        if args.fps <= 0:
            raise ValueError(f"--fps: got {args.fps:g}; allowed: a positive number")
        if args.partner is None:
            partner = load_policy(args.run_dir, args.member, seat=1)
        else:
            try:
                partner = parse_partner_spec(args.partner, seat=1)
            except ValueError as e:
                raise ValueError(f"--partner: {e}") from None
        hero = load_policy(args.run_dir, args.member, seat=0)
    except (FileNotFoundError, ValueError) as e:
        print(f"jsrpo render: error: {e}", file=sys.stderr)
        return 2
    env = envs.make(env_meta["name"], **env_meta["kwargs"])
    episode = play_recorded(env, hero, partner, jax.random.PRNGKey(args.seed))
    n = write_gif(episode, (hero.name, partner.name), Path(args.out), args.fps)
    ret = episode["rewards"].sum(0)
    print(f"[jsrpo] {hero.name} with {partner.name}: returns {[round(float(r), 2) for r in ret]}, "
          f"team return {ret.mean():.2f}; wrote {args.out} ({n} frames)")
    return 0


def main(argv=None) -> int:
    """``python -m jsrpo.render RUN_DIR ...`` (same arguments as ``jsrpo render``)."""
    parser = argparse.ArgumentParser(prog="python -m jsrpo.render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    return run_render(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
