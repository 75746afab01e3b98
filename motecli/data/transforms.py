"""Pixels as the authors' release computes them (MOTE_METHOD.md sections 1, 3, 4).

The release runs torchvision transforms on PIL images. Every resize here is that
same PIL call, frame by frame, so test views and training crops equal the
release's pixels (with the same Pillow: 0 differing values, tests/data). Why not
torch's own resize: its antialiased bicubic rounds differently (PIL rounds to
uint8 between its horizontal and vertical passes), which measured up to 2/255
on up to 1.4 % of the values, above the tolerance; an exact re-implementation
in torch measured slower than PIL (BENCHMARKS.md, "Pixels").

Everything that is not a resize (crop offsets, flip, grayscale, normalisation)
is one batched tensor op per clip, and every random draw (crop box, flip,
grayscale) is made once per clip and applied to all T frames.

Accepted frames: uint8 [T, H, W, 3] (what decoders and the frame store return)
or [T, 3, H, W], as numpy arrays or torch tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..constants import (
    CLIP_MEAN,
    CLIP_STD,
    CROP_SIZE,
    FLIP_PROB,
    GRAYSCALE_PROB,
    SSV2_FLIP_PAIRS,
    TRAIN_AREA_RANGE,
    TRAIN_ASPECT_RANGE,
    TRAIN_CROP_ATTEMPTS,
    TRAIN_CROPS,
    TRAIN_SHORT_SIDE,
    TRAIN_SWAP_PROB,
)
from ..errors import MoteError

BICUBIC = Image.Resampling.BICUBIC
BILINEAR = Image.Resampling.BILINEAR


# --- frame layout -----------------------------------------------------------------------------


def to_thwc(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 [T, H, W, 3] or [T, 3, H, W] -> C-contiguous numpy uint8 [T, H, W, 3]."""
    x = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.ndim != 4 or x.dtype != np.uint8:
        raise MoteError(f"expected uint8 frames of rank 4, got {x.dtype} {tuple(x.shape)}")
    if x.shape[-1] != 3:
        if x.shape[1] != 3:
            raise MoteError(f"expected frames [T,H,W,3] or [T,3,H,W], got {tuple(x.shape)}")
        x = x.transpose(0, 2, 3, 1)  # [T, 3, H, W] -> [T, H, W, 3]
    return np.ascontiguousarray(x)


def to_tchw(frames: np.ndarray) -> torch.Tensor:
    """numpy uint8 [T, H, W, 3] -> torch uint8 [T, 3, H, W] (a view)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)


# --- resizing: PIL, as torchvision's Resize does it on PIL images ------------------------------


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) that torchvision's Resize(short_side) gives: the long side is
    int(short_side * long / short), truncated (320x240 -> 298x224, not 299)."""
    if width <= height:
        return int(short_side * height / width), short_side
    return short_side, int(short_side * width / height)


