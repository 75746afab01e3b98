"""Decode one shard of a video list and write it as an HDF5 file, atomically.

A shard is written to a temporary sibling and renamed into place only when
complete, so a process killed at any moment (even SIGKILL) leaves either the
finished shard or nothing but a stale temporary file, which the runner deletes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..data.layouts import VideoList, video_stamp
from ..data.sampling import store_indices
from ..data.store import quiet_jpeg_deprecation, shard_name
from ..data.video import VideoReadError, read_frames
from ..env import decode_timeout_s
from ..errors import MoteError

log = logging.getLogger("mote")

@dataclass(frozen=True)
class StoreSettings:
    """How frames are stored; part of the manifest, so a resumed run must match it."""

    short_side: int = 256
    max_frames: int = 64
    format: str = "jpeg"  # or "raw"
    jpeg_quality: int = 90
    shard_size: int = 32
    timeout_s: float = field(default_factory=decode_timeout_s)


def encode_video(path: str, settings: StoreSettings):
    """Frames kept for one video: uint8 [F, H, W, 3] scaled so min(H, W) == short_side with
    the release's GroupScale (PIL bicubic, long side truncated; the training recipe's first
    step, so training from the store sees the pixels training from the video does), plus the
    original frame count. Raises VideoReadError for an unusable video."""
    from ..data.transforms import scale_short_side, to_tchw

    frames, _, n = read_frames(path, lambda n: store_indices(n, max_frames=settings.max_frames), timeout_s=settings.timeout_s)
    x = scale_short_side(np.ascontiguousarray(frames), settings.short_side)  # [F, H, W, 3]
    if settings.format == "raw":
        return x, n
    from torchvision.io import encode_jpeg

    with quiet_jpeg_deprecation():
        return [t.numpy() for t in encode_jpeg(list(to_tchw(x).contiguous()), quality=settings.jpeg_quality)], n


def write_shard(store: Path, shard: int, videos: VideoList, settings: StoreSettings) -> tuple[int, int]:
    """Decode videos [shard * shard_size, ...) into `store/shard-NNNNN.h5`.
    Returns (videos written, videos failed)."""
    import h5py

    first = shard * settings.shard_size
    count = min(settings.shard_size, len(videos) - first)
    failed = 0
    with atomic_path(store / shard_name(shard)) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["first"], f.attrs["count"] = first, count
            n_frames = np.zeros(count, dtype=np.int32)
            orig_frames = np.zeros(count, dtype=np.int32)
            stamps = np.zeros((count, 2), dtype=np.int64)
            errors = [""] * count
            group = f.create_group("frames")
            for k in range(count):
                path = str(videos.path(first + k))
                stamps[k] = video_stamp(path)  # before reading: a change during the read shows next run
                try:
                    data, orig_frames[k] = encode_video(path, settings)
                except VideoReadError as err:
                    errors[k] = err.reason
                    failed += 1
                    log.debug("decode: %s: %s", path, err.reason)
                    continue
                if settings.format == "raw":
                    group.create_dataset(str(k), data=data, chunks=(1, *data.shape[1:]))
                else:
                    ds = group.create_dataset(str(k), shape=(len(data),), dtype=h5py.vlen_dtype(np.uint8))
                    for i, jpeg in enumerate(data):
                        ds[i] = jpeg
                n_frames[k] = len(data)
            f.create_dataset("n_frames", data=n_frames)
            f.create_dataset("orig_frames", data=orig_frames)
            f.create_dataset("stamps", data=stamps)
            f.create_dataset("error", data=errors, dtype=h5py.string_dtype())
    return count - failed, failed
