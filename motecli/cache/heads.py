"""The head cache: two D-vectors per view that determine every evaluation of a checkpoint.

With z = alpha * Temporal(x + P) + x and v = normalize(mean_T z), the mean over frames
is linear, so

    mean_T z = alpha * mean_T Temporal(x + P) + mean_T x,

and modulation's alpha depends only on normalize(mean_T x) and the class texts (method
section 5). Storing `temporal_mean` = mean_T Temporal(x + P) and `frame_mean` = mean_T x
per video and view turns every later evaluation (any scale, k, on or off, class list,
split, half) into matrix products (eval/scoring.py).

One head cache per (checkpoint head weights, frame cache), in `heads/<key16>/` inside
the frame-cache folder. A frame shard is passed through the head whole, in fixed batches
of its rows, so a video's values never depend on what else a run computes: a run killed
at any moment and re-run ends with the values of an uninterrupted one. Consecutive frame
shards share a head shard (up to 1,024 videos), so an evaluation opens few files. Values
are float32: together 2/T of the frame cache's size, and float16 would move cosines by
about 1e-4, above the 1e-5 the head path is matched to.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..cachecard import mark_used, writing
from ..hashing import file_sha256, json_sha256, memoised_for_file
from .frames import HEADS_DIR, FrameCache
from .shards import ShardFolder, ShardRows

log = logging.getLogger("mote")

SCHEMA_VERSION = 1
KIND = "head-cache"
HEAD_DTYPE = np.float32
HEAD_BATCH = 512  # views per head call: bounds activation memory
HEAD_SHARD_VIDEOS = 1024  # rows per head shard: few files to open per evaluation, 12 MiB at V=3, D=512


class HeadCache(ShardFolder):
    kind = KIND
    schema_version = SCHEMA_VERSION
    row_arrays = ("temporal_mean", "frame_mean")


def head_sha256(checkpoint: str | os.PathLike) -> str:
    """sha256 over the head's tensors (names, dtypes, shapes, bytes) as stored in the merged
    file: a changed head weight changes it, the image encoder and the metadata do not.
    Memoised on the file's path, size and modification time, like file hashes."""
    from ..checkpoints.merged import read_merged_tensors, state_sha256

    return memoised_for_file(checkpoint, "head-sha256",
                             lambda path: state_sha256(read_merged_tensors(path, prefixes=("head.",))))


def head_cache_manifest(frames: FrameCache, *, checkpoint: str | os.PathLike, head_id: str) -> dict:
    fingerprint = dict(schema_version=SCHEMA_VERSION, head_sha256=head_id, frame_cache_key=frames.key,
                       dtype="float32", values=["temporal_mean", "frame_mean"])
    checkpoint = Path(checkpoint)
    return dict(
        kind=KIND, schema_version=SCHEMA_VERSION, key=json_sha256(fingerprint), fingerprint=fingerprint,
        checkpoint=dict(path=str(checkpoint.resolve()), sha256=file_sha256(checkpoint), head_sha256=head_id),
        frame_cache=dict(path=str(frames.path.resolve()), key=frames.key),
        views=frames.view_shape[0], num_frames=frames.view_shape[1], dim=frames.view_shape[2],
    )


def open_head_cache(frames: FrameCache, *, checkpoint: str | os.PathLike, head_id: str | None = None) -> HeadCache:
    """The head cache of `checkpoint` over `frames` (created empty if new); reads no shard."""
    manifest = head_cache_manifest(frames, checkpoint=checkpoint, head_id=head_id or head_sha256(checkpoint))
    cache = HeadCache.prepare(frames.path / HEADS_DIR / manifest["key"][:16], manifest)
    mark_used(cache.path)  # opened to be read (`mote cache list` shows when)
    return cache


def view_means(head, features) -> tuple["torch.Tensor", "torch.Tensor"]:  # noqa: F821
    """Frame features [n, V, T, D] -> (mean_T Temporal(x + P), mean_T x), each float32 [n, V, D].
    x is the float32 of the cached float16, as the head path uses it."""
    import torch

    n, v = features.shape[:2]
    x = torch.as_tensor(features).float().flatten(0, 1)  # [n*V, T, D]: every view on its own
    temporal, frame = [], []
    with torch.no_grad():
        for start in range(0, x.shape[0], HEAD_BATCH):
            xs = x[start : start + HEAD_BATCH].to(next(head.parameters()).device)
            temporal.append(head.temporal(xs).mean(dim=1).cpu())
            frame.append(xs.mean(dim=1).cpu())
    return torch.cat(temporal).view(n, v, -1), torch.cat(frame).view(n, v, -1)  # [n*V, D] -> [n, V, D]


@dataclass
class HeadPass:
    cache: HeadCache
    computed_videos: int
    seconds: float


def fill_head_cache(frames: FrameCache, heads: HeadCache, head, *, keys: Iterable[str],
                    shard_videos: int | None = None) -> HeadPass:
    """Pass every frame shard that holds one of `keys` and has videos without head rows
    through the head; consecutive frame shards (by name) share a head shard of up to
    `shard_videos` rows, so a later evaluation opens few files."""
    started = time.perf_counter()
    frame_index = frames.scan()
    have = heads.scan().where
    todo = [name for name in frame_index.shards_of(set(keys)) if any(k not in have for k in frame_index.videos[name])]
    groups: list[list[str]] = []
    for name in todo:
        if not groups or sum(len(frame_index.videos[g]) for g in groups[-1]) + len(frame_index.videos[name]) > \
                (shard_videos or HEAD_SHARD_VIDEOS):
            groups.append([])
        groups[-1].append(name)
    if todo:
        log.info("%s: head pass over %d frame shards into %d head shards", heads.path, len(todo), len(groups))
    computed = 0
    with writing(heads.path) if groups else contextlib.nullcontext():  # `mote cache clear` leaves it alone meanwhile
        for group in groups:
            parts = [_head_rows(frames, name, frame_index, head) for name in group]
            heads.write(ShardRows(videos=[v for p in parts for v in p.videos], ok=np.concatenate([p.ok for p in parts]),
                                  errors=[e for p in parts for e in p.errors],
                                  arrays={a: np.concatenate([p.arrays[a] for p in parts]) for a in HeadCache.row_arrays}),
                        attrs=dict(frame_shards=json.dumps(group)))
            computed += sum(len(p.videos) for p in parts)
    if todo:
        heads.remove_stale_temporaries()
    return HeadPass(heads, computed, time.perf_counter() - started)


def _head_rows(frames: FrameCache, name: str, frame_index, head) -> ShardRows:
    """The head's two vectors for every row of one frame shard, in its row order. The rows
    of one frame shard always go through the head together, in the same batches, so the
    bytes do not depend on which other shards a run processes."""
    import torch

    with frames.open(name) as f:
        features = f["features"][:]
        errors = [e.decode() if isinstance(e, bytes) else str(e) for e in f["error"][:]]
    videos, ok = frame_index.videos[name], frame_index.ok[name]
    temporal, frame = view_means(head, features)
    bad = torch.from_numpy(ok == 0)
    temporal[bad], frame[bad] = 0.0, 0.0  # unreadable videos: zeros, as in the frame cache
    return ShardRows(videos=list(videos), ok=ok, errors=errors, arrays=dict(
        temporal_mean=temporal.numpy().astype(HEAD_DTYPE), frame_mean=frame.numpy().astype(HEAD_DTYPE)))