def pil_resize(frames: np.ndarray, size: tuple[int, int], *, resample: Image.Resampling) -> np.ndarray:
    """uint8 [T, H, W, 3] -> [T, h, w, 3] with PIL, frame by frame; unchanged when already
    (h, w), as torchvision's Resize returns the image itself then."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        out[t] = np.asarray(Image.fromarray(frame).resize((w, h), resample))
    return out


def scale_short_side(frames: np.ndarray, short_side: int, *, resample: Image.Resampling = BICUBIC) -> np.ndarray:
    """uint8 [T, H, W, 3] -> [T, h, w, 3] with min(h, w) == short_side (the release's GroupScale)."""
    return pil_resize(frames, resized_size(frames.shape[1], frames.shape[2], short_side), resample=resample)


# --- the training draw ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipAugment:
    """One clip's random draw, shared by all its frames. The crop box (top, left, height,
    width) is in the scaled frame; with `fallback` (the release's crop found no box in 10
    attempts) the frame is first scaled to short side `size` (bilinear) and the box is a
    random size x size crop of that."""

    top: int
    left: int
    height: int
    width: int
    flip: bool
    grayscale: bool
    fallback: bool = False


def draw_release_box(height: int, width: int, *, rng: np.random.Generator, size: int = CROP_SIZE):
    """The release's GroupRandomSizedCrop: area fraction and aspect ratio uniform, w and h
    rounded then swapped with p = 0.5, up to 10 attempts; after 10 misses a random
    size x size crop of the frame scaled to short side `size`.
    Returns (top, left, height, width, fallback)."""
    area = height * width
    for _ in range(TRAIN_CROP_ATTEMPTS):
        target = rng.uniform(*TRAIN_AREA_RANGE) * area
        aspect = rng.uniform(*TRAIN_ASPECT_RANGE)
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if rng.random() < TRAIN_SWAP_PROB:
            w, h = h, w
        if w <= width and h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return top, left, h, w, False
    scaled_h, scaled_w = resized_size(height, width, size)
    left = int(rng.integers(0, scaled_w - size + 1))
    top = int(rng.integers(0, scaled_h - size + 1))
    return top, left, size, size, True


def draw_torchvision_box(height: int, width: int, *, rng: np.random.Generator):
    """torchvision's RandomResizedCrop (a deviation, `data.crop = "torchvision"`): log-uniform
    aspect, 10 attempts, then a centre crop clamped to the aspect range.
    Returns (top, left, height, width, fallback=False)."""
    area = height * width
    log_lo, log_hi = math.log(TRAIN_ASPECT_RANGE[0]), math.log(TRAIN_ASPECT_RANGE[1])
    for _ in range(TRAIN_CROP_ATTEMPTS):
        target = area * rng.uniform(*TRAIN_AREA_RANGE)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w, False
    ratio = width / height
    if ratio < TRAIN_ASPECT_RANGE[0]:
        w, h = width, int(round(width / TRAIN_ASPECT_RANGE[0]))
    elif ratio > TRAIN_ASPECT_RANGE[1]:
        h, w = height, int(round(height * TRAIN_ASPECT_RANGE[1]))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w, False


def draw_clip_augment(
    height: int,
    width: int,
    *,
    rng: np.random.Generator,
    crop: str = "release",
    flip: bool = True,
    grayscale: bool = True,
    size: int = CROP_SIZE,
) -> ClipAugment:
    """Crop box for a frame of height x width (already scaled), then flip with p = FLIP_PROB
    and grayscale with p = GRAYSCALE_PROB, drawn in the release's order."""
    if crop == "release":
        top, left, h, w, fallback = draw_release_box(height, width, rng=rng, size=size)
    elif crop == "torchvision":
        top, left, h, w, fallback = draw_torchvision_box(height, width, rng=rng)
    else:
        raise MoteError(f"crop {crop!r}: expected one of {', '.join(TRAIN_CROPS)}")
    do_flip = flip and rng.random() < FLIP_PROB
    do_gray = grayscale and rng.random() < GRAYSCALE_PROB
    return ClipAugment(top, left, h, w, flip=bool(do_flip), grayscale=bool(do_gray), fallback=fallback)


def pil_grayscale(x: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> the same shape, every channel PIL's convert("L") of the pixel:
    (19595 R + 38470 G + 7471 B + 2^15) >> 16, i.e. torchvision's Grayscale(3) on PIL images."""
    r, g, b = x.to(torch.int32).unbind(-3)
    lum = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)
    return lum.unsqueeze(-3).expand(x.shape).contiguous()


def apply_clip_augment(frames: np.ndarray, aug: ClipAugment, *, size: int = CROP_SIZE) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> uint8 [T, 3, size, size]: crop, bilinear resize (PIL), flip, grayscale.
    The crop comes first and is then resized, as in the release (PIL's `box=` would also
    read pixels just outside the box)."""
    if aug.fallback:
        frames = scale_short_side(frames, size, resample=BILINEAR)
        x = frames[:, aug.top : aug.top + size, aug.left : aug.left + size]
    else:
        box = frames[:, aug.top : aug.top + aug.height, aug.left : aug.left + aug.width]
        x = pil_resize(np.ascontiguousarray(box), (size, size), resample=BILINEAR)
    x = to_tchw(x)
    if aug.flip:
        x = x.flip(-1)
    if aug.grayscale:
        x = pil_grayscale(x)
    return x


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> float32, scaled to [0, 1] then CLIP mean/std per channel."""
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)
    return (x.to(torch.float32) / 255.0 - mean) / std


