"""Clip-level augmentation and test crops on uint8 tensors (MOTE_METHOD.md sections 1, 3, 4).

Every function works on a whole clip at once: one crop, one flip and one
grayscale decision per clip, applied to all T frames in a single batched tensor
op. No PIL, no per-frame Python loop. Frames stay uint8 until the final
`normalize`, which is the only place they become float.

Accepted inputs: uint8 [T, H, W, 3] (what decoders return) or [T, 3, H, W].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from ..constants import (
    CLIP_MEAN,
    CLIP_STD,
    CROP_SIZE,
    FLIP_PROB,
    GRAYSCALE_PROB,
    TRAIN_AREA_RANGE,
    TRAIN_ASPECT_RANGE,
    TRAIN_SHORT_SIDE,
)
from ..errors import MoteError

# torchvision's RandomResizedCrop tries this many area/aspect draws before
# falling back to a centre crop; we keep its behaviour.
RRC_ATTEMPTS = 10


def to_tchw(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] or [T, 3, H, W] -> uint8 [T, 3, H, W] (a view when possible)."""
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise MoteError(f"expected uint8 frames of rank 4, got {x.dtype} {tuple(x.shape)}")
    if x.shape[1] == 3:
        return x
    if x.shape[-1] == 3:
        return x.permute(0, 3, 1, 2)  # [T, H, W, 3] -> [T, 3, H, W]
    raise MoteError(f"expected frames [T,H,W,3] or [T,3,H,W], got {tuple(x.shape)}")


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) after scaling so that min(h, w) == short_side, keeping aspect ratio."""
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


def resize_short_side(
    x: torch.Tensor, short_side: int, *, interpolation: InterpolationMode = InterpolationMode.BILINEAR
) -> torch.Tensor:
    """uint8 [T, 3, H, W] -> [T, 3, h, w] with min(h, w) == short_side; no-op if already there."""
    h, w = short_side_size(x.shape[-2], x.shape[-1], short_side)
    if (h, w) == tuple(x.shape[-2:]):
        return x
    return F.resize(x, [h, w], interpolation=interpolation, antialias=True)


@dataclass(frozen=True)
class ClipAugment:
    """One clip's random draw: crop box, flip and grayscale, shared by all frames."""

    top: int
    left: int
    height: int
    width: int
    flip: bool
    grayscale: bool


def draw_clip_augment(
    height: int,
    width: int,
    *,
    rng: np.random.Generator,
    flip: bool = True,
    grayscale: bool = True,
    area_range: tuple[float, float] = TRAIN_AREA_RANGE,
    aspect_range: tuple[float, float] = TRAIN_ASPECT_RANGE,
) -> ClipAugment:
    """RandomResizedCrop box exactly as torchvision draws it (area fraction uniform,
    log-aspect uniform, 10 attempts, then a centre crop clamped to the aspect
    range), plus flip with p = FLIP_PROB and grayscale with p = GRAYSCALE_PROB.
    `flip=False, grayscale=False` is the Something-Something v2 recipe."""
    area = height * width
    log_lo, log_hi = math.log(aspect_range[0]), math.log(aspect_range[1])
    box = None
    for _ in range(RRC_ATTEMPTS):
        target = area * rng.uniform(*area_range)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            box = (top, left, h, w)
            break
    if box is None:
        ratio = width / height
        if ratio < aspect_range[0]:
            w, h = width, int(round(width / aspect_range[0]))
        elif ratio > aspect_range[1]:
            h, w = height, int(round(height * aspect_range[1]))
        else:
            h, w = height, width
        box = ((height - h) // 2, (width - w) // 2, h, w)
    do_flip = flip and rng.random() < FLIP_PROB
    do_gray = grayscale and rng.random() < GRAYSCALE_PROB
    return ClipAugment(*box, flip=bool(do_flip), grayscale=bool(do_gray))


def apply_clip_augment(x: torch.Tensor, aug: ClipAugment, *, size: int = CROP_SIZE) -> torch.Tensor:
    """uint8 [T, 3, H, W] -> uint8 [T, 3, size, size]: crop, resize (bilinear), flip, grayscale."""
    x = F.resized_crop(
        x, aug.top, aug.left, aug.height, aug.width, [size, size],
        interpolation=InterpolationMode.BILINEAR, antialias=True,
    )
    if aug.flip:
        x = x.flip(-1)
    if aug.grayscale:
        x = F.rgb_to_grayscale(x, num_output_channels=3)
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
    flip: bool = True,
    grayscale: bool = True,
    short_side: int = TRAIN_SHORT_SIDE,
    size: int = CROP_SIZE,
) -> torch.Tensor:
    """uint8 clip -> float [T, 3, size, size]: short side to 256, one RandomResizedCrop
    to 224, flip and grayscale for the whole clip, CLIP normalisation."""
    x = resize_short_side(to_tchw(frames), short_side)
    aug = draw_clip_augment(x.shape[-2], x.shape[-1], rng=rng, flip=flip, grayscale=grayscale)
    return normalize(apply_clip_augment(x, aug, size=size))


def crop_offsets(length: int, size: int, num_crops: int) -> list[int]:
    """Start offsets of the test crops along one axis: centre for 1 crop
    (torchvision's rounding), start / centre / end for 3 crops."""
    if length < size:
        raise MoteError(f"cannot take a {size} crop from a side of {length} pixels")
    centre = int(round((length - size) / 2.0))
    if num_crops == 1:
        return [centre]
    if num_crops == 3:
        return [0, centre, length - size]
    raise MoteError(f"num_crops={num_crops}: expected 1 or 3")


def eval_views(frames: torch.Tensor | np.ndarray, *, num_crops: int = 1, size: int = CROP_SIZE) -> torch.Tensor:
    """uint8 clip -> float [num_crops, T, 3, size, size]: short side to `size` with
    bicubic interpolation, then 1 centre crop or 3 crops along the long side
    (left / centre / right for landscape, top / centre / bottom for portrait)."""
    x = resize_short_side(to_tchw(frames), size, interpolation=InterpolationMode.BICUBIC)
    h, w = x.shape[-2:]
    if w >= h:
        views = [x[..., :, o : o + size] for o in crop_offsets(w, size, num_crops)]
    else:
        views = [x[..., o : o + size, :] for o in crop_offsets(h, size, num_crops)]
    return normalize(torch.stack(views))  # [num_crops, T, 3, size, size]
