"""A small captioned world where words mean something: shapes, colours, sizes, positions.

    scene   = one shape of a named colour and size at one of nine places on a dark background
    caption = "a small red triangle on the left"  (attributes may be left out: "a triangle")

Everything is drawn from a seeded numpy generator, so a seed fixes every pixel.
The tiny CLIP is pretrained on (frame, caption) pairs of this world
(`motecli/pretrain`), and the synthetic videos (`data/synth.py`) move the same
shapes, so class names such as "triangle moving left" use words its text
encoder has grounded. Some colour-shape combinations are held out of
pretraining (`held_out_combos`) to test that the words compose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
COLOURS = {
    "red": (215, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 235),
    "yellow": (230, 210, 40), "purple": (150, 60, 200), "white": (235, 235, 235),
}
COLOUR_NAMES = tuple(COLOURS)
SIZES = {"small": 0.12, "large": 0.2}  # shape radius as a fraction of the frame's short side
SIZE_NAMES = tuple(SIZES)
# Nine places: rows top/middle/bottom x columns left/centre/right, centres at these fractions.
CELL_CENTRES = (0.28, 0.5, 0.72)
POSITIONS = (
    "at the top left", "at the top", "at the top right",
    "on the left", "in the centre", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
)
POSITION_JITTER = 0.04  # fraction of the frame; keeps a place a region, not a pixel
COLOUR_JITTER = 20  # per channel, so "red" is a family of reds
BACKGROUND_MAX = 60  # backgrounds are dark grey-ish: every named colour stands out
ATTRIBUTES = ("shape", "colour", "size", "position")


@dataclass(frozen=True)
class Scene:
    shape: int  # index into SHAPES
    colour: int  # index into COLOUR_NAMES
    size: int  # index into SIZE_NAMES
    position: int  # index into POSITIONS (row * 3 + column)

    def caption(self, *, colour: bool = True, size: bool = True, position: bool = True) -> str:
        words = ["a"] + ([SIZE_NAMES[self.size]] if size else []) + ([COLOUR_NAMES[self.colour]] if colour else [])
        words.append(SHAPES[self.shape])
        if position:
            words.append(POSITIONS[self.position])
        return " ".join(words)

    def values(self) -> tuple[int, int, int, int]:
        """Attribute values in ATTRIBUTES order."""
        return self.shape, self.colour, self.size, self.position


def held_out_combos() -> frozenset[tuple[int, int]]:
    """(shape, colour) pairs never shown in pretraining: one per shape and one per colour
    (a diagonal), so every word is still seen, only not in these combinations."""
    return frozenset((s, s % len(COLOUR_NAMES)) for s in range(len(SHAPES)))


def shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of `shape` centred at offset 0 (dy, dx: pixel offsets, broadcastable).
    Sizes are tuned so every shape covers a similar area at the same radius."""
    ay, ax = np.abs(dy), np.abs(dx)
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        return np.maximum(ay, ax) <= 0.85 * radius
    if shape == "diamond":
        return ay + ax <= 1.2 * radius
    if shape == "triangle":  # pointing up: apex at -radius, base at +0.7 radius
        depth = (dy + radius) / (1.7 * radius)
        return (dy <= 0.7 * radius) & (ax <= depth * 1.1 * radius)
    if shape == "cross":
        arm = 0.35 * radius
        return ((ax <= arm) & (ay <= radius)) | ((ay <= arm) & (ax <= radius))
    if shape == "ring":
        r2 = dy**2 + dx**2
        return (r2 <= radius**2) & (r2 >= (0.55 * radius) ** 2)
    raise ValueError(f"shape {shape!r}: expected one of {', '.join(SHAPES)}")


def jittered_colour(name: str, rng: np.random.Generator) -> np.ndarray:
    base = np.array(COLOURS[name], dtype=np.int16)
    return np.clip(base + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3), 0, 255).astype(np.uint8)


def background_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, BACKGROUND_MAX + 1, size=3, dtype=np.uint8)


def radius_for(size: str, height: int, width: int) -> float:
    return SIZES[size] * min(height, width)


def scene_centre(position: int, height: int, width: int, rng: np.random.Generator) -> tuple[float, float]:
    """Pixel centre (y, x) of a place, jittered."""
    row, col = divmod(position, 3)
    jy, jx = rng.uniform(-POSITION_JITTER, POSITION_JITTER, size=2)
    return (CELL_CENTRES[row] + jy) * height, (CELL_CENTRES[col] + jx) * width


def render_scene(scene: Scene, *, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [H, W, 3]: the scene's shape on a plain dark background."""
    frame = np.broadcast_to(background_colour(rng), (height, width, 3)).copy()
    cy, cx = scene_centre(scene.position, height, width, rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    mask = shape_mask(SHAPES[scene.shape], yy - cy, xx - cx, radius_for(SIZE_NAMES[scene.size], height, width))
    frame[mask] = jittered_colour(COLOUR_NAMES[scene.colour], rng)
    return frame


def sample_scenes(count: int, rng: np.random.Generator, *, held_out: bool) -> list[Scene]:
    """`count` scenes, uniform over attributes; colour-shape pairs only from the held-out set
    when `held_out`, else never from it."""
    pairs = sorted(held_out_combos()) if held_out else [
        (s, c) for s in range(len(SHAPES)) for c in range(len(COLOUR_NAMES)) if (s, c) not in held_out_combos()]
    picks = rng.integers(len(pairs), size=count)
    sizes = rng.integers(len(SIZE_NAMES), size=count)
    places = rng.integers(len(POSITIONS), size=count)
    return [Scene(*pairs[p], int(z), int(q)) for p, z, q in zip(picks, sizes, places)]
