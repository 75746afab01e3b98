"""Prompt templates: the 28 of the method, or a user's file of them."""

from __future__ import annotations

import os
from pathlib import Path

from ..constants import PROMPT_TEMPLATES
from ..errors import MoteError
from ..textfile import read_text_file


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
