"""Reading a user's text file (labels, lists, annotations) with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MoteError


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The file's UTF-8 text; a MoteError naming `what` and the path otherwise."""
    path = Path(path)
    if not path.exists():
        raise MoteError(f"{what} {path}: no such file")
    if path.is_dir():
        raise MoteError(f"{what} {path}: is a directory, expected a text file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MoteError(f"{what} {path}: cannot be read ({err.__class__.__name__})") from err
