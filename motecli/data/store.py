"""The frame store written by `mote decode`, read without touching a video decoder.

Layout of a store folder (details and the measurements behind the defaults in
docs/frame-store.md):

    manifest.json     settings, class names and the video list (written first, atomically)
    shard-00000.h5    videos [0, shard_size), written to a temporary name and renamed
    shard-00001.h5    ...                     into place, so a shard either exists whole or not
    failures.tsv      index, path, reason of the videos that could not be decoded

In a shard: `n_frames` int32 [count] (0 for a failed video), `orig_frames` int32
[count], `error` string [count] ('' when fine), `stamps` int64 [count, 2] (each
video's size and mtime_ns when decoded, `layouts.video_stamp`) and `frames/<k>` for
the k-th video of the shard: raw uint8 [F, H, W, 3], or JPEG bytes, one vlen uint8
array per frame.

A shard is checked before it is trusted (`shard_problem`): it must open and hold
the counts its attributes record; `mote decode` re-decodes a shard that does not,
and one whose videos changed on disk since (their stamps differ).

The sampling formulas apply to the F stored frames. HDF5 files are opened lazily
in the reading process (after any fork) and reopened if the pid changes.
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..cachecard import mark_used
from ..constants import PIXEL_VERSION
from ..errors import MoteError
from .layouts import MISSING_STAMP, VideoList
from .video import VideoReadError

STORE_VERSION = 1
MANIFEST = "manifest.json"
FAILURES = "failures.tsv"


@contextmanager
def quiet_jpeg_deprecation() -> Iterator[None]:
    """torchvision 0.29 deprecates its JPEG codec in favour of torchcodec, which is not a
    dependency; it is still the fastest batched JPEG codec available here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The image decoding and encoding", category=DeprecationWarning)
        yield


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}.h5"


def read_manifest(path: str | os.PathLike, *, any_pixels: bool = False) -> dict:
    """The store's manifest; one made by another pixel pipeline is refused unless `any_pixels`
    (`mote decode`, which then decodes the store again)."""
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise MoteError(f"{file}: not a frame store (no manifest; run `mote decode` first)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise MoteError(f"{file}: unreadable frame store manifest: {err}") from None
    if manifest.get("version") != STORE_VERSION:
        raise MoteError(f"{file}: store version {manifest.get('version')!r}, expected {STORE_VERSION}")
    if manifest.get("pixels", 1) != PIXEL_VERSION and not any_pixels:
        raise MoteError(
            f"{file}: frames made by pixel pipeline {manifest.get('pixels', 1)}, this mote's is {PIXEL_VERSION}; "
            f"run `mote decode` with the same options again to recompute them"
        )
    return manifest


def manifest_videos(manifest: dict) -> VideoList:
    return VideoList(
        Path(manifest["root"]), [(p, int(y)) for p, y in manifest["items"]], list(manifest["class_names"]),
        manifest["source"],
    )


def shard_count(manifest: dict) -> int:
    return -(-len(manifest["items"]) // manifest["shard_size"])


def shard_rows(manifest: dict, shard: int) -> range:
    size = manifest["shard_size"]
    return range(shard * size, min(len(manifest["items"]), (shard + 1) * size))


def missing_shards(path: str | os.PathLike, manifest: dict) -> list[int]:
    return [s for s in range(shard_count(manifest)) if not (Path(path) / shard_name(s)).exists()]


def _first_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:160]}"


