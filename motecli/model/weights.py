"""Reading tensors from files users hand us, without unpickling arbitrary objects."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from ..errors import MoteError

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The top-level object of a .safetensors, weights-only .pt, or TorchScript file."""
    path = Path(path)
    if not path.is_file():
        raise MoteError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise MoteError(f"{path}: not readable")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise MoteError(f"{path}: not a readable safetensors file ({err})") from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if _is_torchscript(path):
            # OpenAI's original CLIP files are TorchScript archives; loading one runs
            # no Python pickle code, only TorchScript, so it is safe to open.
            return torch.jit.load(str(path), map_location="cpu").state_dict()
        raise MoteError(
            f"{path}: not a weights file (expected .safetensors or a torch state dict loadable with weights_only=True)"
        ) from err
    if not isinstance(obj, dict):
        raise MoteError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


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
