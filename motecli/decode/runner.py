"""The resumable, parallel decode loop.

Resuming is by construction: the manifest is written first (atomically) and each
shard is renamed into place only when complete, so a second run after a kill
finds the finished shards, deletes the temporary files of writers that are gone
and decodes only the missing shards. It also checks the shards it finds and
decodes again one that is damaged, one holding a video that changed on disk
since (size or mtime), and one holding a video that hung under a smaller limit
than this run's. A second run with different settings or a different video list
is refused instead of mixing two stores. One writer per store at a time.

Each shard is decoded in its own forked process (also with one worker), under a
supervisor: a read stuck in C ends its process (motecli.data.video's watchdog,
which first records the video in the hung-videos registry), and the supervisor
then re-runs that shard, whose re-run reports the registered video as a failure.
A shard whose worker dies MAX_WORKER_DEATHS times is an error naming the shard.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import pickle
import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, remove_stale_temporaries
from ..cachecard import write_card, writing
from ..constants import PIXEL_VERSION
from ..data.layouts import VideoList
from ..data.store import (FAILURES, MANIFEST, STORE_VERSION, changed_since, missing_shards, read_manifest,
                          read_stamps, shard_count, shard_name, shard_problem, shard_rows)
from ..data.video import HUNG_EXIT_CODE, forget_hung, read_limit, retries_hung
from ..env import hung_videos_file
from ..errors import MoteError
from ..lifeline import exit_with_parent
from ..progress import Progress
from .shard import StoreSettings, write_shard

log = logging.getLogger("mote")

# A shard whose worker process dies this often is given up on: with the hung video
# registered after the first death, a second death already means something else.
MAX_WORKER_DEATHS = 3
STORE_KIND = "frame-store"


@dataclass
class DecodeSummary:
    store: Path
    videos: int
    decoded_now: int  # videos decoded by this run (the rest were already in the store)
    failed: int  # over the whole store
    seconds: float
    bytes: int

    def line(self) -> str:
        tail = f"; {self.failed} failed (see {self.store / FAILURES})" if self.failed else "; 0 failed"
        return (
            f"{self.videos} videos in {self.store} ({self.bytes / 2**20:.1f} MiB); "
            f"decoded {self.decoded_now} in {self.seconds:.1f} s{tail}"
        )


def _manifest(videos: VideoList, settings: StoreSettings) -> dict:
    return dict(
        version=STORE_VERSION, fingerprint=videos.fingerprint(), source=videos.source, root=str(videos.root.resolve()),
        class_names=videos.class_names, items=[list(it) for it in videos.items], **asdict(settings),
        pixels=PIXEL_VERSION,
    )


def _prepare(store: Path, videos: VideoList, settings: StoreSettings) -> dict:
    """Write the manifest, or check that an existing one describes the same store."""
    manifest = _manifest(videos, settings)
    file = store / MANIFEST
    if file.exists():
        old = read_manifest(store, any_pixels=True)  # a damaged manifest is a one-line error naming it
        keys = ("version", "fingerprint", "short_side", "max_frames", "format", "jpeg_quality", "shard_size")
        diff = [k for k in keys if old.get(k) != manifest[k]]
        if diff:
            raise MoteError(
                f"{file}: existing store differs in {', '.join(diff)}; choose another --out or delete it"
            )
        if old.get("pixels") == manifest["pixels"]:
            return old
        # Same videos and settings, older pixel pipeline: its frames would lie; decode again.
        log.warning("%s: store written by pixel pipeline %s, this mote's is %s; decoding it again",
                    store, old.get("pixels", 1), manifest["pixels"])
        for stale in [*store.glob("shard-*.h5"), store / FAILURES]:
            stale.unlink(missing_ok=True)
    store.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        tmp.write_text(json.dumps(manifest))
    return manifest


def _retriable(file: Path, videos: VideoList, rows: range, limit_s: float | None) -> list[int]:
    """Failed videos of a shard that hung under a smaller limit than this run's."""
    import h5py

    with h5py.File(file, "r") as f:
        failed = np.flatnonzero(f["n_frames"][:] == 0).tolist()
    return [rows.start + k for k in failed if retries_hung(str(videos.path(rows.start + k)), limit_s)]