def shard_problem(path: Path, rows: range, *, frames: bool = False) -> str | None:
    """Why the shard file at `path` cannot be trusted for videos `rows`, or None.

    It must open (a truncated HDF5 file does not) and hold the counts it records;
    with `frames`, also one frames dataset of the recorded length per stored video.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            first, count = int(f.attrs.get("first", -1)), int(f.attrs.get("count", -1))
            if (first, count) != (rows.start, len(rows)):
                return f"holds videos [{first}, {first + count}), expected [{rows.start}, {rows.stop})"
            for name in ("n_frames", "orig_frames", "error"):
                if name not in f or f[name].shape != (count,):
                    return f"'{name}' missing or not {count} rows"
            if "frames" not in f:
                return "no 'frames' group"
            if frames:
                group, n_frames = f["frames"], f["n_frames"][:]
                for k in np.flatnonzero(n_frames > 0).tolist():
                    if str(k) not in group or group[str(k)].shape[0] != n_frames[k]:
                        return f"video {rows.start + k}: fewer stored frames than the {n_frames[k]} recorded"
    except Exception as err:  # torn, truncated or not HDF5 at all
        return f"cannot be read ({_first_line(err)})"
    return None


def read_stamps(path: Path, count: int) -> np.ndarray | None:
    """The stamps recorded in a shard, int64 [count, 2]; None if it has none (older mote)."""
    import h5py

    with h5py.File(path, "r") as f:
        return f["stamps"][:].astype(np.int64).reshape(count, 2) if "stamps" in f else None


def changed_since(stamps: np.ndarray | None, videos: VideoList, rows: range) -> list[int]:
    """Videos of `rows` whose file now exists with another size or mtime than recorded.
    A file that is gone is not counted: a store may outlive the videos it was made from."""
    if stamps is None:
        return []
    now = videos.stamps(rows)
    return [i for i, old, new in zip(rows, stamps.tolist(), now) if new != MISSING_STAMP and tuple(old) != new]


class FrameStore:
    """Random access to the stored frames of each video. Cheap to construct and to pickle
    (only the manifest is read); HDF5 handles are opened on first use in each process."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        missing = missing_shards(self.path, self.manifest)
        if missing:
            raise MoteError(
                f"{self.path}: frame store incomplete ({len(missing)} shards missing); run `mote decode` again to finish it"
            )
        for shard in range(shard_count(self.manifest)):  # one open per shard: a damaged one is named here
            file = self.path / shard_name(shard)
            problem = shard_problem(file, shard_rows(self.manifest, shard))
            if problem:
                raise MoteError(f"{file}: damaged frame store shard ({problem}); run `mote decode` again to re-decode it")
        self.videos = manifest_videos(self.manifest)
        mark_used(self.path)
        self.format = self.manifest["format"]
        self.shard_size = self.manifest["shard_size"]
        self._files: dict[int, object] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.videos)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_files"] = {}
        return state

    def _shard(self, index: int):
        import h5py

        if os.getpid() != self._pid:  # forked after opening: never share HDF5 handles
            self._files, self._pid = {}, os.getpid()
        shard = index // self.shard_size
        if shard not in self._files:
            file = self.path / shard_name(shard)
            try:
                self._files[shard] = h5py.File(file, "r")
            except OSError as err:  # damaged after this store was opened
                raise MoteError(f"{file}: damaged frame store shard ({_first_line(err)}); "
                                "run `mote decode` again to re-decode it") from None
        return self._files[shard], index % self.shard_size

    def shard_stamps(self, shard: int) -> np.ndarray | None:
        """(size, mtime_ns) of each video of a shard when it was decoded, int64 [count, 2];
        None for a shard written before stamps were recorded."""
        return read_stamps(self.path / shard_name(shard), len(shard_rows(self.manifest, shard)))

    def changed_videos(self, videos: VideoList | None = None) -> list[int]:
        """Videos whose file changed on disk since it was decoded (see `changed_since`);
        `videos`: the same list under the root it is read from now (default the manifest's)."""
        videos = videos or self.videos
        changed = []
        for shard in range(shard_count(self.manifest)):
            changed += changed_since(self.shard_stamps(shard), videos, shard_rows(self.manifest, shard))
        return changed

    def require_fresh(self, videos: VideoList | None = None) -> None:
        """Refuse a store older than one of its videos: its frames of that video are stale."""
        videos = videos or self.videos
        changed = self.changed_videos(videos)
        if changed:
            raise MoteError(f"{self.path}: frame store older than {len(changed)} of its videos "
                            f"({videos.path(changed[0])} changed on disk since `mote decode`); "
                            "run `mote decode` again to re-decode them")

    def num_frames(self, index: int) -> int:
        """Stored frames of video `index` (0 if it failed to decode)."""
        f, k = self._shard(index)
        return int(f["n_frames"][k])

    def error(self, index: int) -> str:
        f, k = self._shard(index)
        err = f["error"][k]
        return err.decode() if isinstance(err, bytes) else str(err)

    def read(self, index: int, pick: Callable[[int], np.ndarray]):
        """Like `video.read_frames`: frames chosen by `pick(n)` over the n stored frames,
        as uint8 [*indices.shape, H, W, 3] (a torch view for JPEG), the indices and n."""
        f, k = self._shard(index)
        n = int(f["n_frames"][k])
        if n == 0:
            raise VideoReadError(self.error(index) or "no frames stored")
        idx = np.asarray(pick(n), dtype=np.int64)
        flat = np.clip(idx.reshape(-1), 0, n - 1)
        unique, inverse = np.unique(flat, return_inverse=True)  # decode each stored frame once
        data = f["frames"][str(k)]
        if self.format == "raw":
            # One slice per frame: h5py's fancy indexing is ~300x slower on these chunks.
            frames = np.stack([data[i] for i in unique.tolist()])[inverse]
        else:
            import torch
            from torchvision.io import decode_jpeg

            with quiet_jpeg_deprecation():
                decoded = decode_jpeg([torch.from_numpy(data[i]) for i in unique.tolist()])
            frames = torch.stack(decoded)[torch.from_numpy(inverse)].permute(0, 2, 3, 1)  # [K,3,H,W] -> [K,H,W,3]
        return frames.reshape(*idx.shape, *frames.shape[1:]), flat.reshape(idx.shape), n
