"""Checks of `mote merge`'s arguments that need no torch, so that a wrong output name or
a missing file fails in a fraction of a second instead of after seconds of imports."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MoteError
from ..textfile import require_file

MERGED_SUFFIXES = (".safetensors", ".pt", ".pth")


def check_merged_output(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix not in MERGED_SUFFIXES:
        raise MoteError(f"--out {out}: expected a .safetensors or .pt file name")
    if out.is_dir():
        raise MoteError(f"--out {out}: is a directory, expected a file name such as {out / 'merged.safetensors'}")
    return out


def check_merge_args(checkpoint: str | os.PathLike, *, out: str | os.PathLike, patch_alpha: float | None,
                     original: str | None) -> None:
    """Every check of a merge that reads no checkpoint."""
    require_file(checkpoint, expected="a `mote train` checkpoint or the release's MoTE_B16.pt / MoTE_L14.pt")
    check_merged_output(out)
    if patch_alpha is not None and original is None:
        raise MoteError("--patch-alpha needs --original (the CLIP weights to mix in: open_clip tag or local file)")
    if patch_alpha is None and original is not None:
        raise MoteError("--original is only used with --patch-alpha")
    if patch_alpha is not None and not 0.0 <= patch_alpha <= 1.0:
        raise MoteError(f"--patch-alpha {patch_alpha}: expected a value in [0, 1]")