def _shards_to_redo(store: Path, manifest: dict, videos: VideoList, limit_s: float | None) -> list[int]:
    """Shards that exist but cannot be trusted: damaged (they do not open or do not hold
    their recorded counts), holding a video that changed on disk since it was decoded, or
    a video that hung under a smaller limit than `limit_s` (this run's)."""
    redo = []
    for shard in range(shard_count(manifest)):
        file, rows = store / shard_name(shard), shard_rows(manifest, shard)
        if not file.exists():
            continue
        why = shard_problem(file, rows, frames=True)
        if why is None:
            stamps = read_stamps(file, len(rows))
            changed = changed_since(stamps, videos, rows)
            retry = _retriable(file, videos, rows, limit_s)
            if stamps is None:
                why = "written by an earlier mote that recorded no video sizes and times"
            elif changed:
                why = f"{len(changed)} of its videos changed on disk since (first: {videos.path(changed[0])})"
            elif retry:
                why = f"{videos.path(retry[0])} hung under a smaller limit than this run's {limit_s:g} s"
        if why:
            log.warning("decode: %s: %s; decoding it again", file, why)
            redo.append(shard)
    return redo


def _retry_hung(store: Path, manifest: dict, videos: VideoList) -> None:
    """Release this list's registered videos and remove the shards that recorded them as
    failed, so that they are decoded again."""
    try:
        released = set(forget_hung([str(videos.path(i)) for i in range(len(videos))]))
    except OSError as err:
        raise MoteError(f"--retry-hung: cannot write the hung-videos registry {hung_videos_file()} ({err})") from None
    log.info("decode: %d videos released from the hung-videos registry %s", len(released), hung_videos_file())
    for shard in range(shard_count(manifest)):
        file = store / shard_name(shard)
        if file.exists() and any(str(videos.path(i)) in released for i in shard_rows(manifest, shard)):
            file.unlink()


def _preload() -> None:
    """Import the decoding stack once here, so the forked shard processes (one per
    shard) inherit it instead of paying seconds of imports each."""
    import h5py  # noqa: F401
    import torchvision.io  # noqa: F401

    from ..data.video import import_decord

    import_decord()


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _picklable(err: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _shard_child(conn: Connection, task: tuple, parent: int) -> None:
    """Body of a shard process: send ("ok", counts) or ("error", exception), then exit."""
    exit_with_parent(parent)  # a killed `mote decode` leaves no worker decoding on
    _worker_init()
    try:
        message = ("ok", write_shard(*task))
    except Exception as err:  # re-raised by the supervisor, as Pool.imap did
        log.debug("decode: shard %d failed", task[1], exc_info=True)
        message = ("error", _picklable(err))
    conn.send(message)
    conn.close()


@dataclass
class _Running:
    task: tuple  # (store, shard, videos, settings)
    process: mp.process.BaseProcess
    conn: Connection


def _start(ctx, task: tuple) -> _Running:
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_shard_child, args=(child, task, os.getpid()), name=f"mote-decode-shard-{task[1]}",
                          daemon=True)
    process.start()
    child.close()  # the child holds the write end now; its exit then reads as EOF here
    return _Running(task, process, parent)


def _collect(run: _Running):
    """The child's message after it ended, or None when it died without one."""
    run.process.join()
    try:
        message = run.conn.recv() if run.conn.poll() else None
    except (EOFError, OSError):
        message = None
    run.conn.close()
    return message if run.process.exitcode == 0 else None


def _how_it_died(exitcode: int | None) -> str:
    if exitcode == HUNG_EXIT_CODE:
        return f"a video hung and the watchdog ended it (exit code {exitcode}; see {hung_videos_file()})"
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _on_death(run: _Running, deaths: Counter) -> None:
    """Count the death of a shard's worker; remove its partial file; give up after too many."""
    store, shard = run.task[0], run.task[1]
    pid, how = run.process.pid, _how_it_died(run.process.exitcode)
    # The dead worker's partial shard: atomic_path names it after the writer's pid.
    (store / f".{shard_name(shard)}.tmp-{pid}").unlink(missing_ok=True)
    deaths[shard] += 1
    if deaths[shard] >= MAX_WORKER_DEATHS:
        raise MoteError(
            f"{store / shard_name(shard)}: its decoding worker died {deaths[shard]} times (last: {how}); "
            f"expected a hung video to be skipped once registered, see the log above"
        )
    log.warning("decode: worker of shard %d died (%s); re-running the shard (attempt %d of %d)",
                shard, how, deaths[shard] + 1, MAX_WORKER_DEATHS)


