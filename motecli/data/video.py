"""Reading a few frames of a video with decord, guarded against its known failure modes,
with PyAV where decord fails or is known to return wrong frames.

Backends (`$MOTE_VIDEO_BACKEND`, default `auto`): `auto` reads with decord, except
where decord is known wrong, and falls back to PyAV for a video decord cannot read;
`decord` and `pyav` use one backend only. Every read says which backend read it
(`VideoFrames.backend`) and why PyAV was used (`VideoFrames.fallback`):
- MPEG-4 part 2 in AVI with B-frames (the xvid/DivX files of UCF-101 and HMDB-51):
  decord returns frames from the wrong positions (decord #195); PyAV reads them.
- Rotation metadata of 90/270 degrees (phone videos): decord's batch read fails
  (its rotated frame has the wrong size); PyAV reads and rotates them upright.
- Any other decord failure (not decodable, unreadable batch): PyAV tries the video.
PyAV decodes in order from the start, so a PyAV read costs a decode of the video up
to its last chosen frame. A folder of frame images (`img_00001.jpg`, ...) is read
as a video whose frames are the images in name order (backend `frames`).

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
  VideoReadError instead of hanging again, unless it runs under a larger limit
  than the one the video hung under (the registry records it), or the video was
  released from the registry (`forget_hung`, `mote decode --retry-hung`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import MoteError
from ..env import hang_grace_s, hung_videos_file, video_backend

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
# One line per event: `path<TAB>reason<TAB>UTC time<TAB>limit`, the path resolved
# (symlinks followed, so every layout naming the same file matches) and escaped.
# `limit` is the watchdog limit in seconds the read hung under (lines of earlier
# versions have no 4th field: the limit is taken from the reason), or `retry` for
# a line that releases the video (`forget_hung`). Append-only, so concurrent
# writers (watchdogs about to end their process, `mote decode --retry-hung`)
# never lose a line; a video is skipped while its last line is not `retry`, and
# only by reads whose limit is not larger than the largest it hung under.

RETRY = "retry"


_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n"}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(0)), text)


def _registry_key(path: str) -> str:
    return os.path.realpath(path)


def _line_limit(fields: list[str]) -> float | None:
    """The limit of a registry line: seconds, None for a `retry` line, inf if unknown."""
    if len(fields) >= 4 and fields[3]:
        if fields[3] == RETRY:
            return None
        try:
            return float(fields[3])
        except ValueError:
            return float("inf")
    found = re.search(r"for more than ([0-9.]+) s", fields[1])  # a line written before limits were
    return float(found.group(1)) if found else float("inf")


# (registry file, (mtime_ns, size) when read, {resolved path: (reason, limit)}); a process
# reads the registry once and again only when it changes, so a check costs one stat per read.
_registry_cache: tuple[Path, tuple[int, int], dict[str, tuple[str, float]]] | None = None


def _hung_videos() -> tuple[Path, dict[str, tuple[str, float]]]:
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
                if len(fields) < 2 or not fields[0]:
                    continue
                path, limit = _unescape(fields[0]), _line_limit(fields)
                if limit is None:
                    entries.pop(path, None)
                else:  # hung again (under another limit): keep the largest limit it hung under
                    entries[path] = (_unescape(fields[1]), max(limit, entries.get(path, ("", limit))[1]))
        except OSError as err:
            log.warning("cannot read the hung-videos registry %s: %s", file, err)
        cached = _registry_cache = (file, stamp, entries)
    return file, cached[2]


def retries_hung(path: str, limit_s: float | None) -> bool:
    """Whether `path` is registered as hung under a smaller limit than `limit_s`, so that a
    read under `limit_s` tries it again."""
    _, entries = _hung_videos()
    entry = entries.get(_registry_key(path)) if entries else None
    return entry is not None and limit_s is not None and limit_s > entry[1]


def read_limit(timeout_s: float | None) -> float | None:
    """The limit a read with `timeout_s` would be recorded under if it hung: the watchdog's
    (timeout + `$MOTE_HANG_GRACE_S`), or the timeout alone when the watchdog is off."""
    return None if not timeout_s else timeout_s + (hang_grace_s() or 0.0)


def _check_not_hung(path: str, limit_s: float | None) -> None:
    """Skip a registered video, unless this read's watchdog limit `limit_s` is larger than
    the largest it hung under (a read without a limit never retries it)."""
    file, entries = _hung_videos()
    entry = entries.get(_registry_key(path)) if entries else None
    if entry is None:
        return
    reason, hung_under = entry
    if limit_s is not None and limit_s > hung_under:
        log.info("%s: hung under a %g s limit in an earlier run; trying again under %g s", path, hung_under, limit_s)
        return
    raise VideoReadError(f"{reason} in an earlier run; skipped (listed in {file}; a larger limit "
                         "or `mote decode --retry-hung` tries it again)")


def _append_line(fields: list[str]) -> Path:
    """Append one fsync'd line; one write call, so concurrent writers do not interleave."""
    file = hung_videos_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("\t".join(_escape(f) for f in fields) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return file


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _register_hung(path: str, reason: str, limit_s: float) -> Path:
    return _append_line([_registry_key(path), reason, _now(), f"{limit_s:.6g}"])


def forget_hung(paths: list[str]) -> list[str]:
    """Release the registered videos among `paths`, so the next read tries them again
    (a `retry` line each); returns the paths released."""
    _, entries = _hung_videos()
    released = [p for p in paths if _registry_key(p) in entries]
    for path in released:
        _append_line([_registry_key(path), "released for a retry", _now(), RETRY])
    return released


# --- the watchdog --------------------------------------------------------------------


def _hung(path: str, limit_s: float) -> None:
    """Called by the watchdog on overrun: record the video, say so, end the process."""
    reason = f"decoding hung for more than {limit_s:g} s"
    try:
        where = f"recorded in {_register_hung(path, reason, limit_s)}"
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


@dataclass
class VideoFrames:
    """What a read returns: frames uint8 [*indices.shape, H, W, 3] at native size, the
    indices read, the frame count they were drawn from, and who read them."""

    frames: np.ndarray
    indices: np.ndarray
    num_frames: int
    backend: str  # "decord", "pyav" or "frames"
    fallback: str | None = None  # why PyAV read a video `auto` would give to decord


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


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


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:160]


