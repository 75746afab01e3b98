"""Folders of per-video HDF5 shards: the storage under the frame cache and the head cache.

A folder holds `manifest.json` (its kind, schema and fingerprint; written atomically)
and shards `shard-<id>.h5`. A shard holds whole videos, named by their keys in its
`videos` dataset; its id is the sha256 of those keys, so two writers that make the
same shard write the same name and rows, and a folder can grow by new shards without
a central index that writers would race on. A shard is written to a temporary name
(`.shard-<id>.h5.tmp-<pid>`), its `done` flags last, fsync'ed and renamed, so under
its final name it is whole; a shard that does not open or does not validate is
ignored and deleted. `scan()` reads every valid shard's keys (not its tensors): the
index "video key -> (shard, row)" is derived, never stored. The schema is in
docs/cache-format.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import atomic_path, remove_stale_temporaries
from ..errors import MoteError

log = logging.getLogger("mote")

MANIFEST = "manifest.json"
SHARD_GLOB = "shard-*.h5"
READ_BLOCK_VIDEOS = 1024  # videos per block handed to scoring: bounds memory whatever N


def shard_id(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def shard_name(keys: list[str]) -> str:
    """The file name of the shard holding exactly `keys`, in this order."""
    return f"shard-{shard_id(keys)}.h5"


def check_version(where: str, version, supported: int) -> None:
    if not isinstance(version, (int, np.integer)):
        raise MoteError(f"{where}: no schema_version, not a mote cache")
    if version > supported:
        raise MoteError(f"{where}: schema_version {version} is newer than this mote reads ({supported}); upgrade mote")


@dataclass
class ShardRows:
    """One shard's content: a row per video. `arrays` hold the per-row tensors [n, ...]."""

    videos: list[str]
    arrays: dict[str, np.ndarray]
    ok: np.ndarray  # uint8 [n]: 0 = the video could not be read (its arrays are zeros)
    errors: list[str]


@dataclass
class ShardIndex:
    """The valid shards of a folder (sorted by name) and where each video's first copy is."""

    videos: dict[str, list[str]] = field(default_factory=dict)  # shard name -> keys, in row order
    ok: dict[str, np.ndarray] = field(default_factory=dict)  # shard name -> uint8 [n]
    where: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (shard name, row)

    def add(self, name: str, videos: list[str], ok: np.ndarray) -> None:
        self.videos[name] = videos
        self.ok[name] = ok
        for row, key in enumerate(videos):
            self.where.setdefault(key, (name, row))  # duplicates (two writers) are equal: first wins

    def shards_of(self, keys) -> list[str]:
        """The shards holding the first copy of any of `keys`, sorted by name."""
        return sorted({self.where[k][0] for k in keys if k in self.where})


