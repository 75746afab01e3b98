"""Where and how a model runs: the device, the autocast precision, fast fp32 math on GPU.

    device     auto -> this process's GPU when CUDA is available, else the CPU
    precision  auto -> bf16 autocast on a GPU that has bfloat16, fp16 on an older GPU,
               fp32 on the CPU (bf16 is allowed there when asked for; fp16 is not)
    TF32       on CUDA, fp32 matmuls and convolutions may use TensorFloat-32 (Ampere
               and newer): what is left in fp32 under autocast runs at tensor-core speed

Training (`run.precision`), encoding frames and evaluation (`--precision`) resolve
their settings here, so `auto` means the same thing everywhere.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..errors import MoteError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str | None = "auto", *, local_rank: int = 0, option: str = "--device") -> torch.device:
    """'auto' -> a GPU when CUDA is available, else the CPU. A GPU without an index
    ('auto', 'cuda') is this process's: local_rank modulo the visible GPUs, so under
    torchrun or srun each process takes its own, also when the launcher shows every
    process only its own GPU (CUDA_VISIBLE_DEVICES with one entry)."""
    text = (name or "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise MoteError(f"{option} {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise MoteError(f"{option} {name}: CUDA is not available to this torch ({torch.__version__}); "
                        "use --device auto or cpu")
    count = torch.cuda.device_count()
    if device.index is None:
        return torch.device("cuda", local_rank % count)
    if device.index >= count:
        raise MoteError(f"{option} {name}: this machine shows {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return device


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


def _bf16_on_gpu() -> bool:
    return torch.cuda.is_bf16_supported()


def resolve_precision(name: str, device: torch.device, *, option: str = "run.precision") -> Precision:
    """'auto' -> bf16 on a GPU that supports it, fp16 on an older GPU, fp32 on CPU."""
    if name not in PRECISIONS:
        raise MoteError(f"{option} = {name!r}: expected one of {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        if name == "fp16":
            raise MoteError(f"{option} = 'fp16' needs a CUDA device; use 'fp32' or 'bf16' on CPU")
        return Precision("fp32" if name == "auto" else name, device.type)
    if name == "auto":
        name = "bf16" if _bf16_on_gpu() else "fp16"
    elif name == "bf16" and not _bf16_on_gpu():
        raise MoteError(f"{option} = 'bf16': this GPU does not support bfloat16; use 'fp16' or 'auto'")
    return Precision(name, device.type)


def allow_tf32(device: torch.device) -> None:
    """TF32 for fp32 matmuls and convolutions on a GPU (10-bit mantissa products, fp32
    accumulation): the fp32 parts left under autocast and `--precision fp32` run on
    tensor cores. No effect on CPU or on GPUs older than Ampere."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def use_channels_last(device: torch.device) -> bool:
    """NHWC images for the patch-embedding convolution: cuDNN's tensor-core kernels
    want it on GPU; on CPU it only adds a copy, so frames stay NCHW there."""
    return device.type == "cuda"
