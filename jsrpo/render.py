"""One episode of a run (``jsrpo render``): a member's heroes in every seat, or its seat-0 hero
with a scripted partner in the other seats, as an animated GIF (coop_grid, Overcooked v1 and v2,
MPE Tag) or as text (Hanabi: every turn's move, the hands, fireworks and tokens).

The episode is played by ``episodes.play_recorded_seats``, as evaluation and cross-play play
theirs.
coop_grid is drawn here with PIL (cells, the solid pot, the two onion sources filled when
available, the agents with a carry marker) and Tag's arena with PIL too; Overcooked with
JaxMARL's own visualizers. Every
frame has a header with the step and the returns so far; frame t shows the state after t
steps, so an episode of T steps gives T + 1 frames. One-shot matrix games have nothing to draw.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import jax
import numpy as np
from jaxmarl.viz.overcooked_v2_visualizer import OvercookedV2Visualizer
from jaxmarl.viz.overcooked_visualizer import TILE_PIXELS, OvercookedVisualizer
from PIL import Image, ImageDraw, ImageFont

from envs.coop_grid import GRID_SIZE, ONION_SOURCES, POT
from jsrpo.agents import Agent
from jsrpo.episodes import play_recorded_seats
from jsrpo.files import atomic_path
from jsrpo.vec_env import VecEnv

#: environments ``jsrpo render`` can draw (GIF) or write as text.
DRAWABLE = ("coop_grid", "overcooked", "overcooked_v2", "tag")
TEXT = ("hanabi",)
CELL = 72  # pixels per grid cell
HEADER = 64  # pixels of text above the grid
SEAT_COLOURS = ((40, 100, 220), (220, 60, 50))
ONION = (235, 160, 30)


def record_episode(env, agents: Sequence[Agent], key) -> dict:
    """One episode with every state kept (``episodes.play_recorded_seats``), as numpy:
    ``states`` (the env's state pytree, leading axis ``T+1``, index 0 = the reset state),
    ``actions [T, P]``, ``rewards [T, P]`` over ``T = env.max_steps`` and ``length`` (steps
    up to the episode's end)."""
    tot, rec = play_recorded_seats(VecEnv(env), agents, key)
    return {"states": rec.states, "actions": rec.actions, "rewards": rec.rewards,
            "length": int(tot.length)}


def hanabi_text(env, episode: dict, names: Sequence[str]) -> str:
    """A recorded Hanabi episode as text: the deal, then every turn (seat, move, reward) with
    the fireworks, info and life tokens after it, up to the episode's end."""
    colours = "RYGWB"[:env.num_colors]
    at = lambda t: jax.tree.map(lambda x: np.asarray(x)[t], episode["states"])

    def hand(game, seat):
        cards = []
        for card in np.asarray(game.player_hands)[seat]:
            if card.any():
                c, r = np.argwhere(card)[0]
                cards.append(f"{colours[c]}{r + 1}")
            else:
                cards.append("--")
        return " ".join(cards)

    def board(game):
        levels = np.asarray(game.fireworks).sum(-1).astype(int)
        fw = " ".join(f"{colours[c]}{levels[c]}" for c in range(env.num_colors))
        return (f"fireworks {fw} | score {levels.sum()} | info {int(game.info_tokens.sum())} "
                f"| lives {int(game.life_tokens.sum())}")

    first = at(0).game
    lines = [f"Hanabi, {env.num_agents} players, {env.num_colors} colours x {env.num_ranks} "
             "ranks", "players: " + ", ".join(f"seat {i} {n}" for i, n in enumerate(names)),
             "deal: " + " | ".join(f"seat {i}: {hand(first, i)}"
                                    for i in range(env.num_agents)), board(first)]
    for t in range(episode["length"]):
        before, after = at(t), at(t + 1)
        seat = int(env.current_seat(before))
        move = env.action_names[int(episode["actions"][t, seat])]
        reward = float(episode["rewards"][t, 0])
        lines.append(f"turn {t + 1:3d}: seat {seat} ({hand(before.game, seat)}) {move:<20s} "
                     f"reward {reward:+g} | {board(after.game)}")
    total = float(episode["rewards"][:episode["length"], 0].sum())
    lines.append(f"end after {episode['length']} turns: score {total:g}")
    return "\n".join(lines) + "\n"


def write_text(env, episode: dict, names: Sequence[str], path: Path) -> int:
    """Write ``hanabi_text`` to ``path`` (atomically); returns the number of turns."""
    path = Path(path)
    with atomic_path(path, ".txt") as tmp:
        Path(tmp).write_text(hanabi_text(env, episode, names))
    return episode["length"]


def scenes(env, states, n: int) -> list:
    """The drawn grid of each of the ``n`` recorded states, as PIL images (no header)."""
    name = env.registry_name
    if name == "coop_grid":
        return [draw_coop_grid(states, t) for t in range(n)]
    if name == "overcooked":
        pad = env.raw_env.agent_view_size - 2  # the maze map is padded for the agents' views
        at = lambda t: jax.tree.map(lambda x: np.asarray(x)[t], states)
        return [Image.fromarray(OvercookedVisualizer._render_grid(
            np.asarray(at(t).maze_map)[pad:-pad, pad:-pad, :], tile_size=TILE_PIXELS,
            highlight_mask=None, agent_dir_idx=at(t).agent_dir_idx,
            agent_inv=at(t).agent_inv)) for t in range(n)]
    if name == "overcooked_v2":
        frames = np.asarray(OvercookedV2Visualizer().render_sequence(states))
        return [Image.fromarray(f) for f in frames[:n]]
    if name == "tag":
        return [draw_tag(env, states, t) for t in range(n)]
    raise ValueError(f"render: nothing to draw for {name}; allowed: {', '.join(DRAWABLE)}")


def draw_coop_grid(states, t: int):
    """PIL image of coop_grid's state after ``t`` steps (``states``: a recorded episode's)."""
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=11)
    side = GRID_SIZE * CELL
    img = Image.new("RGB", (side, side), "white")
    d = ImageDraw.Draw(img)

    def box(r, c, inset=0):
        y = r * CELL
        return (c * CELL + inset, y + inset, (c + 1) * CELL - inset, y + CELL - inset)

    for r in range(GRID_SIZE):
        for c in range(GRID_SIZE):
            d.rectangle(box(r, c), fill=(236, 236, 236), outline=(200, 200, 200))
    d.rectangle(box(*POT, inset=6), fill=(90, 70, 60))
    d.text(((POT[1] + 0.5) * CELL, (POT[0] + 0.5) * CELL), "pot", fill="white", font=font,
           anchor="mm")
    for k, (r, c) in enumerate(ONION_SOURCES):
        avail = bool(states.onion_available[t, k])
        d.ellipse(box(r, c, inset=20), fill=ONION if avail else None, outline=ONION, width=3)
        d.text((c * CELL + 4, r * CELL + 2), f"onion {k}", fill=(120, 90, 20), font=small)
    for seat in (0, 1):
        r, c = (int(v) for v in states.positions[t, seat])
        d.ellipse(box(r, c, inset=12), fill=SEAT_COLOURS[seat], outline="black")
        d.text(((c + 0.5) * CELL, (r + 0.5) * CELL), str(seat), fill="white", font=font,
               anchor="mm")
        if states.has_onion[t, seat]:  # carry marker: an onion on the agent's shoulder
            x0, y0 = (c + 1) * CELL - 26, r * CELL + 6
            d.ellipse((x0, y0, x0 + 18, y0 + 18), fill=ONION, outline="black")
    return img


def draw_tag(env, states, t: int, side: int = 360, extent: float = 1.5):
    """PIL image of Tag's arena after ``t`` steps: chasers in the seat colours, the runner in
    green, obstacles in grey, each at its true radius; the arena's edge (where MPE starts to
    penalise the runner) dashed. ``env``: the three-seat game (``FrozenSeats.unwrap`` gives it
    for runs with a frozen runner)."""
    pos, rad = np.asarray(states.world.p_pos[t]), np.asarray(env.world.rad)
    to_px = lambda x, y: (side / 2 * (1 + x / extent), side / 2 * (1 - y / extent))
    img = Image.new("RGB", (side, side), (245, 245, 240))
    d = ImageDraw.Draw(img)
    x0, y0 = to_px(-1.0, 1.0)
    x1, y1 = to_px(1.0, -1.0)
    for k in range(0, int(x1 - x0), 12):  # the arena's edge, dashed
        for a, b in (((x0 + k, y0), (x0 + k + 6, y0)), ((x0 + k, y1), (x0 + k + 6, y1)),
                     ((x0, y0 + k), (x0, y0 + k + 6)), ((x1, y0 + k), (x1, y0 + k + 6))):
            d.line((a, b), fill=(170, 170, 170))
    font = ImageFont.load_default(size=11)
    colours = [SEAT_COLOURS[i % 2] for i in range(env.num_agents - 1)] + [(40, 160, 70)]
    colours += [(120, 120, 120)] * (len(pos) - env.num_agents)
    for i, ((x, y), r) in enumerate(zip(pos, rad)):
        cx, cy = to_px(x, y)
        pr = side / 2 * r / extent
        d.ellipse((cx - pr, cy - pr, cx + pr, cy + pr), fill=colours[i], outline="black")
        if i < env.num_agents:
            d.text((cx, cy), "R" if i == env.num_agents - 1 else str(i), fill="white",
                   font=font, anchor="mm")
    return img


def with_header(scene, episode: dict, t: int, names: tuple[str, str]):
    """``scene`` under a header: the step, the team return and each seat's return so far."""
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=11)
    img = Image.new("RGB", (max(scene.width, 300), scene.height + HEADER), "white")
    img.paste(scene, (0, HEADER))
    d = ImageDraw.Draw(img)
    ret = episode["rewards"][:t].sum(0)
    T = len(episode["actions"])
    d.text((6, 4), f"step {t}/{T}   team return {ret.mean():.1f}", fill="black", font=font)
    for seat in (0, 1):
        d.text((6, 22 + 18 * seat), f"seat {seat} ({names[seat]}): return {ret[seat]:.1f}",
               fill=SEAT_COLOURS[seat], font=small)
    return img


def write_gif(env, episode: dict, names: tuple[str, str], path: Path, fps: float = 4.0,
              max_frames: int | None = None) -> int:
    """Draw the states of ``episode`` (from ``record_episode`` on ``env``) into an animated GIF
    at ``path`` (atomically): all ``T + 1`` of them, or the first ``max_frames``. Returns the
    number of frames."""
    n = len(episode["actions"]) + 1
    n = n if max_frames is None else min(n, max_frames)
    frames = [with_header(scene, episode, t, names)
              for t, scene in enumerate(scenes(env, episode["states"], n))]
    path = Path(path)
    with atomic_path(path, ".gif") as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0)
    return len(frames)
