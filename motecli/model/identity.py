"""Naming CLIP weights without importing torch or open_clip.

The name must change whenever the numbers could: a local file is named by its
sha256, a published tag by (model, tag, open_clip version), random
initialisation by its seed and the library versions that draw it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..hashing import file_sha256, package_version
from ..textfile import require_file

TINY_MODEL = "mote-tiny"
RANDOM_INIT_SEED = 0
WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def looks_like_path(pretrained: str) -> bool:
    return os.sep in pretrained or pretrained.endswith(WEIGHT_FILE_SUFFIXES) or Path(pretrained).exists()


def normalise_pretrained(model: str, pretrained: str | None) -> str | None:
    """`None`/'' means the default: OpenAI weights, or random init for the tiny model.
    'none' or 'random' asks for random initialisation explicitly."""
    if pretrained is None or pretrained == "":
        return None if model == TINY_MODEL else "openai"
    if pretrained.lower() in ("none", "random"):
        return None
    return pretrained


def weights_identity(model: str, pretrained: str | None) -> str:
    if pretrained is None:
        return (
            f"random-init:{model}:seed{RANDOM_INIT_SEED}:open_clip-{package_version('open_clip_torch')}"
            f":torch-{package_version('torch')}"
        )
    if looks_like_path(pretrained):
        path = require_file(pretrained, "--pretrained", expected="a weights file (.pt, .bin, .safetensors)")
        return f"sha256:{file_sha256(path)}"
    return f"tag:{model}:{pretrained}:open_clip-{package_version('open_clip_torch')}"
