"""Device and precision resolution: `auto` is this machine's best, and says so clearly."""

import pytest
import torch

from motecli.errors import MoteError
from motecli.model import runtime
from motecli.model.runtime import resolve_device, resolve_precision


def test_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(MoteError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda")


def test_auto_here_matches_what_torch_sees():
    """On this machine (no GPU in CI) auto resolves to the CPU."""
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_auto_with_cuda_takes_this_process_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=2) == torch.device("cuda", 2)
    assert resolve_device("cuda", local_rank=3) == torch.device("cuda", 3)
    assert resolve_device("cuda:1", local_rank=3) == torch.device("cuda", 1)  # explicit index wins
    # srun --gpus-per-task=1: every process sees one GPU, whatever its local rank.
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto", local_rank=5) == torch.device("cuda", 0)
    with pytest.raises(MoteError, match="cuda:0 to cuda:0"):
        resolve_device("cuda:2")


def test_bad_device_name_is_one_line():
    with pytest.raises(MoteError, match="--device 'gpu0': expected auto, cpu, cuda or cuda:N"):
        resolve_device("gpu0")


def test_precision_auto_per_device(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_precision("auto", cpu).name == "fp32"
    assert resolve_precision("bf16", cpu, option="--precision").dtype == torch.bfloat16
    with pytest.raises(MoteError, match="--precision = 'fp16' needs a CUDA device"):
        resolve_precision("fp16", cpu, option="--precision")
    with pytest.raises(MoteError, match="expected one of auto, fp32, bf16, fp16"):
        resolve_precision("half", cpu, option="--precision")
    monkeypatch.setattr(runtime, "_bf16_on_gpu", lambda: True)
    assert resolve_precision("auto", gpu).name == "bf16"
    monkeypatch.setattr(runtime, "_bf16_on_gpu", lambda: False)  # e.g. a V100 or T4
    fp16 = resolve_precision("auto", gpu)
    assert fp16.name == "fp16" and fp16.needs_scaler
    with pytest.raises(MoteError, match="does not support bfloat16"):
        resolve_precision("bf16", gpu)


def test_channels_last_only_on_gpu():
    assert runtime.use_channels_last(torch.device("cuda", 0))
    assert not runtime.use_channels_last(torch.device("cpu"))
