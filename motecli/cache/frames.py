"""HDF5 shards of frame embeddings; the schema is in docs/cache-format.md.

A cache is a folder: `manifest.json` (settings, fingerprint, video list; written
atomically) and `shard-SSSSS.h5`, each holding videos [s*K, (s+1)*K) of the list.
A shard is written to a temporary file and renamed into place, so it exists
whole or not at all; a `done` flag per row is written last and the reader only
trusts rows with done=1. A shard that cannot be opened or does not validate is
recomputed, and so is one whose `videos_sha256` (each of its videos' path, label,
size and mtime, `expect_videos`) no longer matches: a video replaced in place is
encoded again. A folder whose manifest names another fingerprint is cleared.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import atomic_path, remove_stale_temporaries
from ..data.layouts import videos_sha256
from ..errors import MoteError

log = logging.getLogger("mote")

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
FEATURE_DTYPE = np.float16


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}.h5"


@dataclass
class ShardRows:
    """The rows of one shard, in list order: failed videos have ok=0 and zero features."""

    features: np.ndarray  # float16 [n, V, T, D]
    labels: np.ndarray  # int64 [n]
    indices: np.ndarray  # int64 [n], positions in the video list
    ok: np.ndarray  # uint8 [n]
    errors: list[str]


@dataclass
class Chunk:
    """Readable videos of one shard."""

    features: np.ndarray  # float16 [n, V, T, D]
    labels: np.ndarray  # int64 [n]
    indices: np.ndarray  # int64 [n]


def _check_version(where: str, version) -> None:
    if not isinstance(version, (int, np.integer)):
        raise MoteError(f"{where}: no schema_version, not a frame-embedding cache")
    if version > SCHEMA_VERSION:
        raise MoteError(f"{where}: schema_version {version} is newer than this mote reads ({SCHEMA_VERSION}); upgrade mote")


def write_shard(path: Path, rows: ShardRows, *, key: str, shard: int, start: int, videos: str = "",
                attrs: dict | None = None) -> None:
    """Write one shard atomically: temporary file, rows, then done flags, fsync, rename.
    `videos`: the per-video fingerprint of its rows (FrameCache.expect_videos); `attrs`:
    extra root attributes that do not change the key (how the rows were computed)."""
    import h5py

    n, v, t, d = rows.features.shape
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(**(attrs or {}), schema_version=SCHEMA_VERSION, key=key, shard=shard, start=start, count=n,
                           videos_sha256=videos)
            f.create_dataset("features", data=rows.features.astype(FEATURE_DTYPE),
                             chunks=(1, v, t, d) if n else None)  # one video per chunk
            f.create_dataset("labels", data=rows.labels.astype(np.int64))
            f.create_dataset("indices", data=rows.indices.astype(np.int64))
            f.create_dataset("ok", data=rows.ok.astype(np.uint8))
            f.create_dataset("error", data=np.array(rows.errors, dtype=object), dtype=h5py.string_dtype())
            f.flush()
            f.create_dataset("done", data=np.ones(n, dtype=np.uint8))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


class FrameCache:
    """A cache folder: its manifest, which shards are valid, and streaming reads."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        file = self.path / MANIFEST
        try:
            self.manifest = json.loads(file.read_text())
        except FileNotFoundError:
            raise MoteError(f"{file}: no frame-embedding cache here (run `mote encode-frames`)") from None
        except (OSError, ValueError) as err:
            raise MoteError(f"{file}: unreadable cache manifest ({err})") from None
        _check_version(str(file), self.manifest.get("schema_version"))
        self.key: str = self.manifest["key"]
        self.count: int = self.manifest["count"]
        self.shard_size: int = self.manifest["shard_size"]
        self.num_shards = -(-self.count // self.shard_size)
        self.items: list[tuple[str, int]] = [(p, int(y)) for p, y in self.manifest["items"]]
        self.class_names: list[str] = list(self.manifest["class_names"])
        self.shard_videos: list[str] | None = None  # set by expect_videos

    def expect_videos(self, stamps: list[tuple[int, int]]) -> None:
        """Trust a shard only if its videos are still what they were when it was encoded:
        `stamps` holds (size, mtime_ns) per video of the list (`VideoSource.video_stamps`)."""
        if len(stamps) != self.count:
            raise ValueError(f"{len(stamps)} stamps for {self.count} videos")
        ranges = [self.shard_range(s) for s in range(self.num_shards)]
        self.shard_videos = [videos_sha256(self.items[r.start:r.stop], stamps[r.start:r.stop]) for r in ranges]

    @classmethod
    def prepare(cls, path: str | os.PathLike, manifest: dict) -> "FrameCache":
        """Open the cache at `path` for `manifest`; a different fingerprint clears it."""
        path = Path(path)
        file = path / MANIFEST
        if file.exists():
            try:
                old = json.loads(file.read_text())
            except (OSError, ValueError):
                old = {}
            if old.get("schema_version") is not None:
                _check_version(str(file), old["schema_version"])
            if old.get("key") == manifest["key"]:
                return cls(path)  # the existing shard size stays: it is layout, not numbers
            log.warning("%s: cache made with other settings (stale fingerprint); recomputing", path)
            for shard in path.glob("shard-*.h5"):
                shard.unlink()
        # Every rank writes the same bytes; the rename makes the race harmless.
        with atomic_path(file) as tmp:
            tmp.write_text(json.dumps(manifest, sort_keys=True))
        return cls(path)

    def shard_range(self, shard: int) -> range:
        return range(shard * self.shard_size, min(self.count, (shard + 1) * self.shard_size))

    def shard_is_valid(self, shard: int) -> bool:
        """True when the shard file opens, belongs to this fingerprint and every row is done."""
        import h5py

        path = self.path / shard_name(shard)
        if not path.exists():
            return False
        try:
            with h5py.File(path, "r") as f:
                rows = self.shard_range(shard)
                return (
                    f.attrs.get("key") == self.key
                    and int(f.attrs.get("start", -1)) == rows.start
                    and "done" in f
                    and f["done"].shape == (len(rows),)
                    and bool(np.all(f["done"][:] == 1))
                    and f["features"].shape[0] == len(rows)
                    and (self.shard_videos is None or f.attrs.get("videos_sha256") == self.shard_videos[shard])
                )
        except Exception as err:  # a torn or foreign file: recompute rather than trust it
            log.warning("%s: unreadable shard (%s); it will be recomputed", path, err)
            return False

    def missing_shards(self, shards: list[int] | None = None) -> list[int]:
        return [s for s in (range(self.num_shards) if shards is None else shards) if not self.shard_is_valid(s)]

    def write(self, shard: int, rows: ShardRows, *, attrs: dict | None = None) -> None:
        write_shard(self.path / shard_name(shard), rows, key=self.key, shard=shard, start=self.shard_range(shard).start,
                    videos="" if self.shard_videos is None else self.shard_videos[shard], attrs=attrs)

    def remove_stale_temporaries(self) -> None:
        """Temporary shards left by killed runs; call only once every shard is valid,
        when no rank can still be writing one."""
        remove_stale_temporaries(self.path, "shard-*.h5")

    def require_complete(self) -> None:
        missing = self.missing_shards()
        if missing:
            raise MoteError(f"{self.path}: cache incomplete ({len(missing)} of {self.num_shards} shards missing); run `mote encode-frames` again")

    def _open(self, shard: int):
        import h5py

        f = h5py.File(self.path / shard_name(shard), "r")
        _check_version(str(self.path / shard_name(shard)), f.attrs.get("schema_version"))
        return f

    def iter_chunks(self) -> Iterator[Chunk]:
        """Readable videos shard by shard (rows with done=1 and ok=1): memory is one shard."""
        for shard in range(self.num_shards):
            with self._open(shard) as f:
                keep = (f["done"][:] == 1) & (f["ok"][:] == 1)
                rows = np.flatnonzero(keep)
                if rows.size == 0:
                    continue
                feats = f["features"][rows[0] : rows[-1] + 1][rows - rows[0]]  # one contiguous read
                yield Chunk(features=feats, labels=f["labels"][:][rows], indices=f["indices"][:][rows])

    def failures(self) -> list[tuple[int, str, str]]:
        """(list index, relative path, reason) of every video that could not be read."""
        out = []
        for shard in range(self.num_shards):
            with self._open(shard) as f:
                ok, err, idx = f["ok"][:], f["error"][:], f["indices"][:]
                for i in np.flatnonzero(ok == 0):
                    reason = err[i].decode() if isinstance(err[i], bytes) else str(err[i])
                    out.append((int(idx[i]), self.items[int(idx[i])][0], reason))
        return out

