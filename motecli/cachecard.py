"""What `mote cache list` reads instead of the caches themselves.

Three small files, none of them part of any cache's numbers:

- a card, `cache-card.json` in a cache folder: its kind and what it belongs to
  (dataset or list, checkpoint path and id, model, settings), written when the cache
  is created. A manifest can hold a whole video list (MBs for Kinetics); the card is
  a few hundred bytes, so listing hundreds of caches stays well under a second;
- a last-used stamp, `.last-used` in a cache folder (`.<name>.last-used` beside a
  single-file cache): its modification time is when a reader last used the cache;
  touched, never rewritten with data;
- a writer mark, `.writing-<pid>` in a cache folder, present while a process fills it,
  so that `mote cache clear` never removes a cache that is being written.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .atomic import atomic_path, process_alive

CARD = "cache-card.json"
CARD_VERSION = 1
LAST_USED = ".last-used"
WRITING_PREFIX = ".writing-"


def write_card(folder: str | os.PathLike, *, kind: str, **owner) -> None:
    """Describe the cache in `folder` (overwrites an older card of the same folder)."""
    folder = Path(folder)
    card = dict(card_version=CARD_VERSION, kind=kind, created_unix=round(time.time(), 3), **owner)
    try:
        with atomic_path(folder / CARD) as tmp:
            tmp.write_text(json.dumps(card, sort_keys=True, default=str))
    except OSError:
        pass  # a card only helps listing; a read-only cache stays usable


def read_card(folder: str | os.PathLike) -> dict | None:
    try:
        card = json.loads((Path(folder) / CARD).read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and "kind" in card else None


def stamp_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / LAST_USED if path.is_dir() else path.with_name(f".{path.name}.last-used")


def mark_used(path: str | os.PathLike) -> None:
    """Record that a reader used the cache at `path` (a folder or a single file) now."""
    try:
        stamp_path(path).touch()  # sets the mtime of an existing stamp too
    except OSError:
        pass  # read-only caches are still readable


def last_used(path: str | os.PathLike) -> float:
    """When the cache was last read, or else written (unix seconds): a folder's own
    mtime moves whenever a shard is renamed into it."""
    path = Path(path)
    times = []
    for candidate in (stamp_path(path), path):
        try:
            times.append(candidate.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def active_writers(folder: str | os.PathLike) -> list[int]:
    """Ids of live processes writing into `folder` (marks of dead ones are ignored)."""
    pids = []
    for mark in Path(folder).glob(f"{WRITING_PREFIX}*"):
        try:
            pid = int(mark.name[len(WRITING_PREFIX):])
        except ValueError:
            continue
        if pid > 0 and process_alive(pid):
            pids.append(pid)
    return pids


@contextmanager
def writing(folder: str | os.PathLike) -> Iterator[None]:
    """Mark `folder` as being written by this process for the duration of the block."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / f"{WRITING_PREFIX}{os.getpid()}"
    mark.touch()
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def tree_size(path: Path) -> int:
    """Bytes of `path` and everything below it; symlinks count as links, not targets."""
    try:
        if path.is_symlink() or not path.is_dir():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for dirpath, _, files in os.walk(path):  # does not descend into symlinked folders
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total
