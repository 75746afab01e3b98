"""The torch Dataset of clips, over video files or a frame store, and its collate function.

Item contract (what `ClipDataset[i]` returns), a dict:

    frames  float32 [T, 3, 224, 224] in train mode, [V, T, 3, 224, 224] in test mode
            with V = num_clips * num_crops in clip-major order (view = clip * num_crops + crop);
            None when the video could not be read
    label   int, the class index
    index   int, the position in the VideoList
    error   None, or a one-line reason ("file not found", "not decodable: ...")
    path    str, the video file (for failure reports)
    backend who read the frames: "decord", "pyav", "frames" (a frame folder), "store"
    fallback None, or why PyAV read a video decord was to read (data/video.py)

`collate_clips(items)` stacks the good items and returns
    dict(frames=Tensor[B, ...] or None if all failed, labels=LongTensor[B],
         indices=LongTensor[B], failures=list[(index, path, reason)],
         backends=list[(index, backend, fallback)] of the good items)
so a bad video is never a crash and never silently dropped: callers count
`failures`. Videos shorter than T frames are padded by the sampling formulas
(repeated indices); only a video with no readable frame is a failure.

Training pixels follow the release (MOTE_METHOD.md section 3, `transforms`):
short side to 256 with bicubic, its GroupRandomSizedCrop (`crop="release"`) or
torchvision's RandomResizedCrop (`crop="torchvision"`), flip, grayscale. With
`ssv2=True`, frames are resized to exactly 256 x 320, there is no grayscale by
default, and a flip also swaps the labels of the left/right class pairs (found
by name in the class names; `label` is the label after the swap).

Safe in DataLoader workers: nothing is opened in `__init__`; decord readers are
opened per item and HDF5 files on first use in each worker. Training
randomness comes from a numpy Generator seeded by (torch's per-worker seed,
epoch, index), so it differs across workers and epochs and repeats under
`torch.manual_seed`.
"""

from __future__ import annotations

import logging
import os
from functools import partial

import numpy as np
import torch
from torch.utils.data import Dataset

from ..constants import CROP_SIZE, DEFAULT_NUM_FRAMES, SSV2_SIZE, TRAIN_CROPS, TRAIN_SHORT_SIDE
from ..errors import MoteError
from . import sampling, transforms
from .layouts import VideoList
from .store import FrameStore
from .video import VideoReadError, read_video

log = logging.getLogger("mote")

MODES = ("train", "test")


class ClipDataset(Dataset):
    """Clips of a VideoList, decoded from the videos or read from a frame store."""

    def __init__(
        self,
        videos: VideoList | None = None,
        *,
        store: str | os.PathLike | None = None,
        mode: str = "train",
        num_frames: int = DEFAULT_NUM_FRAMES,
        num_clips: int = 1,
        num_crops: int = 1,
        flip: bool = True,
        grayscale: bool | None = None,  # absent = on, off for SSv2
        crop: str = "release",
        ssv2: bool = False,
        seed: int = 0,
        read_timeout_s: float | None = 30.0,
    ):
        if mode not in MODES:
            raise MoteError(f"mode {mode!r}: expected 'train' or 'test'")
        if num_crops not in (1, 3):
            raise MoteError(f"num_crops={num_crops}: expected 1 or 3")
        if crop not in TRAIN_CROPS:
            raise MoteError(f"crop {crop!r}: expected one of {', '.join(TRAIN_CROPS)}")
        self.store = FrameStore(store) if store is not None else None
        if self.store is not None:
            if videos is not None and videos.fingerprint() != self.store.videos.fingerprint():
                raise MoteError(f"{store}: frame store holds a different video list than {videos.source}")
            videos = videos or self.store.videos
        if videos is None:
            raise MoteError("ClipDataset needs a VideoList or a frame store")
        self.videos = videos
        self.mode, self.num_frames, self.num_clips, self.num_crops = mode, num_frames, num_clips, num_crops
        self.flip, self.seed, self.crop = flip, seed, crop
        self.grayscale = (not ssv2) if grayscale is None else grayscale
        self.fixed_size = SSV2_SIZE if ssv2 else None
        # Labels a flip turns into each other; only SSv2 has such classes.
        self.flip_swaps: dict[int, int] = {}
        if ssv2 and flip and mode == "train":
            self.flip_swaps = transforms.flip_label_swaps(videos.class_names, origin=videos.source)
        self.read_timeout_s = read_timeout_s
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        """Change the training augmentation draws (needed with num_workers=0)."""
        self.epoch = epoch

    def _pick(self, n: int, *, rng: np.random.Generator | None) -> np.ndarray:
        if self.mode == "train":
            return sampling.train_indices(n, num_frames=self.num_frames, rng=rng)
        return sampling.eval_indices(n, num_frames=self.num_frames, num_clips=self.num_clips)

    def _read(self, index: int, rng: np.random.Generator | None) -> tuple[np.ndarray, str, str | None]:
        """(frames, backend, fallback reason)."""
        pick = partial(self._pick, rng=rng)
        if self.store is not None:
            return self.store.read(index, pick)[0], "store", None
        read = read_video(str(self.videos.path(index)), pick, timeout_s=self.read_timeout_s)
        return read.frames, read.backend, read.fallback

    def __getitem__(self, index: int) -> dict:
        label = self.videos.items[index][1]
        rng = np.random.default_rng([torch.initial_seed(), self.seed, self.epoch, index]) if self.mode == "train" else None
        try:
            frames, backend, fallback = self._read(index, rng)
        except VideoReadError as err:
            log.debug("video %d (%s) unreadable: %s", index, self.videos.path(index), err.reason)
            return dict(frames=None, label=label, index=index, error=err.reason, path=str(self.videos.path(index)),
                        backend=None, fallback=None)
        if self.mode == "train":
            clip, aug = transforms.train_transform(
                frames, rng=rng, crop=self.crop, flip=self.flip, grayscale=self.grayscale,
                short_side=TRAIN_SHORT_SIDE, fixed_size=self.fixed_size,
            )
            if aug.flip:
                label = self.flip_swaps.get(label, label)
        else:
            clips = torch.as_tensor(frames)  # [clips, T, H, W, 3]
            views = transforms.eval_views(clips.flatten(0, 1), num_crops=self.num_crops, size=CROP_SIZE)
            # [crops, clips*T, 3, S, S] -> [clips, crops, T, 3, S, S] -> [clips*crops, T, 3, S, S]
            views = views.unflatten(1, (self.num_clips, self.num_frames)).transpose(0, 1)
            clip = views.flatten(0, 1).contiguous()
        return dict(frames=clip, label=label, index=index, error=None, path=str(self.videos.path(index)),
                    backend=backend, fallback=fallback)


def collate_clips(items: list[dict]) -> dict:
    """Stack the readable items; report the others as (index, path, reason) in `failures`."""
    good = [it for it in items if it["error"] is None]
    return dict(
        frames=torch.stack([it["frames"] for it in good]) if good else None,
        labels=torch.tensor([it["label"] for it in good], dtype=torch.long),
        indices=torch.tensor([it["index"] for it in good], dtype=torch.long),
        failures=[(it["index"], it["path"], it["error"]) for it in items if it["error"] is not None],
        backends=[(it["index"], it.get("backend"), it.get("fallback")) for it in good],
    )
