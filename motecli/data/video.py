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
  not interrupted (decord #373, #269 report `get_batch` hanging for good).
- Hence a hard guard on top: a watchdog thread (one per process) knows the video
  being read and its deadline, the read's limit plus `MOTE_HANG_GRACE_S`. decord
  calls C through ctypes, which releases the GIL, so the thread still runs while
  the main thread is stuck. A stuck C call cannot be cancelled, so on overrun the
  watchdog appends the video to the hung-videos registry and ends the process
  with `HUNG_EXIT_CODE`; callers that supervise processes (`mote decode`) re-run
  the work, and every later read of a registered video fails fast with a
  VideoReadError instead of hanging again.
- `vr.seek(0)` after `get_batch` releases decoder memory (decord #197).
- Frames come back at native size and callers resize only the frames they
  keep: decord's width/height resize every frame it decodes while seeking,
  which measured slower (see the data loader section of BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import MoteError
from ..env import hang_grace_s, hung_videos_file

log = logging.getLogger("mote")

# How often a failing batch is retried with a smaller frame count, and by how much.
SHRINK_RETRIES = 3
SHRINK_FACTOR = 0.75

# Exit status of a process the watchdog ended because a read hung; distinct so a
# supervisor can tell it from a crash.
HUNG_EXIT_CODE = 86


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


# --- the hung-videos registry -------------------------------------------------------
# One line per video that hung: `path<TAB>reason<TAB>UTC time`, the path resolved
# (symlinks followed, so every layout naming the same file matches) and escaped.
# Append-only: written only by a watchdog that is about to end its process.


_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n"}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(0)), text)


def _registry_key(path: str) -> str:
    return os.path.realpath(path)


# (registry file, (mtime_ns, size) when read, {resolved path: reason}); a process reads
# the registry once and again only when it changes, so the check costs one stat per read.
_registry_cache: tuple[Path, tuple[int, int], dict[str, str]] | None = None


def _hung_videos() -> tuple[Path, dict[str, str]]:
    global _registry_cache
    file = hung_videos_file()
    try:
        st = os.stat(file)
    except OSError:  # no registry yet (or an unusable location): nothing has hung
        return file, {}
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _registry_cache
    if cached is None or cached[0] != file or cached[1] != stamp:
        entries = {}
        try:
            for line in file.read_text(encoding="utf-8", errors="replace").split("\n"):
                fields = line.split("\t")
                if len(fields) >= 2 and fields[0]:
                    entries[_unescape(fields[0])] = _unescape(fields[1])
        except OSError as err:
            log.warning("cannot read the hung-videos registry %s: %s", file, err)
        cached = _registry_cache = (file, stamp, entries)
    return file, cached[2]


def _check_not_hung(path: str) -> None:
    file, entries = _hung_videos()
    reason = entries.get(_registry_key(path)) if entries else None
    if reason is not None:
        raise VideoReadError(f"{reason} in an earlier run; skipped (listed in {file})")


def _register_hung(path: str, reason: str) -> Path:
    """Append one fsync'd line; one write call, so concurrent writers do not interleave."""
    file = hung_videos_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{_escape(_registry_key(path))}\t{_escape(reason)}\t{when}\n".encode()
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return file


# --- the watchdog --------------------------------------------------------------------


def _hung(path: str, limit_s: float) -> None:
    """Called by the watchdog on overrun: record the video, say so, end the process."""
    reason = f"decoding hung for more than {limit_s:g} s"
    try:
        where = f"recorded in {_register_hung(path, reason)}"
    except OSError as err:
        where = f"NOT recorded in the hung-videos registry ({err})"
    message = f"{path}: {reason}; {where}; ending process {os.getpid()} (exit code {HUNG_EXIT_CODE})"
    # Straight to fd 2 first: it needs no lock, and whichever log handler is set up may
    # write elsewhere or buffer; os._exit below flushes nothing.
    try:
        os.write(sys.stderr.fileno() if sys.stderr else 2, f"mote: watchdog: {message}\n".encode())
    except (OSError, ValueError):
        pass
    log.error("watchdog: %s", message)
    os._exit(HUNG_EXIT_CODE)


class _Watchdog:
    """A daemon thread ending the process when a guarded read overruns its deadline.

    Reads are keyed by thread, so reads in several threads are each guarded.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.active: dict[int, tuple[float, str, float]] = {}  # thread -> (deadline, path, limit)
        self.thread = threading.Thread(target=self._run, name="mote-video-watchdog", daemon=True)
        self.thread.start()

    def arm(self, path: str, limit_s: float) -> None:
        with self.cond:
            self.active[threading.get_ident()] = (time.monotonic() + limit_s, path, limit_s)
            self.cond.notify()

    def disarm(self) -> None:
        with self.cond:
            self.active.pop(threading.get_ident(), None)

    def _run(self) -> None:
        # SIGALRM belongs to the reading thread: if the kernel delivered it here, it
        # could not interrupt a blocking call over there.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        with self.cond:
            while True:
                if not self.active:
                    self.cond.wait()
                    continue
                deadline, path, limit = min(self.active.values())
                left = deadline - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                _hung(path, limit)


_watchdog: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A child has none of its parent's threads, and a lock held by one of them at the
    # fork would stay locked for good; start afresh.
    global _watchdog, _watchdog_lock
    _watchdog, _watchdog_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _get_watchdog() -> _Watchdog:
    """This process's watchdog, started on first use and again after a fork (pid check)."""
    global _watchdog
    dog = _watchdog
    if dog is None or dog.pid != os.getpid():
        with _watchdog_lock:
            if _watchdog is None or _watchdog.pid != os.getpid():
                _watchdog = _Watchdog()
            dog = _watchdog
    return dog


@contextmanager
def hang_guard(path: str, limit_s: float | None) -> Iterator[None]:
    """End the process (HUNG_EXIT_CODE) if the body runs longer than `limit_s`, after
    recording `path` in the hung-videos registry. For calls that may be stuck in C."""
    if not limit_s:
        yield
        return
    dog = _get_watchdog()
    dog.arm(path, limit_s)
    try:
        yield
    finally:
        dog.disarm()


def import_decord():
    import torch  # noqa: F401  (must come before decord, decord #251)
    import decord

    return decord


def _open(path: str):
    decord = import_decord()
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
    Raises VideoReadError (never anything else) for any unusable video, including
    one listed in the hung-videos registry. A read running `$MOTE_HANG_GRACE_S`
    beyond `timeout_s` ends the process (see the module notes); `timeout_s=None`
    disables both limits.
    """
    _check_not_hung(path)
    # The first import takes seconds (more on a cold disk); it must not count against a
    # limit whose overrun registers the video as hung.
    import_decord()
    grace = hang_grace_s() if timeout_s else None
    with hang_guard(path, None if grace is None else timeout_s + grace), time_limit(timeout_s):
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

