"""The one place that talks to `motecli.data`: which videos, and a test-mode loader.

Everything else in cache/ and eval/ sees a `VideoList` and batches of
`dict(frames [B, V, T, 3, S, S], labels, indices, failures)`.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from ..errors import MoteError
from ..hashing import json_sha256


@dataclass
class VideoSource:
    """A split to evaluate: its videos, a short name for files, and where frames come from."""

    videos: object  # motecli.data.layouts.VideoList
    name: str  # e.g. "hmdb51-split1-test"; names cache folders and result files
    dataset: str | None
    split: int | None
    store: Path | None = None  # frame store written by `mote decode`, else the video files
    collection: str | None = None  # the namespace of the relative paths; see `collection_id`

    def collection_id(self) -> str:
        """Which videos a relative path names: `<dataset>/<subset>` for a named dataset
        (so a moved dataset keeps its caches), else `root:<resolved root>`. The frame
        cache is one folder per collection, keyed per video inside it."""
        return self.collection or f"root:{Path(self.videos.root).resolve()}"

    def video_keys(self) -> list[str]:
        """The per-video key of every list item, in list order: the one place it is composed.
        `<relative path>|<size>|<mtime_ns>` (`video_stamps`): the same file listed by two
        splits is one row, and a video replaced in place is another row (encoded again).
        The label is not part of it: it is the list's, not the video's."""
        return [video_key(rel, stamp) for (rel, _), stamp in zip(self.videos.items, self.video_stamps(), strict=True)]

    def frames_fingerprint(self) -> dict:
        """What decides the pixels: the video files, or the frame store's manifest."""
        if self.store is None:
            return dict(kind="videos")
        from ..data.store import read_manifest

        return dict(kind="store", manifest_sha256=json_sha256(read_manifest(self.store)))

    def video_stamps(self) -> list[tuple[int, int]]:
        """(size, mtime_ns) per video of what its frames are read from: the file as it is
        now, or, from a frame store, the file as `mote decode` found it. A store older
        than one of its videos is refused: its frames of that video are stale."""
        if self.store is None:
            return self.videos.stamps(range(len(self.videos)))
        from ..data.layouts import MISSING_STAMP
        from ..data.store import FrameStore, shard_count, shard_rows

        store = FrameStore(self.store)
        store.require_fresh(self.videos)
        stamps: list[tuple[int, int]] = []
        for shard in range(shard_count(store.manifest)):
            recorded = store.shard_stamps(shard)
            count = len(shard_rows(store.manifest, shard))
            stamps += [MISSING_STAMP] * count if recorded is None else [tuple(s) for s in recorded.tolist()]
        return stamps


def resolve_source(
    *,
    dataset: str | None = None,
    split: int = 1,
    subset: str = "test",
    list_file: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
    store: str | os.PathLike | None = None,
) -> VideoSource:
    """A named dataset split (`datasets.toml`) or an explicit list + labels + root
    (the rule and its errors: `data.registry.select_videos`)."""
    from ..data.registry import select_videos

    chosen = select_videos(dataset=dataset, split=split, subset=subset, list_file=list_file, labels=labels,
                           root=root, config=config)
    if store is not None and (Path(store) / "manifest.json").is_file():
        from ..data.store import manifest_videos, read_manifest

        # Refused here, before any encoding starts (ClipDataset checks the same again; a
        # store not written yet is named there).
        if manifest_videos(read_manifest(store)).fingerprint() != chosen.videos.fingerprint():
            raise MoteError(f"{store}: frame store holds a different video list than {chosen.videos.source}")
    return VideoSource(videos=chosen.videos, name=chosen.name, dataset=chosen.dataset, split=chosen.split,
                       store=Path(store) if store is not None else None,
                       collection=f"{chosen.dataset}/{subset}" if chosen.dataset is not None else None)


def video_key(rel: str, stamp: tuple[int, int]) -> str:
    """`<rel>|<size>|<mtime_ns>`, split from the right to read it back. `a/./b.mp4`, `a//b.mp4`
    and `a/b.mp4` name one video (normalised only when needed: 60k keys per split and call)."""
    rel = posixpath.normpath(rel) if "//" in rel or "." in rel.split("/", 1)[0] or "/." in rel else rel
    return f"{rel}|{stamp[0]}|{stamp[1]}"


PREFETCH_FACTOR = 4  # decoded batches queued per worker, so the model never waits on one slow video


def eval_loader(source: VideoSource, indices: list[int], *, num_frames: int, clips: int, crops: int,
                batch_size: int, workers: int, device=None, prefetch_factor: int = PREFETCH_FACTOR):
    """Test-mode batches of the videos at `indices`, in that order. For a CUDA `device`
    batches land in pinned memory, so the copy to the GPU can be non-blocking; each
    worker keeps `prefetch_factor` batches decoded ahead of the model."""
    from torch.utils.data import DataLoader, Subset

    from ..data.dataset import ClipDataset, collate_clips
    from ..lifeline import worker_init_fn

    dataset = ClipDataset(source.videos, store=source.store, mode="test", num_frames=num_frames,
                          num_clips=clips, num_crops=crops)
    on_gpu = device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda"
    return DataLoader(Subset(dataset, indices), batch_size=batch_size, num_workers=workers,
                      collate_fn=collate_clips, shuffle=False, pin_memory=on_gpu,
                      prefetch_factor=prefetch_factor if workers else None, persistent_workers=False,
                      worker_init_fn=worker_init_fn())


def unique_source(source: VideoSource) -> tuple[VideoSource, list[int]]:
    """The distinct videos of a list that repeats some (a K-shot list), in first-seen
    order, and for each original line the row of its video in the distinct list."""
    from ..data.layouts import VideoList

    rows: dict[tuple[str, int], int] = {}
    for item in source.videos.items:
        rows.setdefault(item, len(rows))
    videos = VideoList(source.videos.root, list(rows), list(source.videos.class_names), f"distinct of {source.videos.source}")
    return (VideoSource(videos=videos, name=f"{source.name}-distinct", dataset=source.dataset, split=source.split,
                        store=source.store, collection=source.collection), [rows[item] for item in source.videos.items])
