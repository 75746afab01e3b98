"""Fingerprints for cache keys. Torch-free, so cache hits stay fast."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .atomic import atomic_path, remove_stale_temporaries_of
from .env import cache_root


def json_sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def package_version(name: str) -> str:
    try:
        return version(name).split("+")[0]
    except PackageNotFoundError:
        return "unknown"


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated runs stay fast."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_path = cache_root() / "hashes.json"
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if memo_key in memo:
        return memo[memo_key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    memo[memo_key] = digest.hexdigest()
    try:
        remove_stale_temporaries_of(memo_path)
        with atomic_path(memo_path) as tmp:
            tmp.write_text(json.dumps(memo))
    except OSError:
        pass  # the memo is only a speed-up
    return memo[memo_key]
