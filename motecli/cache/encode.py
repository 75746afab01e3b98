"""`mote encode-frames`: fill a frame-embedding cache, resumably and across ranks.

Rows are per video (frames.py). Rank r of W (from `env.world_info`: torchrun's or
srun's variables) encodes the videos whose key hashes to r (`owner_rank`), so every
video has one writer whatever the other ranks have done. A run encodes only the
videos with no valid row, in list order, `shard_size` to a shard: killed at any
moment and re-run, it completes without recomputing finished shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cachecard import writing
from ..constants import CROP_SIZE, PIXEL_VERSION
from ..errors import MoteError
from ..hashing import checkpoint_id, json_sha256
from ..env import cache_root, default_workers, world_info
from ..progress import Progress
from .frames import KIND as FRAME_KIND, SCHEMA_VERSION, CachedSplit, FrameCache
from .source import VideoSource, eval_loader

log = logging.getLogger("mote")
DEFAULT_SHARD_SIZE = 64


@dataclass(frozen=True)
class EncoderIdentity:
    """Names the image-encoder numbers without loading them."""

    checkpoint: Path
    visual_sha256: str
    model: str
    dim: int
    patch: dict | None = None  # eval-time patch: alpha, original, original_weights_id

    def key(self) -> dict:
        return dict(visual_sha256=self.visual_sha256, model=self.model, patch=self.patch)


def encoder_identity(checkpoint: str | os.PathLike, *, patch_alpha: float | None = None,
                     original: str | None = None) -> EncoderIdentity:
    from ..checkpoints.merged import read_merged_metadata
    from ..model.clip import resolve_clip

    meta = read_merged_metadata(checkpoint)
    patch = None
    if patch_alpha is not None:
        if original is None:
            raise MoteError("--patch-alpha needs --original (the CLIP weights to mix in)")
        spec = resolve_clip(meta["clip"]["model"], original, quick_gelu=meta["model_config"]["quick_gelu"])
        patch = dict(alpha=patch_alpha, original=original, original_weights_id=spec.weights_id)
    return EncoderIdentity(Path(checkpoint), meta["visual_sha256"], meta["clip"]["model"],
                           int(meta["model_config"]["embed_dim"]), patch)


def frame_cache_fingerprint(source: VideoSource, encoder: EncoderIdentity, *, num_frames: int, clips: int,
                            crops: int) -> dict:
    """Everything that changes the numbers of a frame cache, composed here only. The
    video list is not part of it (rows are per video); the collection says which
    videos the relative paths name."""
    return dict(
        schema_version=SCHEMA_VERSION, encoder=encoder.key(), num_frames=num_frames, clips=clips, crops=crops,
        resolution=CROP_SIZE, frames=source.frames_fingerprint(), collection=source.collection_id(),
        dtype="float16", pixels=PIXEL_VERSION,
    )


def cache_manifest(source: VideoSource, encoder: EncoderIdentity, *, num_frames: int, clips: int, crops: int,
                   shard_size: int) -> dict:
    """Kind, fingerprint and key, and what `mote cache list` shows (layout, owner)."""
    fingerprint = frame_cache_fingerprint(source, encoder, num_frames=num_frames, clips=clips, crops=crops)
    return dict(
        kind=FRAME_KIND, schema_version=SCHEMA_VERSION, key=json_sha256(fingerprint), fingerprint=fingerprint,
        shard_size=shard_size, clips=clips, crops=crops, num_frames=num_frames, dim=encoder.dim,
        collection=source.collection_id(), dataset=source.dataset, checkpoint=str(encoder.checkpoint),
        checkpoint_id=checkpoint_id(encoder.checkpoint),  # memoised sha256: `mote cache clear --checkpoint ID`
    )


def default_cache_dir(source: VideoSource, manifest: dict) -> Path:
    # Under frames/embeddings/, apart from `mote decode`'s frame stores (frames/<name>-split<N>-<subset>).
    label = source.collection or Path(source.videos.root).resolve().name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "videos"
    return cache_root() / "frames" / "embeddings" / f"{safe}-{manifest['key'][:16]}"


def open_frame_cache(source: VideoSource, *, checkpoint: str | os.PathLike, num_frames: int, clips: int, crops: int,
                     out: str | os.PathLike | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                     patch_alpha: float | None = None, original: str | None = None) -> FrameCache:
    """The frame cache `source` is read from (created empty if new); cheap: no shard is read."""
    encoder = encoder_identity(checkpoint, patch_alpha=patch_alpha, original=original)
    manifest = cache_manifest(source, encoder, num_frames=num_frames, clips=clips, crops=crops, shard_size=shard_size)
    return FrameCache.prepare(Path(out) if out else default_cache_dir(source, manifest), manifest)


def owner_rank(key: str, world: int) -> int:
    """Which rank encodes a video: by its key, so ranks never race on a video whatever
    the others have finished, and the shards of one rank have one writer."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % world


