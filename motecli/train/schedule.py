"""Learning-rate schedule: linear warm-up from 0, then half-period cosine to 0 (method section 3).

The rate is a function of the fractional epoch `epoch + step_in_epoch / steps_per_epoch`,
set before every optimizer step, as the release does with `scheduler.step(epoch + i / n)`.
"""

from __future__ import annotations

import math

import torch


def lr_factor(epoch: float, *, warmup_epochs: float, total_epochs: float) -> float:
    """Multiplier of the base rate at a fractional epoch."""
    if epoch < warmup_epochs:
        return epoch / warmup_epochs
    progress = (epoch - warmup_epochs) / max(total_epochs - warmup_epochs, 1e-12)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class WarmupCosine:
    """Sets every parameter group's lr to `base_lr * lr_factor(fractional epoch)`."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, warmup_epochs: float, total_epochs: float,
                 steps_per_epoch: int) -> None:
        self.optimizer = optimizer
        self.warmup_epochs, self.total_epochs, self.steps_per_epoch = warmup_epochs, total_epochs, steps_per_epoch
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0.0

    def step_to(self, step: int) -> float:
        """Set the rates for global optimizer step `step` (0-based); returns the fractional epoch."""
        self.last_epoch = step / self.steps_per_epoch
        factor = lr_factor(self.last_epoch, warmup_epochs=self.warmup_epochs, total_epochs=self.total_epochs)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        return self.last_epoch

    def state_dict(self) -> dict:
        return dict(warmup_epochs=self.warmup_epochs, total_epochs=self.total_epochs,
                    steps_per_epoch=self.steps_per_epoch, base_lrs=list(self.base_lrs), last_epoch=self.last_epoch)

    def load_state_dict(self, state: dict) -> None:
        self.warmup_epochs, self.total_epochs = state["warmup_epochs"], state["total_epochs"]
        self.steps_per_epoch, self.base_lrs, self.last_epoch = state["steps_per_epoch"], list(state["base_lrs"]), state["last_epoch"]
