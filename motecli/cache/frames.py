"""The frame-embedding cache: CLIP features of every frame of every view, per video.

One folder per (collection of videos, encoder, views, frames, pixel source): see
`encode.frame_cache_fingerprint`. Rows are keyed per video (`VideoSource.video_keys`),
not per list position, so a video listed in several splits (K600's three zero-shot
lists share most of their videos) is decoded and encoded once, and any list of the
collection is read through a `CachedSplit`. Storage is `shards.ShardFolder`; the schema
is in docs/cache-format.md. Head caches derived from this folder live in `heads/`
inside it and go with it when it is cleared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..cachecard import mark_used
from ..errors import MoteError
from .shards import MANIFEST, ShardFolder, ShardRows, remove_tree, shard_name  # noqa: F401  (MANIFEST, shard_name: for callers)

log = logging.getLogger("mote")

SCHEMA_VERSION = 2  # 1 was one folder per list with positional shards
KIND = "frame-cache"
FEATURE_DTYPE = np.float16
HEADS_DIR = "heads"
READ_BLOCK = 64  # list positions per list-order read


class FrameCache(ShardFolder):
    """A frame-cache folder: its manifest, its valid shards, and reads by video key."""

    kind = KIND
    schema_version = SCHEMA_VERSION
    row_arrays = ("features",)

    @classmethod
    def clear(cls, path: Path) -> None:
        super().clear(path)
        remove_tree(path / HEADS_DIR)  # derived from the shards just removed

    @property
    def view_shape(self) -> tuple[int, int, int]:
        """(V, T, D) of every row."""
        m = self.manifest
        return m["clips"] * m["crops"], m["num_frames"], m["dim"]

    def write_videos(self, videos: list[str], features: np.ndarray, ok: np.ndarray, errors: list[str], *,
                     attrs: dict | None = None) -> str:
        """One shard of whole videos: features float16 [n, V, T, D], zeros where ok = 0. `attrs`:
        how the rows were computed (device, precision), not part of the key."""
        n, v, t, d = features.shape
        if (v, t, d) != self.view_shape:
            raise MoteError(f"{self.path}: rows of shape {(v, t, d)}, the cache holds {self.view_shape}")
        rows = ShardRows(videos=list(videos), arrays=dict(features=features.astype(FEATURE_DTYPE)), ok=ok, errors=errors)
        return self.write(rows, chunks=dict(features=(1, v, t, d)), attrs=attrs)  # one video per HDF5 chunk


@dataclass
class Chunk:
    """Readable videos of one block of a list."""

    features: np.ndarray  # float16 [n, V, T, D]
    labels: np.ndarray  # int64 [n]
    indices: np.ndarray  # int64 [n], positions in the list


class CachedSplit:
    """One video list seen through a frame cache: which of its videos have rows, the
    undecodable ones with their reasons, and their features in list order."""

    def __init__(self, cache: FrameCache, *, keys: list[str], items: list[tuple[str, int]]):
        if len(keys) != len(items):
            raise ValueError("one key per list item")
        self.cache, self.keys, self.items = cache, keys, items

    @property
    def path(self) -> Path:
        return self.cache.path

    @property
    def key(self) -> str:
        return self.cache.key

    @property
    def manifest(self) -> dict:
        return self.cache.manifest

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def view_shape(self) -> tuple[int, int, int]:
        return self.cache.view_shape

    def missing(self) -> list[int]:
        """List positions whose video has no row yet."""
        where = self.cache.scan().where
        return [i for i, k in enumerate(self.keys) if k not in where]

    def require_complete(self) -> None:
        missing = self.missing()
        if missing:
            raise MoteError(f"{self.path}: cache incomplete ({len(missing)} of {self.count} videos of the list missing); "
                            "run `mote encode-frames` again")

    def failures(self) -> list[tuple[int, str, str]]:
        """(list position, relative path, reason) of every video that could not be read."""
        index = self.cache.scan()
        bad: dict[str, list[tuple[int, int]]] = {}
        for pos, key in enumerate(self.keys):
            name, row = index.where[key]
            if index.ok[name][row] == 0:
                bad.setdefault(name, []).append((pos, row))
        out = []
        for name, rows in sorted(bad.items()):
            with self.cache.open(name) as f:
                errors = f["error"][:]
            for pos, row in rows:
                reason = errors[row].decode() if isinstance(errors[row], bytes) else str(errors[row])
                out.append((pos, self.items[pos][0], reason))
        return sorted(out)

    def iter_chunks(self, block: int = READ_BLOCK) -> Iterator[Chunk]:
        """Readable videos in list order, `block` list positions at a time: memory is one block."""
        mark_used(self.cache.path)
        index = self.cache.scan()
        for start in range(0, self.count, block):
            picks: dict[str, list[tuple[int, int]]] = {}  # shard -> (position, row)
            for pos in range(start, min(self.count, start + block)):
                name, row = index.where[self.keys[pos]]
                if index.ok[name][row] == 1:
                    picks.setdefault(name, []).append((pos, row))
            if not picks:
                continue
            got: dict[int, np.ndarray] = {}
            for name, pairs in picks.items():
                rows = sorted({row for _, row in pairs})
                with self.cache.open(name) as f:
                    data = f["features"][rows]  # h5py: increasing row numbers
                at = {row: i for i, row in enumerate(rows)}
                got.update({pos: data[at[row]] for pos, row in pairs})
            positions = sorted(got)
            yield Chunk(features=np.stack([got[p] for p in positions]),
                        labels=np.array([self.items[p][1] for p in positions], dtype=np.int64),
                        indices=np.array(positions, dtype=np.int64))


def read_split(path: str | Path, source) -> CachedSplit:
    """The list of `source` (a VideoSource) seen through the frame-cache folder at `path`."""
    return CachedSplit(FrameCache(path), keys=source.video_keys(), items=list(source.videos.items))
