"""The learning-rate schedule against hand computation, and precision resolution."""

import pytest
import torch

from motecli.errors import MoteError
from motecli.model.runtime import resolve_precision
from motecli.train.schedule import WarmupCosine

BASE, RATIO = 5e-5, 0.07


def _scheduler(steps_per_epoch: int) -> WarmupCosine:
    head, clip = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [clip], "lr": BASE * RATIO}, {"params": [head], "lr": BASE}])
    return WarmupCosine(opt, warmup_epochs=5, total_epochs=30, steps_per_epoch=steps_per_epoch)


@pytest.mark.parametrize(
    "step, steps_per_epoch, factor",
    [
        (0, 4, 0.0),  # the very first step: warm-up starts from 0
        (1, 4, 0.05),  # epoch 0.25 of 5 warm-up epochs
        (10, 4, 0.5),  # epoch 2.5
        (19, 4, 0.95),  # epoch 4.75
        (20, 4, 1.0),  # epoch 5: end of warm-up, top of the cosine
        (70, 4, 0.5),  # epoch 17.5: half-way through the 25 cosine epochs, cos(pi/2) = 0
        (25, 2, 0.7938926261462366),  # epoch 12.5: progress 0.3, (1 + cos(0.3 pi)) / 2
        (45, 3, 0.6545084971874737),  # epoch 15: progress 0.4, (1 + cos(0.4 pi)) / 2
        (120, 4, 0.0),  # epoch 30: the end
    ],
)
def test_warmup_then_cosine_at_fractional_epochs(step, steps_per_epoch, factor):
    sched = _scheduler(steps_per_epoch)
    epoch = sched.step_to(step)
    assert epoch == step / steps_per_epoch
    clip_lr, head_lr = (g["lr"] for g in sched.optimizer.param_groups)
    assert head_lr == pytest.approx(BASE * factor, abs=1e-18)
    assert clip_lr == pytest.approx(BASE * RATIO * factor, abs=1e-18)


def test_state_round_trips():
    a, b = _scheduler(4), _scheduler(7)
    a.step_to(33)
    b.load_state_dict(a.state_dict())
    b.step_to(34)
    a.step_to(34)
    assert [g["lr"] for g in a.optimizer.param_groups] == [g["lr"] for g in b.optimizer.param_groups]


def test_precision_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).name == "fp32"
    assert resolve_precision("bf16", cpu).dtype == torch.bfloat16
    assert not resolve_precision("auto", cpu).needs_scaler
    with pytest.raises(MoteError, match="fp16"):
        resolve_precision("fp16", cpu)
