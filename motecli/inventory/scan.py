"""Every cache under the cache root, described from its card, manifest or attributes
(never its tensors), for `mote cache list` and `mote cache clear`.

Where things live under the root (docs/cache-format.md, "Managing caches"):

    text/<model>-<key>.h5             text-embedding caches          kind "text"
    frames/embeddings/<name>-<key>/   frame-embedding caches         kind "frame-embeddings"
      .../heads/<key>/                head caches of one checkpoint  kind "head-cache"
    frames/<name>-split<N>-<subset>/  frame stores (`mote decode`)   kind "frame-store"
    synthetic/synth-<key>/            generated training videos      kind "synthetic"
    demo/                             everything `mote demo` made    kind "demo"
    pretrained/*.safetensors          pretrained tiny CLIPs          kind "pretrained" (`mote pretrain-tiny`)
    checkpoints/*                     merged models                  kind "checkpoint" (kept unless named)
    hashes.json, hung-videos.tsv      bookkeeping                    kind "state" (kept unless named)

A folder anywhere below with a `cache-card.json` is listed with the card's kind, so a
new kind of cache needs only to write its card. Anything else is "other".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import process_alive
from ..cache.frames import HEADS_DIR
from ..hashing import CHECKPOINT_ID_LENGTH
from ..cachecard import CARD, LAST_USED, WRITING_PREFIX, active_writers, last_used, read_card, tree_size

PROTECTED_KINDS = ("checkpoint", "state")
STATE_FILES = ("hashes.json", "hung-videos.tsv")
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")
SHARD = re.compile(r"^shard-\d{5}\.h5$")


@dataclass
class CacheEntry:
    path: Path
    kind: str
    size: int  # bytes on disk, symlinks not followed
    complete: bool | None  # None: the kind has no notion of it
    last_used: float  # unix seconds: last read, else written
    owner: dict = field(default_factory=dict)  # dataset, checkpoint {path, id}, model, settings
    writers: list[int] = field(default_factory=list)  # live processes writing it now

    @property
    def protected(self) -> bool:
        return self.kind in PROTECTED_KINDS

    def describe(self) -> str:
        """What it belongs to, in one line."""
        o = self.owner
        parts = [o.get("name") or o.get("dataset") or o.get("source")]
        if isinstance(o.get("checkpoint"), dict):
            ck = o["checkpoint"]
            parts.append(" ".join(str(x) for x in ("checkpoint", ck.get("id"), f"({ck.get('path', '?')})") if x))
        parts += [o.get("model"), o.get("classes") and f"{o['classes']} classes", o.get("videos") and f"{o['videos']} videos"]
        return ", ".join(str(p) for p in parts if p)

    def to_json(self, root: Path) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        out["relative_path"] = os.path.relpath(self.path, root)
        return out


def _temporary_writers(folder: Path) -> list[int]:
    """Live pids in the names of temporaries inside `folder` (`.NAME.tmp-PID`)."""
    pids = set()
    for item in folder.iterdir():
        match = TEMPORARY.match(item.name)
        if match and process_alive(int(match["pid"])):
            pids.add(int(match["pid"]))
    return sorted(pids)


def _expected_shards(count: int | None, shard_size: int | None) -> int | None:
    if not count or not shard_size:
        return None
    return -(-int(count) // int(shard_size))


def _shards_complete(folder: Path, owner: dict) -> bool | None:
    expected = _expected_shards(owner.get("videos"), owner.get("shard_size"))
    if expected is None:
        return None
    present = sum(1 for item in folder.iterdir() if SHARD.match(item.name))
    return present >= expected


def _read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _manifest_owner(folder: Path, kind: str) -> dict:
    """Owner fields from a manifest: a frame-embedding or head cache's (a few hundred
    bytes), or a frame store's written before cards existed (it lists every video)."""
    manifest = _read_manifest(folder)
    if kind == "frame-embeddings":
        encoder = manifest.get("fingerprint", {}).get("encoder", {})
        return dict(dataset=manifest.get("dataset"), name=manifest.get("collection"), model=encoder.get("model"),
                    visual_sha256=encoder.get("visual_sha256"),
                    checkpoint=dict(path=manifest.get("checkpoint"), id=manifest.get("checkpoint_id")),
                    settings={k: manifest.get(k) for k in ("num_frames", "clips", "crops")},
                    shards=sum(1 for _ in folder.glob("shard-*.h5")))
    if kind == "head-cache":
        checkpoint = manifest.get("checkpoint") or {}
        return dict(checkpoint=dict(path=checkpoint.get("path"), id=str(checkpoint.get("sha256", ""))[:CHECKPOINT_ID_LENGTH]),
                    head_sha256=checkpoint.get("head_sha256"), shards=sum(1 for _ in folder.glob("shard-*.h5")))
    return dict(videos=manifest.get("count") or len(manifest.get("items", [])), shard_size=manifest.get("shard_size"),
                source=manifest.get("source"))


