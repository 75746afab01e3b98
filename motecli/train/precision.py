"""Mixed precision: bf16 autocast where the GPU has it, fp16 + GradScaler otherwise, fp32 on CPU."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..errors import MoteError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16, after resolving 'auto'
    device_type: str

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES.get(self.name)

    @property
    def needs_scaler(self) -> bool:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range.
        return self.name == "fp16"

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """'auto' -> bf16 on a GPU that supports it, fp16 on an older GPU, fp32 on CPU."""
    if device.type != "cuda":
        if name == "fp16":
            raise MoteError("run.precision = 'fp16' needs a CUDA device; use 'fp32' or 'bf16' on CPU")
        return Precision("fp32" if name == "auto" else name, device.type)
    if name == "auto":
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif name == "bf16" and not torch.cuda.is_bf16_supported():
        raise MoteError("run.precision = 'bf16': this GPU does not support bfloat16; use 'fp16' or 'auto'")
    return Precision(name, device.type)
