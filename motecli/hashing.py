"""Fingerprints for cache keys. Torch-free, so cache hits stay fast."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

from .atomic import atomic_path, remove_stale_temporaries_of
from .env import cache_root


def json_sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@functools.cache  # importlib.metadata parses files each call; versions do not change in a process
def package_version(name: str) -> str:
    try:
        return version(name).split("+")[0]
    except PackageNotFoundError:
        return "unknown"


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated runs stay fast."""
    def digest_file(resolved: Path) -> str:
        digest = hashlib.sha256()
        with open(resolved, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
        return digest.hexdigest()

    return memoised_for_file(path, "", digest_file)


def memoised_for_file(path: str | os.PathLike, what: str, compute: Callable[[Path], str]) -> str:
    """`compute(path)` of a file, memoised in `<cache>/hashes.json` on (what, path, size, mtime)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_path = cache_root() / "hashes.json"
    memo_key = f"{what + ':' if what else ''}{path}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if memo_key in memo:
        return memo[memo_key]
    memo[memo_key] = compute(path)
    try:
        remove_stale_temporaries_of(memo_path)
        with atomic_path(memo_path) as tmp:
            tmp.write_text(json.dumps(memo))
    except OSError:
        pass  # the memo is only a speed-up
    return memo[memo_key]


CHECKPOINT_ID_LENGTH = 10


def checkpoint_id(path: str | os.PathLike) -> str:
    """The short id of a checkpoint file, as results file names and `mote cache list`
    show it: the start of its content sha256, so a copy or a move keeps its id and a
    retrained file under the same name gets a new one."""
    return file_sha256(path)[:CHECKPOINT_ID_LENGTH]
