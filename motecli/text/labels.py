"""Class-name files: one name per line, or CSV `id,name` with a header (the release's format)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ..constants import PROMPT_TEMPLATES
from ..errors import MoteError
from ..textfile import read_text_file


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


def read_templates_file(path: str | os.PathLike | None) -> list[str]:
    """Prompt templates, one per line, with `{c}` (or `{}`) where the class name goes."""
    if path is None:
        return list(PROMPT_TEMPLATES)
    path = Path(path)
    lines = [line.strip() for line in read_text_file(path, "templates file").splitlines() if line.strip()]
    if not lines:
        raise MoteError(f"templates file {path}: empty, expected one template per line with {{c}}")
    templates = [line.replace("{}", "{c}") for line in lines]
    for i, template in enumerate(templates):
        if "{c}" not in template:
            raise MoteError(f"templates file {path}: line {i + 1} has no {{c}} placeholder for the class name")
    return templates


def fill_template(template: str, class_name: str) -> str:
    return template.replace("{c}", class_name)