def _frame_cache_entries(folder: Path) -> list[CacheEntry]:
    """A frame-embedding cache (its size without its head caches) and each head cache
    below it, which goes with it."""
    entry = _folder_entry(folder, "frame-embeddings")
    heads = folder / HEADS_DIR
    entries = [entry]
    if heads.is_dir() and not heads.is_symlink():
        for item in sorted(heads.iterdir()):
            if item.is_dir() and not item.is_symlink():
                head = _folder_entry(item, "head-cache")
                head.owner.update(dataset=entry.owner.get("dataset"), name=f"heads of {entry.owner.get('name') or folder.name}")
                entries.append(head)
        entry.size -= tree_size(heads)
        entry.owner["head_caches"] = len(entries) - 1
    return entries


def _folder_entry(folder: Path, kind: str) -> CacheEntry:
    card = read_card(folder)
    if card is not None:
        kind = card["kind"]
        owner = {k: v for k, v in card.items() if k not in ("kind", "card_version", "created_unix")}
    else:
        owner = _manifest_owner(folder, kind)
    complete: bool | None = None  # frame-embedding and head caches grow with each list: no notion of complete
    if kind == "frame-store":
        complete = _shards_complete(folder, owner)
    elif kind == "synthetic":
        complete = (folder / "datasets.toml").is_file()
    writers = sorted(set(active_writers(folder)) | set(_temporary_writers(folder)))
    return CacheEntry(folder, kind, tree_size(folder), complete, last_used(folder), owner, writers)


def _text_entry(file: Path) -> CacheEntry:
    owner: dict = {}
    complete = False
    try:
        import h5py

        with h5py.File(file, "r") as f:
            attrs = f.attrs  # only the four attributes needed: reading all of them costs 4x
            complete = attrs.get("kind") == "mote-text-embeddings" and bool(attrs.get("complete", False))
            owner = dict(model=str(attrs.get("model", "")), weights_id=str(attrs.get("weights_id", "")),
                         classes=int(f["classes"].shape[0]) if "classes" in f else None)
    except (OSError, ImportError, KeyError, ValueError):
        pass
    return CacheEntry(file, "text", tree_size(file), complete, last_used(file), owner)


def _temporary_entry(item: Path) -> CacheEntry:
    pid = int(TEMPORARY.match(item.name)["pid"])
    writers = [pid] if process_alive(pid) else []
    owner = dict(name=f"temporary of {TEMPORARY.match(item.name)['name']}", writer_pid=pid)
    return CacheEntry(item, "temporary", tree_size(item), False, last_used(item), owner, writers)


def _is_bookkeeping(name: str) -> bool:
    return name in (CARD, LAST_USED) or name.startswith(WRITING_PREFIX) or name.endswith(".last-used")


def _scan_folder_of(parent: Path, kind: str, *, skip: tuple[str, ...] = ()) -> list[CacheEntry]:
    entries = []
    if not parent.is_dir() or parent.is_symlink():
        return entries
    for item in sorted(parent.iterdir()):
        if item.name in skip or _is_bookkeeping(item.name):
            continue
        if TEMPORARY.match(item.name):
            entries.append(_temporary_entry(item))
        elif item.is_dir() and not item.is_symlink():
            entries += _frame_cache_entries(item) if kind == "frame-embeddings" else [_folder_entry(item, kind)]
        elif kind == "text" and item.suffix == ".h5":
            entries.append(_text_entry(item))
        else:
            entries.append(CacheEntry(item, "other", tree_size(item), None, last_used(item)))
    return entries


def _checkpoint_entries(folder: Path, kind: str = "checkpoint") -> list[CacheEntry]:
    """One entry per file with its `.json` sidecar: merged models, pretrained weights."""
    entries = []
    if not folder.is_dir() or folder.is_symlink():
        return entries
    for item in sorted(folder.iterdir()):
        if _is_bookkeeping(item.name):
            continue
        if TEMPORARY.match(item.name):
            entries.append(_temporary_entry(item))
        elif not item.name.endswith(".json"):  # a merged model's sidecar goes with it
            sidecar = item.with_name(item.name + ".json")
            size = tree_size(item) + (tree_size(sidecar) if sidecar.exists() else 0)
            entries.append(CacheEntry(item, kind, size, sidecar.exists(), last_used(item)))
    return entries


def scan(root: Path) -> list[CacheEntry]:
    """Every cache under `root`; nothing outside it is looked at."""
    if not root.is_dir():
        return []
    entries = _scan_folder_of(root / "text", "text")
    entries += _scan_folder_of(root / "frames" / "embeddings", "frame-embeddings")
    entries += _scan_folder_of(root / "frames", "frame-store", skip=("embeddings",))
    entries += _scan_folder_of(root / "synthetic", "synthetic")
    entries += _checkpoint_entries(root / "checkpoints")
    entries += _checkpoint_entries(root / "pretrained", "pretrained")
    known = {"text", "frames", "synthetic", "checkpoints", "pretrained"}
    for item in sorted(root.iterdir()):
        if item.name in known or _is_bookkeeping(item.name) or item.name == ".gitkeep":
            continue
        if item.name in STATE_FILES:
            entries.append(CacheEntry(item, "state", tree_size(item), None, last_used(item)))
        elif TEMPORARY.match(item.name):
            entries.append(_temporary_entry(item))
        elif item.name == "demo" and item.is_dir() and not item.is_symlink():
            entries.append(_folder_entry(item, "demo"))
        elif item.is_dir() and not item.is_symlink():
            entries.append(_folder_entry(item, "other"))
        else:
            entries.append(CacheEntry(item, "other", tree_size(item), None, last_used(item)))
    return entries
