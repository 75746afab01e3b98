"""The resumable, parallel decode loop.

Resuming is by construction: the manifest is written first (atomically) and each
shard is renamed into place only when complete, so a second run after a kill
finds the finished shards, deletes stale temporary files and decodes only the
missing shards. A second run with different settings or a different video list
is refused instead of mixing two stores. One writer per store at a time.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import atomic_path
from ..data.layouts import VideoList
from ..data.store import FAILURES, MANIFEST, STORE_VERSION, missing_shards, shard_name
from ..errors import MoteError
from .shard import StoreSettings, write_shard

log = logging.getLogger("mote")


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
    )


def _prepare(store: Path, videos: VideoList, settings: StoreSettings) -> dict:
    """Write the manifest, or check that an existing one describes the same store."""
    manifest = _manifest(videos, settings)
    file = store / MANIFEST
    if file.exists():
        old = json.loads(file.read_text())
        keys = ("version", "fingerprint", "short_side", "max_frames", "format", "jpeg_quality", "shard_size")
        diff = [k for k in keys if old.get(k) != manifest[k]]
        if diff:
            raise MoteError(
                f"{file}: existing store differs in {', '.join(diff)}; choose another --out or delete it"
            )
        return old
    store.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        tmp.write_text(json.dumps(manifest))
    return manifest


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_shard(args: tuple) -> tuple[int, int]:
    return write_shard(*args)


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
    settings: StoreSettings = StoreSettings(),
    workers: int = 1,
    progress: bool = True,
) -> DecodeSummary:
    """Decode `videos` into the frame store folder `store`, resuming a previous run."""
    from tqdm import tqdm

    if settings.format not in ("jpeg", "raw"):
        raise MoteError(f"--format {settings.format!r}: expected jpeg or raw")
    if settings.short_side < 1 or settings.max_frames < 1 or settings.shard_size < 1:
        raise MoteError("--short-side, --max-frames and the shard size must be positive")
    if len(videos) == 0:
        raise MoteError(f"{videos.source}: no videos to decode")
    store = Path(store)
    start = time.perf_counter()
    manifest = _prepare(store, videos, settings)
    for stale in store.glob(".shard-*.tmp-*"):
        stale.unlink(missing_ok=True)
    todo = missing_shards(store, manifest)
    shards = -(-len(videos) // settings.shard_size)
    sizes = {s: min(settings.shard_size, len(videos) - s * settings.shard_size) for s in range(shards)}
    done_before = len(videos) - sum(sizes[s] for s in todo)
    log.info("decode: %d videos, %d shards, %d to do, %d workers", len(videos), shards, len(todo), workers)
    tasks = [(store, s, videos, settings) for s in todo]
    with tqdm(total=len(videos), initial=done_before, unit="video", disable=not progress, dynamic_ncols=True) as bar:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                bar.update(sum(_run_shard(task)))
        else:
            with mp.get_context("fork").Pool(min(workers, len(tasks)), initializer=_worker_init) as pool:
                for counts in pool.imap_unordered(_run_shard, tasks):
                    bar.update(sum(counts))
    failed = _write_failures(store, videos, shards)
    size = sum(p.stat().st_size for p in store.glob("shard-*.h5"))
    return DecodeSummary(store, len(videos), len(videos) - done_before, failed, time.perf_counter() - start, size)