@dataclass
class EncodeResult:
    cache: CachedSplit  # the list seen through its frame cache
    encoded_shards: int
    encoded_videos: int  # distinct videos this run encoded
    failed_videos: int  # among the videos this run encoded
    seconds: float
    complete: bool  # every video of the list has a row (other ranks may still be working)
    backends: Counter = field(default_factory=Counter)  # videos read this run, by backend ("pyav: <why>")
    device: str | None = None  # where this run encoded (None: nothing to encode)
    precision: str | None = None
    # Where the time went: waiting for decoded frames, in the image encoder (including
    # the copy back to the host), writing shards.
    timings: dict = field(default_factory=dict)


# Frames per image-encoder call when none are asked for: big enough to fill a GPU with
# ViT-B/16, small enough for ViT-L/14 in bf16; on CPU, the cost of a batch of 8 videos.
DEFAULT_BATCH_FRAMES = {"cuda": 512, "cpu": 128}


def default_batch_frames(device) -> int:
    return DEFAULT_BATCH_FRAMES.get(getattr(device, "type", str(device)), DEFAULT_BATCH_FRAMES["cpu"])


def videos_per_batch(*, batch_frames: int, views: int, num_frames: int) -> int:
    """DataLoader batch in videos for a budget in frames (at least one video)."""
    return max(1, batch_frames // (views * num_frames))


@dataclass(frozen=True)
class EncodeSetup:
    """How the image encoder runs over videos (encode-frames, eval from videos, predict)."""

    device: object  # torch.device
    precision: object  # model.runtime.Precision
    batch_frames: int  # frames per encoder call
    batch_size: int  # videos per DataLoader batch
    workers: int


def encode_setup(*, device: str, precision: str, batch_size: int | None, batch_frames: int | None,
                 workers: int | None, views: int, num_frames: int, local_rank: int = 0) -> EncodeSetup:
    """Resolve `auto`s and defaults: the device (this process's GPU under torchrun or
    srun), the autocast precision, the batch in frames and videos, the workers; TF32 on GPU."""
    from ..model.runtime import allow_tf32, resolve_device, resolve_precision

    dev = resolve_device(device, local_rank=local_rank)
    allow_tf32(dev)
    batch_frames = batch_frames or default_batch_frames(dev)
    return EncodeSetup(
        device=dev, precision=resolve_precision(precision, dev, option="--precision"), batch_frames=batch_frames,
        batch_size=batch_size or videos_per_batch(batch_frames=batch_frames, views=views, num_frames=num_frames),
        workers=default_workers() if workers is None else workers,
    )


def frame_features(visual, frames, *, precision=None, batch_frames: int | None = None):
    """CLIP features of every frame, rounded to the cache's float16:
    [B, V, T, 3, S, S] -> [B, V, T, D]. Evaluation from videos uses the same
    rounding, so it predicts exactly what evaluation from the cache does.

    `precision` (a model.runtime.Precision) sets the autocast; `batch_frames` bounds
    the frames of one encoder call. Frames go in channels_last where that is faster."""
    import torch

    from ..model.runtime import use_channels_last

    b, v, t = frames.shape[:3]
    flat = frames.flatten(0, 2)  # [B*V*T, 3, S, S]
    if use_channels_last(flat.device):
        flat = flat.contiguous(memory_format=torch.channels_last)
    chunks = flat.split(batch_frames) if batch_frames else (flat,)
    autocast = precision.autocast() if precision is not None else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        x = torch.cat([visual(chunk) for chunk in chunks])  # [B*V*T, D]
    return x.view(b, v, t, -1).to(torch.float16)


def encode_frames(
    source: VideoSource,
    *,
    checkpoint: str | os.PathLike,
    num_frames: int,
    clips: int,
    crops: int,
    out: str | os.PathLike | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int | None = None,
    batch_frames: int | None = None,
    workers: int | None = 0,
    device: str = "auto",
    precision: str = "auto",
    patch_alpha: float | None = None,
    original: str | None = None,
    rank: int | None = None,
    world: int | None = None,
    progress: bool = True,
    cache: FrameCache | None = None,
) -> EncodeResult:
    """Encode the videos of `source` that have no row yet and that this rank owns; a
    video listed twice, or already encoded for another list, is not encoded again.

    batch_size (videos per batch) wins over batch_frames (default per device);
    workers None = `env.default_workers()`; device and precision as model.runtime."""
    started = time.perf_counter()
    info = world_info()
    rank, world = info.rank if rank is None else rank, info.world_size if world is None else world
    if cache is None:
        cache = open_frame_cache(source, checkpoint=checkpoint, num_frames=num_frames, clips=clips, crops=crops,
                                 out=out, shard_size=shard_size, patch_alpha=patch_alpha, original=original)
    keys = source.video_keys()
    where = cache.scan().where
    first: dict[str, int] = {}  # distinct missing videos of this rank, at their first list position
    for pos, key in enumerate(keys):
        if key not in where and key not in first and owner_rank(key, world) == rank:
            first[key] = pos
    todo = list(first.values())
    size = int(cache.manifest.get("shard_size", shard_size))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    counts, done_on, timings, backends = (0, 0), None, {}, Counter()
    if chunks:
        run = encode_setup(device=device, precision=precision, batch_size=batch_size, batch_frames=batch_frames,
                           workers=workers, views=clips * crops, num_frames=num_frames, local_rank=info.local_rank)
        log.info("%s: encoding %d videos of %s in %d shards (rank %d of %d) on %s, %s, %d videos per batch, "
                 "%d workers", cache.path, len(todo), source.name, len(chunks), rank, world, run.device,
                 run.precision.name, run.batch_size, run.workers)
        visual = load_visual(encoder_identity(checkpoint, patch_alpha=patch_alpha, original=original), device=run.device)
        with writing(cache.path):  # `mote cache clear` leaves it alone meanwhile
            counts, timings = _encode_chunks(cache, chunks, keys, source, visual, run, num_frames=num_frames,
                                             clips=clips, crops=crops, progress=progress, backends=backends)
        done_on = (str(run.device), run.precision.name)
    log_backends(backends, where=str(cache.path))
    split = CachedSplit(cache, keys=keys, items=list(source.videos.items))
    complete = not split.missing()
    if complete:
        cache.remove_stale_temporaries()
    return EncodeResult(split, len(chunks), counts[0], counts[1], time.perf_counter() - started, complete,
                        backends, *(done_on or (None, None)), timings=timings)


def count_backends(backends: Counter, batch: dict) -> None:
    """Add a batch's readers to `backends`: "decord", "pyav: <why decord was not used>", ..."""
    for _, backend, fallback in batch.get("backends", ()):
        backends[f"{backend}: {fallback}" if fallback else backend] += 1


def log_backends(backends: Counter, *, where: str) -> None:
    fell_back = {k: v for k, v in backends.items() if k.startswith("pyav: ")}
    if fell_back:
        log.info("%s: %d videos read with PyAV instead of decord (%s)", where, sum(fell_back.values()),
                 "; ".join(f"{v} x {k[len('pyav: '):]}" for k, v in sorted(fell_back.items())))


def load_visual(encoder: EncoderIdentity, *, device):
    """The merged image encoder, patched if asked, on `device` (channels_last on GPU)."""
    import torch

    from ..checkpoints.merged import load_merged
    from ..model.runtime import use_channels_last

    model, meta = load_merged(encoder.checkpoint)
    if encoder.patch is not None:
        from ..model.patch import original_visual_state, patch_visual_state

        original, _ = original_visual_state(model=encoder.model, original=encoder.patch["original"],
                                            quick_gelu=meta["model_config"]["quick_gelu"])
        model.visual.load_state_dict(patch_visual_state(model.visual.state_dict(), original, alpha=encoder.patch["alpha"]))
    device = torch.device(device)
    visual = model.visual.to(device).eval()
    if use_channels_last(device):
        visual = visual.to(memory_format=torch.channels_last)
    return visual


class _ChunkBuffer:
    """The rows of one shard-to-be (list positions) as they arrive; complete when every row is in."""

    def __init__(self, positions: list[int], *, views: int, num_frames: int, dim: int) -> None:
        self.positions = positions
        self.row = {pos: i for i, pos in enumerate(positions)}
        self.features = np.zeros((len(positions), views, num_frames, dim), dtype=np.float16)  # [n, V, T, D]
        self.ok = np.zeros(len(positions), dtype=np.uint8)
        self.errors = [""] * len(positions)
        self.remaining = len(positions)

    def put(self, position: int, features: np.ndarray | None, error: str = "") -> None:
        at = self.row[position]
        if features is None:
            self.errors[at] = error or "unreadable"
        else:
            self.features[at], self.ok[at] = features, 1
        self.remaining -= 1


def _encode_chunks(cache: FrameCache, chunks: list[list[int]], keys: list[str], source: VideoSource, visual,
                   run: EncodeSetup, *, num_frames: int, clips: int, crops: int, progress: bool,
                   backends: Counter) -> tuple[tuple[int, int], dict]:
    """One loader over every video of `chunks` in order (its workers decode across shard
    boundaries while the model runs); each chunk is written as one shard as soon as its
    last row is in. Counts the readers in `backends`. Returns ((videos encoded, failed), timings)."""
    chunk_of = {pos: c for c, positions in enumerate(chunks) for pos in positions}
    indices = [pos for positions in chunks for pos in positions]
    buffers: dict[int, _ChunkBuffer] = {}
    encoded = failed = 0
    wait = compute = write = 0.0
    loader = eval_loader(source, indices, num_frames=num_frames, clips=clips, crops=crops, batch_size=run.batch_size,
                         workers=run.workers, device=run.device)
    batches = iter(loader)
    with Progress("encode-frames", total=len(indices), unit="videos", enabled=progress) as bar:
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            t1 = time.perf_counter()
            wait += t1 - t0
            if batch is None:
                break
            count_backends(backends, batch)
            rows: list[tuple[int, np.ndarray | None, str]] = []
            for index, path, reason in batch["failures"]:
                log.warning("video %d (%s) excluded: %s", index, path, reason)
                rows.append((index, None, reason))
            if batch["frames"] is not None:
                frames = batch["frames"].to(run.device, non_blocking=True)
                feats = frame_features(visual, frames, precision=run.precision,
                                       batch_frames=run.batch_frames).cpu().numpy()
                rows += [(int(i), f, "") for i, f in zip(batch["indices"].tolist(), feats)]
            t2 = time.perf_counter()
            compute += t2 - t1
            for index, feats, reason in rows:
                c = chunk_of[index]
                buffer = buffers.get(c)
                if buffer is None:
                    buffer = buffers[c] = _ChunkBuffer(chunks[c], views=clips * crops, num_frames=num_frames,
                                                       dim=cache.view_shape[2])
                buffer.put(index, feats, reason)
                if buffer.remaining == 0:
                    cache.write_videos([keys[p] for p in buffer.positions], buffer.features, buffer.ok, buffer.errors,
                                       attrs=dict(device=str(run.device), precision=run.precision.name))
                    encoded += len(buffer.positions)
                    failed += int((buffer.ok == 0).sum())
                    del buffers[c]
            write += time.perf_counter() - t2
            bar.advance(len(rows))
    return (encoded, failed), dict(wait_for_frames_s=wait, encoder_s=compute, write_s=write)
