"""In-memory clips for fast loop tests, following the data module's item contract.

The task needs temporal order: a square on a background that brightens or
darkens over the clip. Both classes draw their frames from the same set (a
darkening clip is a brightening one played backwards), so no average over
frames can tell them apart; only the temporal head can. Order is learned from a
random-init CLIP only when frames differ a lot, and global brightness is what a
random ViT's features respond to most, hence fades rather than a small moving
square.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from motecli.constants import CLIP_MEAN, CLIP_STD, CROP_SIZE

CLASS_NAMES = ["square getting brighter", "square getting darker"]
SIDE = 64  # square size in pixels


class MovingSquares(Dataset):
    """Clip i: label i % 2; square position, start level and rate from (seed, i);
    a small per-clip brightness jitter comes from the global torch generator, so the
    RNG state matters for resume, as augmentation does."""

    def __init__(self, size: int, *, num_frames: int, seed: int = 0) -> None:
        self.size, self.num_frames, self.seed = size, num_frames, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        label = index % 2
        g = torch.Generator().manual_seed(self.seed * 100_003 + index)
        y, x = torch.randint(0, CROP_SIZE - SIDE, (2,), generator=g).tolist()
        rate = 0.6 / self.num_frames + 0.3 / self.num_frames * float(torch.rand((), generator=g))
        levels = 0.05 + rate * torch.arange(self.num_frames)  # brightening
        if label == 1:
            levels = levels.flip(0)
        levels = levels + 0.02 * float(torch.rand(()))  # global generator: augmentation-like
        frames = levels.view(-1, 1, 1, 1).expand(self.num_frames, 3, CROP_SIZE, CROP_SIZE).clone()
        frames[:, :, y : y + SIDE, x : x + SIDE] = 1.0
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return dict(frames=(frames - mean) / std, label=label, index=index, error=None, path=f"clip{index}")


def tiny_recipe_dict(output, **sections) -> dict:
    """A mote-tiny recipe for the in-memory clips; `sections` update tables by name."""
    table = {
        "model": {"name": "mote-tiny", "num_frames": 4, "layers": 2, "experts": 4},
        "data": {"synthetic": True, "workers": 0},
        "solver": {"epochs": 4, "warmup_epochs": 1, "total_batch": 8, "lr": 1e-3, "clip_lr_ratio": 1.0},
        "run": {"output": str(output), "precision": "fp32", "val_every": 1, "log_every": 1},
    }
    for name, values in sections.items():
        table[name] = {**table.get(name, {}), **values}
    return table


class MovingSquaresVal(MovingSquares):
    """Test-mode items: frames [V=1, T, 3, H, W]."""

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        item["frames"] = item["frames"].unsqueeze(0)
        return item


def squares_data(train_clips: int, val_clips: int):
    """Training clips and held-out clips of the fade task, T = 4, as `fit` takes them."""
    from motecli.train.data import TrainData

    return TrainData(train=MovingSquares(train_clips, num_frames=4),
                     val=MovingSquaresVal(val_clips, num_frames=4, seed=1),
                     class_names=CLASS_NAMES, description="moving squares")
