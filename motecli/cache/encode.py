"""`mote encode-frames`: fill a frame-embedding cache, resumably and across ranks.

Rank r of W (from `env.world_info`: torchrun's or srun's variables) encodes the shards
s with s % W == r, so every shard file has one writer. A run finds the shards
that are missing or invalid and encodes only those: killed at any moment and
re-run, it completes without recomputing finished shards.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..constants import CROP_SIZE, PIXEL_VERSION
from ..errors import MoteError
from ..hashing import json_sha256
from ..env import cache_root, world_info
from .frames import SCHEMA_VERSION, FrameCache, ShardRows
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


def cache_manifest(source: VideoSource, encoder: EncoderIdentity, *, num_frames: int, clips: int, crops: int,
                   shard_size: int) -> dict:
    """Settings + fingerprint of everything that changes the numbers + the video list."""
    fingerprint = dict(
        schema_version=SCHEMA_VERSION, encoder=encoder.key(), num_frames=num_frames, clips=clips, crops=crops,
        resolution=CROP_SIZE, frames=source.frames_fingerprint(), videos=source.videos.fingerprint(),
        dtype="float16",
        pixels=PIXEL_VERSION,
    )
    return dict(
        schema_version=SCHEMA_VERSION, key=json_sha256(fingerprint), fingerprint=fingerprint, count=len(source.videos),
        shard_size=shard_size, clips=clips, crops=crops, num_frames=num_frames, dim=encoder.dim,
        items=[[rel, label] for rel, label in source.videos.items], class_names=list(source.videos.class_names),
        source=source.videos.source,
    )


def default_cache_dir(source: VideoSource, manifest: dict) -> Path:
    # Under frames/embeddings/, apart from `mote decode`'s frame stores (frames/<name>-split<N>-<subset>).
    return cache_root() / "frames" / "embeddings" / f"{source.name}-{manifest['key'][:16]}"


def rank_device(device: str, local_rank: int) -> str:
    """Under torchrun or srun, plain `cuda` means this process's GPU (its local rank)."""
    return f"cuda:{local_rank}" if device == "cuda" else device


@dataclass
class EncodeResult:
    cache: FrameCache
    encoded_shards: int
    encoded_videos: int
    failed_videos: int  # among the videos this run encoded
    seconds: float
    complete: bool
    backends: Counter = field(default_factory=Counter)  # videos read this run, by backend ("pyav: <why>")


def frame_features(visual, frames):
    """CLIP features of every frame, rounded to the cache's float16:
    [B, V, T, 3, S, S] -> [B, V, T, D]. Evaluation from videos uses the same
    rounding, so it predicts exactly what evaluation from the cache does."""
    import torch

    b, v, t = frames.shape[:3]
    with torch.no_grad():
        x = visual(frames.flatten(0, 2))  # [B*V*T, D]
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
    batch_size: int = 8,
    workers: int = 0,
    device: str = "cpu",
    patch_alpha: float | None = None,
    original: str | None = None,
    rank: int | None = None,
    world: int | None = None,
) -> EncodeResult:
    """Encode the missing shards of this rank; returns the cache and what was done."""
    started = time.perf_counter()
    info = world_info()
    rank, world = info.rank if rank is None else rank, info.world_size if world is None else world
    encoder = encoder_identity(checkpoint, patch_alpha=patch_alpha, original=original)
    manifest = cache_manifest(source, encoder, num_frames=num_frames, clips=clips, crops=crops, shard_size=shard_size)
    cache = FrameCache.prepare(Path(out) if out else default_cache_dir(source, manifest), manifest)
    cache.expect_videos(source.video_stamps())  # a video changed on disk: its shard is encoded again
    todo = cache.missing_shards([s for s in range(cache.num_shards) if s % world == rank])
    encoded = failed = 0
    backends: Counter = Counter()
    if todo:
        device = rank_device(device, info.local_rank)
        log.info("%s: encoding %d of %d shards (rank %d of %d)", cache.path, len(todo), cache.num_shards, rank, world)
        visual = load_visual(encoder, device=device)
        for shard in todo:
            rows = _encode_shard(cache, shard, source, visual, num_frames=num_frames, clips=clips, crops=crops,
                                 batch_size=batch_size, workers=workers, device=device, dim=encoder.dim,
                                 backends=backends)
            cache.write(shard, rows)
            encoded += len(rows.ok)
            failed += int((rows.ok == 0).sum())
    log_backends(backends, where=str(cache.path))
    complete = not cache.missing_shards()
    if complete:
        cache.remove_stale_temporaries()
    return EncodeResult(cache, len(todo), encoded, failed, time.perf_counter() - started, complete, backends)


def count_backends(backends: Counter, batch: dict) -> None:
    """Add a batch's readers to `backends`: "decord", "pyav: <why decord was not used>", ..."""
    for _, backend, fallback in batch.get("backends", ()):
        backends[f"{backend}: {fallback}" if fallback else backend] += 1


def log_backends(backends: Counter, *, where: str) -> None:
    fell_back = {k: v for k, v in backends.items() if k.startswith("pyav: ")}
    if fell_back:
        log.info("%s: %d videos read with PyAV instead of decord (%s)", where, sum(fell_back.values()),
                 "; ".join(f"{v} x {k[len('pyav: '):]}" for k, v in sorted(fell_back.items())))


def load_visual(encoder: EncoderIdentity, *, device: str):
    """The merged image encoder, patched if asked, on `device`."""
    from ..checkpoints.merged import load_merged

    model, meta = load_merged(encoder.checkpoint)
    if encoder.patch is not None:
        from ..model.patch import original_visual_state, patch_visual_state

        original, _ = original_visual_state(model=encoder.model, original=encoder.patch["original"],
                                            quick_gelu=meta["model_config"]["quick_gelu"])
        model.visual.load_state_dict(patch_visual_state(model.visual.state_dict(), original, alpha=encoder.patch["alpha"]))
    return model.visual.to(device).eval()


def _encode_shard(cache: FrameCache, shard: int, source: VideoSource, visual, *, num_frames: int, clips: int,
                  crops: int, batch_size: int, workers: int, device: str, dim: int, backends: Counter) -> ShardRows:
    rows = cache.shard_range(shard)
    n, v = len(rows), clips * crops
    features = np.zeros((n, v, num_frames, dim), dtype=np.float16)  # [n, V, T, D]
    ok = np.zeros(n, dtype=np.uint8)
    errors = [""] * n
    loader = eval_loader(source, list(rows), num_frames=num_frames, clips=clips, crops=crops,
                         batch_size=batch_size, workers=workers)
    for batch in loader:
        count_backends(backends, batch)
        for index, path, reason in batch["failures"]:
            log.warning("video %d (%s) excluded: %s", index, path, reason)
            errors[index - rows.start] = reason or "unreadable"
        if batch["frames"] is None:
            continue
        feats = frame_features(visual, batch["frames"].to(device)).cpu().numpy()
        at = batch["indices"].numpy() - rows.start
        features[at] = feats
        ok[at] = 1
    labels = np.array([source.videos.items[i][1] for i in rows], dtype=np.int64)
    return ShardRows(features=features, labels=labels, indices=np.array(list(rows), dtype=np.int64), ok=ok, errors=errors)
