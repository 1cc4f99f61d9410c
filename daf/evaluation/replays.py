"""Replays: record an episode from the engine, render it headlessly to GIF or PNG.

A replay is an `.npz` of plain arrays (no pickles): the map size, the wall cells, the
object type names, and for every step the non-wall objects as rows
`(type, row, col, stock, agent_id)` (stock = total inventory, -1 agent_id for objects),
plus each agent's cumulative reward. Rendering uses Pillow only: one coloured square per
cell, agents as circles, objects fading as their stock runs out - no display, no
matplotlib in the loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daf.errors import UserError
from daf.io import write_atomic

FORMAT = 1
PALETTE = {  # object type -> RGB; anything else gets a stable colour from its name
    "wall": (70, 70, 80),
    "agent": (30, 90, 200),
    "assembler": (200, 60, 60),
    "charger": (240, 200, 40),
    "bush": (40, 150, 60),
    "carbon_extractor": (60, 60, 60),
    "oxygen_extractor": (120, 200, 230),
    "germanium_extractor": (170, 120, 200),
    "silicon_extractor": (210, 170, 110),
}
BACKGROUND = (245, 245, 240)


def _colour(name: str) -> tuple[int, int, int]:
    if name in PALETTE:
        return PALETTE[name]
    h = sum((i + 1) * ord(ch) for i, ch in enumerate(name))
    return (60 + h % 150, 60 + (h // 7) % 150, 60 + (h // 49) % 150)


class Recorder:
    """Captures an episode's states from a mettagrid `Simulation` (call after every step)."""

    def __init__(self, sim):
        self.height, self.width = int(sim.map_height), int(sim.map_width)
        walls = sim.grid_objects()
        self.walls = np.array(
            [(o["r"], o["c"]) for o in walls.values() if o["type_name"] == "wall"], dtype=np.int16
        ).reshape(-1, 2)
        self.types: list[str] = []
        self.frames: list[np.ndarray] = []
        self.rewards: list[np.ndarray] = []
        self.capture(sim)

    def _type(self, name: str) -> int:
        if name not in self.types:
            self.types.append(name)
        return self.types.index(name)

    def capture(self, sim) -> None:
        rows = []
        for obj in sim.grid_objects(ignore_types=["wall"]).values():
            stock = sum(obj.get("inventory", {}).values())
            rows.append((self._type(obj["type_name"]), obj["r"], obj["c"], stock, obj.get("agent_id", -1)))
        self.frames.append(np.array(rows, dtype=np.int32).reshape(-1, 5))
        self.rewards.append(np.asarray(sim.episode_rewards, dtype=np.float32).copy())

    def save(self, path: str | Path, episode: int, seed: int, mission: str, policies: list[str]) -> None:
        offsets = np.cumsum([0, *[len(f) for f in self.frames]])
        arrays = {
            "format": np.array(FORMAT),
            "size": np.array([self.height, self.width]),
            "walls": self.walls,
            "types": np.array(self.types),
            "objects": np.concatenate(self.frames) if self.frames else np.zeros((0, 5), np.int32),
            "offsets": offsets,
            "rewards": np.stack(self.rewards),
            "episode": np.array(episode),
            "seed": np.array(seed, dtype=np.int64),
            "mission": np.array(mission),
            "policies": np.array(policies),
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        write_atomic(path, write)


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"replay '{path}' does not exist (`daf evaluate --replays N --replay-dir DIR` writes them)")
    try:
        with np.load(path, allow_pickle=False) as data:
            replay = {key: data[key] for key in data.files}
    except Exception as exc:
        raise UserError(f"replay '{path}' is not a DAF replay: {type(exc).__name__}: {exc}") from None
    if int(replay.get("format", -1)) != FORMAT:
        raise UserError(f"replay '{path}' has an unknown format (expected {FORMAT})")
    return replay


def frames(replay: dict, every: int = 1, cell: int = 8, max_frames: int | None = None) -> list:
    """Pillow images of steps 0, every, 2*every, ..."""
    from PIL import Image, ImageDraw

    height, width = (int(v) for v in replay["size"])
    types = [str(t) for t in replay["types"]]
    offsets = replay["offsets"]
    steps = list(range(0, len(offsets) - 1, max(1, every)))
    if max_frames is not None and len(steps) > max_frames:
        steps = [steps[round(i * (len(steps) - 1) / (max_frames - 1))] for i in range(max_frames)]
    base = Image.new("RGB", (width * cell, height * cell), BACKGROUND)
    draw = ImageDraw.Draw(base)
    for r, c in replay["walls"]:
        draw.rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1], fill=PALETTE["wall"])
    first = replay["objects"][offsets[0] : offsets[1]]
    initial = {(int(r), int(c)): int(s) for _, r, c, s, a in first if a < 0 and s > 0}  # finite stocks
    images = []
    for step in steps:
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for kind, r, c, stock, agent in replay["objects"][offsets[step] : offsets[step + 1]]:
            colour = _colour(types[kind])
            box = [c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1]
            if agent >= 0:
                draw.ellipse(box, fill=colour, outline=(255, 255, 255))
            else:
                start = initial.get((int(r), int(c)), 0)
                if start:  # an object with a finite stock fades as it runs out
                    fade = min(1.0, 0.3 + 0.7 * stock / start)
                    colour = tuple(int(BACKGROUND[i] + (colour[i] - BACKGROUND[i]) * fade) for i in range(3))
                draw.rectangle(box, fill=colour)
        images.append(image)
    return images


def write_gif(replay: dict, out: str | Path, every: int = 2, cell: int = 8, max_frames: int = 120, fps: int = 12):
    images = frames(replay, every, cell, max_frames)
    if not images:
        raise UserError("replay has no frames")

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps),
                       loop=0, optimize=False)  # fmt: skip

    write_atomic(out, write)
    return len(images)


def write_strip(replay: dict, out: str | Path, count: int = 6, cell: int = 8) -> int:
    """A PNG of `count` evenly spaced frames side by side."""
    from PIL import Image

    images = frames(replay, 1, cell, count)
    strip = Image.new("RGB", (sum(i.width for i in images) + 4 * (len(images) - 1), images[0].height), (255, 255, 255))
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width + 4

    def write(tmp: Path) -> None:
        strip.save(tmp, format="PNG", optimize=False)

    write_atomic(out, write)
    return len(images)
