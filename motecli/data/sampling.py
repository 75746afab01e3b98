"""Frame indices of the method (MOTE_METHOD.md sections 3 and 4), as pure functions of n.

Both formulas naturally repeat indices when a video has fewer than T frames, so
a short video is padded rather than rejected; only n == 0 is an error.
"""

from __future__ import annotations

import numpy as np

from ..errors import MoteError


def _check(n: int, num_frames: int) -> None:
    if n < 1:
        raise MoteError(f"cannot sample frames from a video with n={n} frames (expected n >= 1)")
    if num_frames < 1:
        raise MoteError(f"num_frames={num_frames}: expected at least 1")


def train_indices(n: int, *, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Segment-random sampling: T segments of length `seg = (n - 1) / T`, one
    uniformly random frame in `[round(seg * t), round(seg * (t + 1))]` (both ends
    included) for each segment t. Returns int64 [T]."""
    _check(n, num_frames)
    seg = (n - 1) / num_frames
    t = np.arange(num_frames)
    lo = np.round(seg * t).astype(np.int64)
    hi = np.round(seg * (t + 1)).astype(np.int64)
    return rng.integers(lo, hi + 1)


def eval_indices(n: int, *, num_frames: int, num_clips: int) -> np.ndarray:
    """Multi-clip uniform sampling: `tick = n / T`; clip starts are
    `linspace(0, tick - 1, num_clips)` truncated to int; frame t of a clip is
    `int(start + tick * t) mod n`. The clips are small shifts inside the first
    segment, as in the authors' release. Returns int64 [num_clips, T]."""
    _check(n, num_frames)
    if num_clips < 1:
        raise MoteError(f"num_clips={num_clips}: expected at least 1")
    tick = n / num_frames
    starts = np.linspace(0, tick - 1, num_clips).astype(np.int64)  # truncation toward zero
    t = np.arange(num_frames)
    return ((starts[:, None] + tick * t[None, :]).astype(np.int64)) % n


def store_indices(n: int, *, max_frames: int) -> np.ndarray:
    """Which frames `mote decode` keeps: all of them when n <= max_frames,
    otherwise `max_frames` frames spread uniformly (rounded linspace over
    [0, n - 1]), so segment-random sampling on the stored frames still varies."""
    if n < 1:
        raise MoteError(f"cannot store frames of a video with n={n} frames (expected n >= 1)")
    if n <= max_frames:
        return np.arange(n, dtype=np.int64)
    return np.round(np.linspace(0, n - 1, max_frames)).astype(np.int64)
