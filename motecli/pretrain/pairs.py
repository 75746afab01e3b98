"""Batches of (image, caption) pairs from the captioned world, and which captions are true of which image.

A caption states some of the four attributes (shape always; colour, size and
place each with a probability), and half of them are wrapped in one of the 28
prompt templates, so the text encoder meets the prompts the demo's class names
are encoded with. Two images in a batch often share a caption ("a red circle"),
so the contrastive targets are every caption that is true of an image, not only
its own (`compatibility`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import CLIP_MEAN, CLIP_STD, CROP_SIZE, PROMPT_TEMPLATES
from ..data.world import ATTRIBUTES, Scene, render_scene, sample_scenes

# Probability that a training caption states each optional attribute (shape is always stated).
KEEP = {"colour": 0.8, "size": 0.5, "position": 0.6}
TEMPLATE_PROB = 0.5


@dataclass
class PairBatch:
    images: torch.Tensor  # [B, 3, 224, 224], CLIP-normalised
    captions: list[str]  # [B * K]: image i's K captions are i*K ... i*K + K - 1
    values: torch.Tensor  # [B, 4] attribute values of each image (ATTRIBUTES order)
    caption_values: torch.Tensor  # [B * K, 4] the values of the image each caption was written for
    stated: torch.Tensor  # [B * K, 4] bool: which attributes each caption states


def training_caption(scene: Scene, rng: np.random.Generator) -> tuple[str, tuple[bool, ...]]:
    """A caption of `scene` stating a random subset of attributes; (text, stated per attribute)."""
    keep = {name: bool(rng.random() < p) for name, p in KEEP.items()}
    text = scene.caption(**keep)
    if rng.random() < TEMPLATE_PROB:
        text = PROMPT_TEMPLATES[int(rng.integers(len(PROMPT_TEMPLATES)))].replace("{c}", text)
    return text, tuple(True if name == "shape" else keep[name] for name in ATTRIBUTES)


def images_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [B, h, w, 3] -> CLIP input [B, 3, 224, 224] (bilinear upscale, as a small video is)."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-1] != CROP_SIZE or x.shape[-2] != CROP_SIZE:
        x = F.interpolate(x, size=(CROP_SIZE, CROP_SIZE), mode="bilinear", align_corners=False)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def render_batch(scenes: list[Scene], *, size: int, rng: np.random.Generator) -> torch.Tensor:
    frames = np.stack([render_scene(s, height=size, width=size, rng=rng) for s in scenes])
    return images_to_tensor(frames)


def training_batch(batch: int, *, size: int, rng: np.random.Generator, captions_per_image: int = 1) -> PairBatch:
    """`batch` images, never of the held-out colour-shape combinations, with K captions each.
    Text is cheap next to images, so several captions per image give the image encoder
    more to learn from per image it encodes."""
    scenes = sample_scenes(batch, rng, held_out=False)
    captions, stated = zip(*(training_caption(s, rng) for s in scenes for _ in range(captions_per_image)))
    values = torch.tensor([s.values() for s in scenes])
    return PairBatch(
        images=render_batch(scenes, size=size, rng=rng), captions=list(captions), values=values,
        caption_values=values.repeat_interleave(captions_per_image, dim=0), stated=torch.tensor(stated),
    )


def compatibility(values: torch.Tensor, caption_values: torch.Tensor, stated: torch.Tensor) -> torch.Tensor:
    """[B, C] bool: caption j is true of image i (every attribute caption j states matches image i)."""
    same = values[:, None, :] == caption_values[None, :, :]  # [B_image, C_caption, 4]
    return (same | ~stated[None, :, :]).all(dim=-1)
