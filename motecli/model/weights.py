"""Reading tensors from files users hand us, without unpickling arbitrary objects."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import torch

from ..errors import MoteError
from ..textfile import require_file

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The top-level object of a .safetensors, weights-only .pt, or TorchScript file."""
    path = require_file(path, expected="a checkpoint or weights file (.safetensors, .pt, .pth, .bin)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise MoteError(f"{path}: not a readable safetensors file ({err})") from err
    try:
        with warnings.catch_warnings():  # torch warns on a TorchScript archive; it is handled below
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if _is_torchscript(path):
            return _torchscript_state(path)
        if _is_cut_short_zip(path):
            raise MoteError(f"{path}: a torch archive cut short (no zip directory at its end); "
                            "download or copy it again") from None
        raise MoteError(
            f"{path}: not a weights file (expected .safetensors or a torch state dict loadable with weights_only=True)"
        ) from err
    if not isinstance(obj, dict):
        raise MoteError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def _torchscript_state(path: Path) -> dict:
    """The state dict of a TorchScript archive (OpenAI's original CLIP files). Loading one
    runs no Python pickle code, only TorchScript, so it is safe to open; a damaged one
    (a download cut short) is one line naming the file, without torch's warnings."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            return torch.jit.load(str(path), map_location="cpu").state_dict()
    except Exception as err:
        reason = " ".join(str(err).split())[:120]
        raise MoteError(f"{path}: damaged TorchScript archive ({type(err).__name__}: {reason}); "
                        "download it again") from None


def _is_cut_short_zip(path: Path) -> bool:
    """A zip archive (torch.save's and TorchScript's format) whose end is missing."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    except OSError:
        return False


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.split("/", 1)[-1].startswith("code/") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def tensor_state(obj: dict) -> dict[str, torch.Tensor]:
    """Unwrap `{"state_dict": ...}`-style checkpoints and drop DDP prefixes."""
    for key in WRAPPER_KEYS:
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    return strip_prefix({k: v for k, v in obj.items() if isinstance(v, torch.Tensor)})
