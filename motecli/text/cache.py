"""The HDF5 cache of class text embeddings (schema: docs/cache-format.md).

Readers import only h5py and numpy: a cache hit never loads torch or a model.
Files are written under a temporary name and renamed, so the final name only
ever holds a complete file; a checksum of the contents (`content_sha256`) is
verified on every read, so a file damaged later is an error, never a hit.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, remove_stale_temporaries_of
from ..cachecard import mark_used
from ..errors import MoteError
from ..hashing import json_sha256, package_version
from ..env import cache_root

TEXT_CACHE_KIND = "mote-text-embeddings"
TEXT_SCHEMA_VERSION = 2  # 2: content_sha256


def content_sha256(embeddings: np.ndarray, class_names: list[str], templates: list[str]) -> str:
    """sha256 over the embeddings (float32 little-endian, C order), then each class name
    and each template as UTF-8 followed by a newline, with a NUL byte between the two lists."""
    h = hashlib.sha256(np.ascontiguousarray(embeddings, dtype="<f4").tobytes())
    h.update("".join(f"{name}\n" for name in class_names).encode())
    h.update(b"\0")
    h.update("".join(f"{template}\n" for template in templates).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class TextRequest:
    """Everything that changes the numbers of a text cache."""

    model: str
    weights_id: str
    quick_gelu: bool | None  # as asked; None = the model/weights default
    class_names: tuple[str, ...]
    templates: tuple[str, ...]

    @property
    def key(self) -> str:
        return json_sha256(
            {
                "schema": TEXT_SCHEMA_VERSION,
                "model": self.model,
                "weights": self.weights_id,
                "quick_gelu": self.quick_gelu,
                "classes": list(self.class_names),
                "templates": list(self.templates),
                "open_clip": package_version("open_clip_torch"),
            }
        )

    def default_path(self) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.model)
        return cache_root() / "text" / f"{safe}-{self.key[:16]}.h5"


@dataclass
class TextEmbeddings:
    class_names: list[str]
    templates: list[str]
    embeddings: np.ndarray  # [C, D] float32, unit rows
    model: str
    weights_id: str
    key: str
    path: Path | None = None

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])


def read_text_cache(path: str | Path) -> TextEmbeddings:
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            if attrs.get("kind") != TEXT_CACHE_KIND:
                raise MoteError(f"{path}: not a mote text cache (kind={attrs.get('kind')!r})")
            version = int(attrs.get("schema_version", -1))
            if version > TEXT_SCHEMA_VERSION:
                raise MoteError(
                    f"{path}: text cache schema {version} is newer than this mote understands ({TEXT_SCHEMA_VERSION}); upgrade mote"
                )
            if version != TEXT_SCHEMA_VERSION or not attrs.get("complete", False):
                raise MoteError(f"{path}: incomplete or old text cache (schema {version}); delete it to recompute")
            class_names = [s.decode() if isinstance(s, bytes) else s for s in f["classes"][()]]
            templates = [s.decode() if isinstance(s, bytes) else s for s in f["templates"][()]]
            embeddings = np.asarray(f["embeddings"][()], dtype=np.float32)
            if content_sha256(embeddings, class_names, templates) != attrs.get("content_sha256"):
                raise MoteError(f"{path}: text cache damaged (its contents no longer match the checksum written "
                                "with them); delete it to recompute")
            return TextEmbeddings(
                class_names=class_names,
                templates=templates,
                embeddings=embeddings,
                model=str(attrs["model"]),
                weights_id=str(attrs["weights_id"]),
                key=str(attrs["key"]),
                path=path,
            )
    except MoteError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise MoteError(f"{path}: corrupt text cache ({err.__class__.__name__}: {err}); delete it to recompute") from err


def lookup_text_cache(request: TextRequest, path: Path) -> TextEmbeddings | None:
    """The cached embeddings if `path` holds exactly this request, else None."""
    if not path.exists():
        return None
    cached = read_text_cache(path)
    if cached.key != request.key:
        return None
    mark_used(path)
    return cached


def write_text_cache(path: Path, request: TextRequest, embeddings: np.ndarray, *, pretrained: str | None, seconds: float) -> None:
    import h5py

    remove_stale_temporaries_of(path)  # left by a writer of this file that was killed
    embeddings = np.asarray(embeddings, dtype=np.float32)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("embeddings", data=embeddings)
            f.create_dataset("classes", data=list(request.class_names), dtype=h5py.string_dtype())
            f.create_dataset("templates", data=list(request.templates), dtype=h5py.string_dtype())
            f.attrs.update(
                {
                    "kind": TEXT_CACHE_KIND,
                    "schema_version": TEXT_SCHEMA_VERSION,
                    "key": request.key,
                    "model": request.model,
                    "pretrained": pretrained or "",
                    "weights_id": request.weights_id,
                    "quick_gelu": "auto" if request.quick_gelu is None else str(request.quick_gelu).lower(),
                    "mote_version": package_version("motecli"),
                    "created_unix": time.time(),
                    "encode_seconds": seconds,
                    "content_sha256": content_sha256(embeddings, list(request.class_names), list(request.templates)),
                    # Written last, inside the temporary file: a reader that finds
                    # it knows every dataset above was written in full.
                    "complete": True,
                }
            )