class ShardFolder:
    """A folder of shards of one `kind` and one fingerprint (`key`)."""

    kind: str = ""
    schema_version: int = 1
    row_arrays: tuple[str, ...] = ()  # per-row datasets every valid shard has

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        file = self.path / MANIFEST
        try:
            self.manifest = json.loads(file.read_text())
        except FileNotFoundError:
            raise MoteError(f"{file}: no {self.kind} here") from None
        except (OSError, ValueError) as err:
            raise MoteError(f"{file}: unreadable cache manifest ({err})") from None
        check_version(str(file), self.manifest.get("schema_version"), self.schema_version)
        if self.manifest.get("kind") != self.kind:
            raise MoteError(f"{file}: a {self.manifest.get('kind') or 'pre-2 frame cache (one folder per list)'}, "
                            f"not a {self.kind}; remove the folder or pass another one")
        self.key: str = self.manifest["key"]
        self._index: ShardIndex | None = None

    @classmethod
    def prepare(cls, path: str | os.PathLike, manifest: dict):
        """Open the folder at `path` for `manifest`; a different fingerprint clears it."""
        path = Path(path)
        file = path / MANIFEST
        if file.exists():
            try:
                old = json.loads(file.read_text())
            except (OSError, ValueError):
                old = {}
            if old.get("schema_version") is not None:
                check_version(str(file), old["schema_version"], cls.schema_version)
            if old.get("key") == manifest["key"] and old.get("kind") == manifest["kind"]:
                return cls(path)
            log.warning("%s: cache made with other settings (stale fingerprint); recomputing", path)
            cls.clear(path)
        # Concurrent creators write manifests of the same key; the rename makes the race harmless.
        with atomic_path(file) as tmp:
            tmp.write_text(json.dumps(manifest, sort_keys=True, indent=1))
        return cls(path)

    @classmethod
    def clear(cls, path: Path) -> None:
        """Remove the shards (and what was derived from them) of a stale folder."""
        for shard in path.glob(SHARD_GLOB):
            shard.unlink()

    # --- reading -----------------------------------------------------------------------------

    def shard_is_valid(self, name: str) -> tuple[list[str], np.ndarray] | None:
        """(keys, ok) of a shard that opens, has this folder's key and every row done; else None."""
        import h5py

        path = self.path / name
        try:
            with h5py.File(path, "r") as f:
                check_version(str(path), f.attrs.get("schema_version"), self.schema_version)
                n = int(f.attrs.get("count", -1))
                if f.attrs.get("key") != self.key or "done" not in f or f["done"].shape != (n,):
                    return None
                if not bool(np.all(f["done"][:] == 1)):
                    return None
                if any(f[a].shape[0] != n for a in ("videos", "ok", *self.row_arrays)):
                    return None
                videos = [v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][:]]
                return videos, f["ok"][:].astype(np.uint8)
        except MoteError:
            raise
        except Exception as err:  # a torn or foreign file: recompute rather than trust it
            log.warning("%s: unreadable shard (%s); ignored and removed", path, err)
            return None

    def scan(self, *, refresh: bool = False) -> ShardIndex:
        """Validate every shard once (memoised); invalid ones are deleted (a file under
        a final name is never being written, so an invalid one is damage)."""
        if self._index is not None and not refresh:
            return self._index
        index = ShardIndex()
        for path in sorted(self.path.glob(SHARD_GLOB)):
            found = self.shard_is_valid(path.name)
            if found is None:
                log.warning("%s: invalid shard removed; its videos will be recomputed", path)
                path.unlink(missing_ok=True)
                continue
            index.add(path.name, *found)
        self._index = index
        return index

    def open(self, name: str):
        import h5py

        return h5py.File(self.path / name, "r")

    # --- writing -----------------------------------------------------------------------------

    def write(self, rows: ShardRows, *, name: str | None = None, chunks: dict[str, tuple] | None = None,
              attrs: dict | None = None) -> str:
        """Write one shard atomically: temporary file, rows, then done flags, fsync, rename."""
        import h5py

        n = len(rows.videos)
        name = name or shard_name(rows.videos)
        with atomic_path(self.path / name) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs.update(schema_version=self.schema_version, kind=self.kind, key=self.key, count=n,
                               **(attrs or {}))
                f.create_dataset("videos", data=np.array(rows.videos, dtype=object), dtype=h5py.string_dtype())
                for a, value in rows.arrays.items():
                    f.create_dataset(a, data=value, chunks=(chunks or {}).get(a) if n else None)
                f.create_dataset("ok", data=rows.ok.astype(np.uint8))
                f.create_dataset("error", data=np.array(rows.errors, dtype=object), dtype=h5py.string_dtype())
                f.flush()
                f.create_dataset("done", data=np.ones(n, dtype=np.uint8))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        if self._index is not None:
            self._index.add(name, list(rows.videos), rows.ok.astype(np.uint8))
        return name

    def remove_stale_temporaries(self) -> None:
        """Temporaries of killed writers, whose process is gone (atomic.remove_stale_temporaries)."""
        remove_stale_temporaries(self.path, "shard-*.h5")


@dataclass
class RowBlock:
    """First copies of some videos, read from the shards of a cache."""

    videos: list[str]
    ok: np.ndarray  # uint8 [n]
    errors: list[str]
    arrays: dict[str, np.ndarray]  # name -> [n, ...]


def iter_rows(cache: ShardFolder, keys: set[str], arrays: tuple[str, ...], *,
              block_videos: int = READ_BLOCK_VIDEOS) -> Iterator[RowBlock]:
    """The rows of `keys` (first copies), shard by shard, in blocks of about `block_videos`:
    each cache file is opened once and memory is one block whatever N."""
    index = cache.scan()
    pending: list[RowBlock] = []
    size = 0
    for name in index.shards_of(keys):
        rows = [row for row, key in enumerate(index.videos[name]) if key in keys and index.where[key] == (name, row)]
        with cache.open(name) as f:
            everything = len(rows) == f.attrs["count"]
            pick = slice(None) if everything else rows
            data = {a: f[a][pick] for a in arrays}
            errors = [e.decode() if isinstance(e, bytes) else str(e) for e in f["error"][pick]]
        pending.append(RowBlock([index.videos[name][r] for r in rows], index.ok[name][rows], errors, data))
        size += len(rows)
        if size >= block_videos:
            yield _concat(pending)
            pending, size = [], 0
    if pending:
        yield _concat(pending)


def _concat(blocks: list[RowBlock]) -> RowBlock:
    return RowBlock(videos=[v for b in blocks for v in b.videos], ok=np.concatenate([b.ok for b in blocks]),
                    errors=[e for b in blocks for e in b.errors],
                    arrays={a: np.concatenate([b.arrays[a] for b in blocks]) for a in blocks[0].arrays})


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
