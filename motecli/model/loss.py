"""The three-term MoTE training loss (method section 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..constants import LOSS_WEIGHT_EXPERT, LOSS_WEIGHT_MERGED, LOSS_WEIGHT_MSE


def mote_loss(
    *,
    logits_expert: torch.Tensor,
    logits_merged: torch.Tensor | None,
    z_merged: torch.Tensor | None,
    x: torch.Tensor,
    labels: torch.Tensor,
    weight_expert: float = LOSS_WEIGHT_EXPERT,
    weight_merged: float = LOSS_WEIGHT_MERGED,
    weight_mse: float = LOSS_WEIGHT_MSE,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L = CE(expert) + 0.5 CE(merged) + 0.1 MSE(z_merged, x); logits already scaled.
    Without a merged pass (None: both its weights are 0), its two terms are 0."""
    ce_expert = F.cross_entropy(logits_expert.float(), labels)
    if logits_merged is None or z_merged is None:
        zero = torch.zeros((), device=ce_expert.device)
        return weight_expert * ce_expert, {"ce_expert": ce_expert.detach(), "ce_merged": zero, "mse": zero}
    ce_merged = F.cross_entropy(logits_merged.float(), labels)
    mse = F.mse_loss(z_merged.float(), x.float())
    total = weight_expert * ce_expert + weight_merged * ce_merged + weight_mse * mse
    return total, {"ce_expert": ce_expert.detach(), "ce_merged": ce_merged.detach(), "mse": mse.detach()}
