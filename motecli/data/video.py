"""Reading a few frames of a video with decord, guarded against its known failure modes.

- `import torch` must precede `import decord` (the other order freezes DataLoader
  workers, decord #251), so this module imports both, in that order, lazily.
- A `VideoReader` is opened per call, inside whichever process does the reading,
  never before a fork.
- `len(vr)` can over-report frames and `get_batch` can fail on the tail of some
  files (decord #373, #269): a failed batch is retried with the frame count
  shrunk (indices re-drawn by the caller's sampling function), a few times.
- Every read runs under a wall-clock limit (SIGALRM, only possible in a main
  thread; DataLoader workers run `__getitem__` in their main thread). The alarm
  interrupts Python code between bytecodes, so a call stuck inside C for good is
  not interrupted; it is still the best an in-process reader can do.
- `vr.seek(0)` after `get_batch` releases decoder memory (decord #197).
- Frames come back at native size and callers resize only the frames they
  keep: decord's width/height resize every frame it decodes while seeking,
  which measured slower (see the data loader section of BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

log = logging.getLogger("mote")

# How often a failing batch is retried with a smaller frame count, and by how much.
SHRINK_RETRIES = 3
SHRINK_FACTOR = 0.75


class VideoReadError(Exception):
    """A video that cannot give the requested frames; `reason` is one line for reports."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise VideoReadError if the body runs longer than `seconds` (main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum, frame):
        raise VideoReadError(f"read timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _open(path: str):
    import torch  # noqa: F401  (must come before decord, decord #251)
    import decord

    if not os.path.exists(path):
        raise VideoReadError("file not found")
    if os.path.getsize(path) == 0:
        raise VideoReadError("empty file (0 bytes)")
    try:
        return decord.VideoReader(path, num_threads=1)
    except Exception as err:  # decord raises DECORDError or RuntimeError on bad input
        raise VideoReadError(f"not decodable: {' '.join(str(err).split())[:160]}") from None


def read_frames(
    path: str,
    pick: Callable[[int], np.ndarray],
    *,
    timeout_s: float | None = 30.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode the frames that `pick(n)` chooses for a video of n frames.

    `pick` maps a frame count to an int array of indices of any shape; the
    result is uint8 [*indices.shape, H, W, 3] at the native resolution, the
    indices actually read, and the frame count they were drawn from.
    Raises VideoReadError (never anything else) for any unusable video.
    """
    with time_limit(timeout_s):
        vr = _open(path)
        n = len(vr)
        if n < 1:
            raise VideoReadError("no frames")
        for attempt in range(SHRINK_RETRIES + 1):
            idx = np.asarray(pick(n), dtype=np.int64)
            flat = np.clip(idx.reshape(-1), 0, n - 1)
            try:
                frames = vr.get_batch(flat.tolist()).asnumpy()
                vr.seek(0)
                return frames.reshape(*idx.shape, *frames.shape[1:]), flat.reshape(idx.shape), n
            except VideoReadError:
                raise
            except Exception as err:
                last = " ".join(str(err).split())[:160]
                log.debug("get_batch failed on %s with n=%d (attempt %d): %s", path, n, attempt, last)
                if n == 1:
                    break
                n = max(1, int(n * SHRINK_FACTOR))
        raise VideoReadError(f"frames unreadable: {last}")

