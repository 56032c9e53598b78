"""Animated GIF of one coop_grid episode (``jsrpo render``): a member's hero pair, or its
seat-0 hero with a scripted partner in seat 1.

The episode is played by ``episodes.play_recorded``, as evaluation and cross-play play theirs.
The grid is drawn with PIL (cells, the solid pot, the two onion sources filled when available,
the agents with a carry marker, step and returns); frame t shows the state after t steps, so an
episode of T steps gives T + 1 frames.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from envs.coop_grid import GRID_SIZE, ONION_SOURCES, POT
from jsrpo.agents import Agent
from jsrpo.episodes import play_recorded
from jsrpo.files import atomic_path
from jsrpo.vec_env import VecEnv

CELL = 72  # pixels per grid cell
HEADER = 64  # pixels of text above the grid
SEAT_COLOURS = ((40, 100, 220), (220, 60, 50))
ONION = (235, 160, 30)


def record_episode(env, agent0: Agent, agent1: Agent, key) -> dict:
    """One coop_grid episode with every state kept (``episodes.play_recorded``), as numpy:
    ``positions [T+1, 2, 2]``, ``has_onion [T+1, 2]``, ``onion_available [T+1, 2]`` (index 0 =
    the reset state), ``actions [T, 2]`` and ``rewards [T, 2]`` over ``T = env.max_steps``."""
    _, rec = play_recorded(VecEnv(env), agent0, agent1, key)
    return {"positions": rec.states.positions, "has_onion": rec.states.has_onion,
            "onion_available": rec.states.onion_available, "actions": rec.actions,
            "rewards": rec.rewards}


def draw_frame(episode: dict, t: int, names: tuple[str, str]):
    """PIL image of the state after ``t`` steps of a ``record_episode`` episode."""
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
    with atomic_path(path, ".gif") as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0)
    return len(frames)