def _supervise(tasks: list[tuple], workers: int, done: Callable[[tuple[int, int]], None]) -> None:
    """Run each task's shard in its own forked process, at most `workers` at a time,
    re-running a shard whose process died; `done(counts)` per finished shard."""
    _preload()
    ctx = mp.get_context("fork")
    queue, running, deaths = deque(tasks), {}, Counter()
    try:
        while queue or running:
            while queue and len(running) < workers:
                run = _start(ctx, queue.popleft())
                running[run.process.sentinel] = run
            for sentinel in wait(list(running)):
                run = running.pop(sentinel)
                message = _collect(run)
                if message is None:
                    _on_death(run, deaths)
                    queue.append(run.task)
                elif message[0] == "error":
                    raise message[1]
                else:
                    done(message[1])
    finally:
        for run in running.values():  # an error or Ctrl-C: stop the other workers
            run.process.terminate()
        for run in running.values():
            run.process.join()
            run.conn.close()


def _write_failures(store: Path, videos: VideoList, shards: int) -> int:
    import h5py

    rows = []
    for shard in range(shards):
        with h5py.File(store / shard_name(shard), "r") as f:
            first = int(f.attrs["first"])
            for k, err in enumerate(f["error"][:]):
                reason = err.decode() if isinstance(err, bytes) else str(err)
                if reason:
                    rows.append(f"{first + k}\t{videos.items[first + k][0]}\t{reason}\n")
    with atomic_path(store / FAILURES) as tmp:
        tmp.write_text("index\tpath\treason\n" + "".join(rows))
    return len(rows)


def decode_to_store(
    videos: VideoList,
    store: str | Path,
    *,
    settings: StoreSettings | None = None,
    workers: int = 1,
    progress: bool = True,
    retry_hung: bool = False,
) -> DecodeSummary:
    """Decode `videos` into the frame store folder `store`, resuming a previous run.
    `retry_hung`: release the videos of the list from the hung-videos registry first."""
    settings = settings or StoreSettings()
    if settings.format not in ("jpeg", "raw"):
        raise MoteError(f"--format {settings.format!r}: expected jpeg or raw")
    if settings.short_side < 1 or settings.max_frames < 1 or settings.shard_size < 1:
        raise MoteError("--short-side, --max-frames and the shard size must be positive")
    if len(videos) == 0:
        raise MoteError(f"{videos.source}: no videos to decode")
    store = Path(store)
    start = time.perf_counter()
    manifest = _prepare(store, videos, settings)
    remove_stale_temporaries(store)  # of killed runs; a live writer's are kept
    if retry_hung:
        _retry_hung(store, manifest, videos)
    redo = _shards_to_redo(store, manifest, videos, read_limit(settings.timeout_s))
    todo = sorted(missing_shards(store, manifest) + redo)
    shards = -(-len(videos) // settings.shard_size)
    sizes = {s: min(settings.shard_size, len(videos) - s * settings.shard_size) for s in range(shards)}
    done_before = len(videos) - sum(sizes[s] for s in todo)
    log.info("decode: %d videos, %d shards, %d to do, %d workers", len(videos), shards, len(todo), workers)
    tasks = [(store, s, videos, settings) for s in todo]
    write_card(store, kind=STORE_KIND, source=videos.source, videos=len(videos), shard_size=settings.shard_size,
               settings=dict(short_side=settings.short_side, max_frames=settings.max_frames, format=settings.format))
    with writing(store), Progress("decode", total=len(videos), initial=done_before, unit="videos",
                                  enabled=progress) as bar:
        _supervise(tasks, max(1, workers), lambda counts: bar.advance(sum(counts)))
    failed = _write_failures(store, videos, shards)
    size = sum(p.stat().st_size for p in store.glob("shard-*.h5"))
    return DecodeSummary(store, len(videos), len(videos) - done_before, failed, time.perf_counter() - start, size)