def train_transform(
    frames: torch.Tensor | np.ndarray,
    *,
    rng: np.random.Generator,
    crop: str = "release",
    flip: bool = True,
    grayscale: bool = True,
    short_side: int = TRAIN_SHORT_SIDE,
    fixed_size: tuple[int, int] | None = None,
    size: int = CROP_SIZE,
) -> tuple[torch.Tensor, ClipAugment]:
    """uint8 clip -> (float [T, 3, size, size], the draw): short side to 256 with bicubic
    (or exactly `fixed_size` = (h, w), SSv2's 256 x 320), one crop box for the clip,
    flip and grayscale for the whole clip, CLIP normalisation. The caller swaps labels
    of direction classes when `draw.flip` (see `flip_label_swaps`)."""
    x = to_thwc(frames)
    if fixed_size is not None:
        x = pil_resize(x, fixed_size, resample=BICUBIC)
    else:
        x = scale_short_side(x, short_side, resample=BICUBIC)
    aug = draw_clip_augment(x.shape[1], x.shape[2], rng=rng, crop=crop, flip=flip, grayscale=grayscale, size=size)
    return normalize(apply_clip_augment(x, aug, size=size)), aug


def _class_key(name: str) -> str:
    return " ".join(name.lower().replace("[", "").replace("]", "").split())


def flip_label_swaps(class_names: list[str], *, origin: str, pairs=SSV2_FLIP_PAIRS) -> dict[int, int]:
    """{label: label after a horizontal flip} for the left/right class pairs, found by name
    (case, spacing and square brackets ignored). A pair that is missing or ambiguous is an error:
    flipping without swapping its labels would teach the model the wrong direction."""
    where: dict[str, list[int]] = {}
    for i, name in enumerate(class_names):
        where.setdefault(_class_key(name), []).append(i)
    swaps = {}
    for a, b in pairs:
        for name in (a, b):
            found = where.get(_class_key(name), [])
            if len(found) != 1:
                what = "not among" if not found else f"{len(found)} times in"
                raise MoteError(
                    f"{origin}: the SSv2 flip swaps the labels of {a!r} and {b!r}, but {name!r} is {what} "
                    f"the {len(class_names)} class names; use the SSv2 labels file, or set data.flip = false"
                )
        ia, ib = where[_class_key(a)][0], where[_class_key(b)][0]
        swaps[ia], swaps[ib] = ib, ia
    return swaps


# --- test views ---------------------------------------------------------------------------------


def crop_offsets(length: int, size: int, num_crops: int) -> list[int]:
    """Start offsets of the test crops along the long side: torchvision's CenterCrop for
    1 crop, int(round((L - size) / 2)); the release's GroupFullResSample for 3 crops,
    step = (L - size) // 4 and offsets 0, 4 * step, 2 * step (left, right, centre)."""
    if length < size:
        raise MoteError(f"cannot take a {size} crop from a side of {length} pixels")
    if num_crops == 1:
        return [int(round((length - size) / 2.0))]
    if num_crops == 3:
        step = (length - size) // 4
        return [0, 4 * step, 2 * step]
    raise MoteError(f"num_crops={num_crops}: expected 1 or 3")


def eval_views(frames: torch.Tensor | np.ndarray, *, num_crops: int = 1, size: int = CROP_SIZE) -> torch.Tensor:
    """uint8 clip -> float [num_crops, T, 3, size, size]: short side to `size` with bicubic
    (PIL, long side truncated), then 1 centre crop or 3 crops along the long side (left /
    right / centre for landscape, top / bottom / centre for portrait) at the short side's
    own offset (0 once it is `size`)."""
    x = to_tchw(scale_short_side(to_thwc(frames), size, resample=BICUBIC))
    h, w = x.shape[-2:]
    if w >= h:
        top = crop_offsets(h, size, 1)[0] if num_crops == 1 else 2 * ((h - size) // 4)
        views = [x[..., top : top + size, o : o + size] for o in crop_offsets(w, size, num_crops)]
    else:
        left = crop_offsets(w, size, 1)[0] if num_crops == 1 else 2 * ((w - size) // 4)
        views = [x[..., o : o + size, left : left + size] for o in crop_offsets(h, size, num_crops)]
    return normalize(torch.stack(views))  # [num_crops, T, 3, size, size]
