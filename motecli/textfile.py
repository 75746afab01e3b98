"""Reading a user's files (labels, lists, annotations) with one-line errors.

A labels file is one class name per line, or CSV `id,name` with a header (the
release's format). Every stage that takes class names reads them through here.
`require_file` is the check every path a user names goes through first: a
missing path, a folder where a file is expected, or an unreadable file is one
line naming it, before any heavy import.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .errors import MoteError


def require_file(path: str | os.PathLike, what: str = "", *, expected: str = "a file", missing: str = "") -> Path:
    """`path` if it is a readable file; else a MoteError '<what> <path>: no such file'
    (then `missing`, a hint), 'is a directory, expected <expected>' or 'not readable'."""
    path = Path(path)
    where = f"{what} {path}".strip()
    if path.is_dir():
        raise MoteError(f"{where}: is a directory, expected {expected}")
    if not path.exists():
        raise MoteError(f"{where}: no such file{'; ' + missing if missing else ''}")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise MoteError(f"{where}: not readable, expected {expected}")
    return path


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The file's UTF-8 text; a MoteError naming `what` and the path otherwise."""
    path = require_file(path, what, expected="a text file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MoteError(f"{what} {path}: cannot be read ({err.__class__.__name__})") from err


def read_labels_file(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    text = read_text_file(path, "labels file")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise MoteError(f"labels file {path}: empty, expected one class name per line or CSV 'id,name'")
    first = [c.strip().lower() for c in lines[0].split(",")]
    if len(first) >= 2 and first[0] in ("id", "label", "index") and first[1] in ("name", "class", "label", "class_name"):
        rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
        try:
            pairs = sorted((int(row[0]), row[1].strip()) for row in rows)
        except (ValueError, IndexError) as err:
            raise MoteError(f"labels file {path}: expected CSV rows 'id,name' after the header") from err
        ids = [i for i, _ in pairs]
        if ids != list(range(len(ids))):
            raise MoteError(f"labels file {path}: ids must be 0..{len(ids) - 1} with none missing or repeated")
        names = [name for _, name in pairs]
        if not names:
            raise MoteError(f"labels file {path}: header only, no classes")
    else:
        names = lines
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            raise MoteError(f"labels file {path}: class {i} has an empty name")
        if name in seen:
            raise MoteError(f"labels file {path}: duplicate class name '{name}' (classes {seen[name]} and {i})")
        seen[name] = i
    return names