def _read_decord(path: str, pick: Callable[[int], np.ndarray]) -> VideoFrames:
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
            return VideoFrames(frames.reshape(*idx.shape, *frames.shape[1:]), flat.reshape(idx.shape), n, "decord")
        except VideoReadError:
            raise
        except Exception as err:
            last = _one_line(err)
            log.debug("get_batch failed on %s with n=%d (attempt %d): %s", path, n, attempt, last)
            if n == 1:
                break
            n = max(1, int(n * SHRINK_FACTOR))
    raise VideoReadError(f"frames unreadable: {last}")


def _upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, PyAV's `frame.rotation`)."""
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _pyav_count(path: str) -> int:
    """Frames of the first video stream: the container's count, else its packets."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.frames > 0:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def _pyav_decode(path: str, wanted: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """Decode in order up to the largest wanted index: {index: upright rgb frame}, and how
    many frames were decoded (all of them when the video is shorter than asked)."""
    import av

    out: dict[int, np.ndarray] = {}
    last = max(wanted)
    decoded = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # one thread, as decord's reader: DataLoader workers are the parallelism
        for i, frame in enumerate(container.decode(stream)):
            decoded = i + 1
            if i in wanted:
                out[i] = _upright(frame.to_ndarray(format="rgb24"), getattr(frame, "rotation", 0) or 0)
            if i >= last:
                break
    return out, decoded


def _read_pyav(path: str, pick: Callable[[int], np.ndarray]) -> VideoFrames:
    """Sequential decode: exact frames whatever the codec, rotation applied."""
    if not os.path.exists(path):
        raise VideoReadError("file not found")
    try:
        n = _pyav_count(path)
        if n < 1:
            raise VideoReadError("no frames")
        for _ in range(2):  # once more if the container over-reported the frame count
            idx = np.clip(np.asarray(pick(n), dtype=np.int64), 0, n - 1)
            got, decoded = _pyav_decode(path, set(idx.reshape(-1).tolist()))
            if len(got) == len(set(idx.reshape(-1).tolist())):
                frames = np.stack([got[i] for i in idx.reshape(-1).tolist()])
                return VideoFrames(frames.reshape(*idx.shape, *frames.shape[1:]), idx, n, "pyav")
            if decoded < 1:
                raise VideoReadError("no frames")
            n = decoded
    except VideoReadError:
        raise
    except Exception as err:  # av.FFmpegError and friends: one line, never a traceback
        raise VideoReadError(f"not decodable by PyAV: {_one_line(err)}") from None
    raise VideoReadError("frames unreadable by PyAV")


def _read_frame_folder(path: str, pick: Callable[[int], np.ndarray]) -> VideoFrames:
    """A folder of frame images, read in name order (the release's frame-folder lists)."""
    from PIL import Image

    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise VideoReadError("frame folder without images")
    idx = np.clip(np.asarray(pick(len(names)), dtype=np.int64), 0, len(names) - 1)
    try:
        frames = np.stack([np.asarray(Image.open(os.path.join(path, names[i])).convert("RGB"))
                           for i in idx.reshape(-1).tolist()])
    except (OSError, ValueError) as err:
        raise VideoReadError(f"frame image unreadable: {_one_line(err)}") from None
    return VideoFrames(frames.reshape(*idx.shape, *frames.shape[1:]), idx, len(names), "frames")


def decord_known_wrong(path: str) -> str | None:
    """Why decord must not read this video, or None: MPEG-4 part 2 with B-frames in AVI
    (decord #195, frames from wrong positions). A header probe, no decoding."""
    if not path.lower().endswith(".avi"):
        return None
    try:
        import av

        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.codec_context.has_b_frames:
                return f"{stream.codec_context.name} with B-frames in AVI (decord #195)"
    except Exception:  # not readable by PyAV either: let decord try and report
        return None
    return None


def _read_auto(path: str, pick: Callable[[int], np.ndarray]) -> VideoFrames:
    reason = decord_known_wrong(path)
    if reason is None:
        try:
            return _read_decord(path, pick)
        except VideoReadError as err:
            if err.reason in ("file not found", "empty file (0 bytes)"):
                raise
            reason = f"decord: {err.reason}"
    try:
        read = _read_pyav(path, pick)
    except VideoReadError as err:
        raise VideoReadError(f"{reason}; PyAV: {err.reason}") from None
    read.fallback = reason
    log.debug("%s read with PyAV (%s)", path, reason)
    return read


_READERS = {"auto": _read_auto, "decord": _read_decord, "pyav": _read_pyav}


def read_video(
    path: str,
    pick: Callable[[int], np.ndarray],
    *,
    timeout_s: float | None = 30.0,
    backend: str | None = None,
) -> VideoFrames:
    """Decode the frames that `pick(n)` chooses for a video of n frames.

    `pick` maps a frame count to an int array of indices of any shape. `backend`
    (default `$MOTE_VIDEO_BACKEND`, else auto) is described in the module notes.
    Raises VideoReadError (never anything else) for any unusable video, including
    one listed in the hung-videos registry under a limit at least this read's. A
    read running `$MOTE_HANG_GRACE_S` beyond `timeout_s` ends the process (see the
    module notes); `timeout_s=None` disables both limits.
    """
    backend = backend or video_backend()
    if backend not in _READERS:
        raise MoteError(f"video backend {backend!r}: expected one of {', '.join(_READERS)}")
    grace = hang_grace_s() if timeout_s else None
    _check_not_hung(path, read_limit(timeout_s))
    # The first import takes seconds (more on a cold disk); it must not count against a
    # limit whose overrun registers the video as hung.
    import_decord()
    with hang_guard(path, None if grace is None else timeout_s + grace), time_limit(timeout_s):
        if os.path.isdir(path):
            return _read_frame_folder(path, pick)
        return _READERS[backend](path, pick)


def read_frames(
    path: str,
    pick: Callable[[int], np.ndarray],
    *,
    timeout_s: float | None = 30.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """`read_video` as a tuple: (frames, indices read, frame count drawn from)."""
    read = read_video(path, pick, timeout_s=timeout_s)
    return read.frames, read.indices, read.num_frames
