"""Choosing caches to remove, and removing them without ever leaving the cache root.

Rules (docs/cache-format.md, "Managing caches"):
- filters combine with AND; with none, nothing is selected unless `everything`;
- checkpoints and bookkeeping (kinds "checkpoint", "state") go only when a kind
  filter names them;
- a cache that a live process is writing is never removed;
- nothing outside the root is removed and no symlink is followed: a symlink is
  removed as a link, its target stays.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import MoteError
from .scan import CacheEntry

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_HEX = re.compile(r"^[0-9a-f]{6,64}$")


def parse_duration(text: str, *, option: str = "--unused-for") -> float:
    """'30d' -> seconds; units s, m, h, d, w."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise MoteError(f"{option} {text!r}: expected a number and a unit, e.g. 12h, 30d, 2w (units s m h d w)")
    return float(match["n"]) * _UNIT_S[match["unit"]]


@dataclass(frozen=True)
class CheckpointRef:
    """What a --checkpoint value can match: the file's id and path, or an id prefix;
    plus the image-encoder hash that frame-embedding caches are keyed by."""

    text: str
    ids: tuple[str, ...] = ()  # hex prefixes: checkpoint id, visual sha256
    path: str | None = None

    def matches(self, owner: dict) -> bool:
        checkpoint = owner.get("checkpoint") if isinstance(owner.get("checkpoint"), dict) else {}
        if self.path is not None and checkpoint.get("path") == self.path:
            return True
        values = [str(checkpoint.get("id", "")), str(owner.get("visual_sha256", "")), str(owner.get("head_sha256", ""))]
        return any(v and any(v.startswith(i) or i.startswith(v) for i in self.ids) for v in values)


def checkpoint_ref(value: str) -> CheckpointRef:
    """A --checkpoint value: a merged model's path, or the start of its id (6+ hex digits)."""
    path = Path(value)
    if path.is_file():
        from ..hashing import checkpoint_id

        ids = [checkpoint_id(path)]
        try:
            from ..checkpoints.merged import read_merged_metadata

            ids.append(read_merged_metadata(path)["visual_sha256"])
        except MoteError:
            pass  # not a merged model: match by file id and path only
        return CheckpointRef(value, tuple(ids), str(path.resolve()))
    if path.exists():
        raise MoteError(f"--checkpoint {value}: is a directory, expected a merged model file or its id")
    if _HEX.match(value.lower()):
        return CheckpointRef(value, (value.lower(),))
    raise MoteError(f"--checkpoint {value}: no such file, and not a checkpoint id (6 or more hex digits; "
                    "`mote cache list` shows them)")


@dataclass(frozen=True)
class Selection:
    kinds: tuple[str, ...] = ()
    checkpoints: tuple[CheckpointRef, ...] = ()
    datasets: tuple[str, ...] = ()
    unused_for_s: float | None = None
    incomplete: bool = False
    everything: bool = False

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.checkpoints or self.datasets or self.unused_for_s is not None or self.incomplete)

    def matches(self, entry: CacheEntry, *, now: float) -> bool:
        if self.empty and not self.everything:
            return False
        if entry.protected and entry.kind not in self.kinds:
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.checkpoints and not any(ref.matches(entry.owner) for ref in self.checkpoints):
            return False
        if self.datasets and not any(_belongs_to_dataset(entry, name) for name in self.datasets):
            return False
        if self.unused_for_s is not None and now - entry.last_used < self.unused_for_s:
            return False
        if self.incomplete and entry.complete is not False:
            return False
        return True


def _belongs_to_dataset(entry: CacheEntry, name: str) -> bool:
    if entry.owner.get("dataset") == name:
        return True
    # Folder names start with the source's name: `<dataset>-split<N>-<subset>...`.
    return entry.kind in ("frame-embeddings", "frame-store", "head-cache") and entry.path.name.startswith(f"{name}-")


def select(entries: list[CacheEntry], selection: Selection, *, now: float | None = None) -> list[CacheEntry]:
    now = time.time() if now is None else now
    return [e for e in entries if selection.matches(e, now=now)]


def _inside(path: Path, root: Path) -> bool:
    """True when `path` itself (not what it may link to) lies inside `root`."""
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(path.parent)
    return os.path.commonpath([real_root, real_parent]) == real_root and path.name not in ("", ".", "..")


def remove(entry: CacheEntry, *, root: Path) -> None:
    """Delete one cache; a symlink is unlinked, never followed."""
    from ..cachecard import active_writers

    path = entry.path
    if not _inside(path, root):
        raise MoteError(f"{path}: outside the cache root {root}; not removed")
    if path.is_dir() and not path.is_symlink() and active_writers(path):
        raise MoteError(f"{path}: being written by process {active_writers(path)[0]}; not removed")
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        if entry.kind in ("checkpoint", "pretrained"):  # the sidecar goes with the file
            path.with_name(path.name + ".json").unlink(missing_ok=True)
    else:
        shutil.rmtree(path)  # removes links inside as links (fd-based on Linux, never follows them)
    path.with_name(f".{path.name}.last-used").unlink(missing_ok=True)
