"""Scoring videos against class texts at evaluation (method section 4).

Per view: cosine similarities (no logit scale) -> softmax over classes; then the
mean over views; argmax is the prediction. Training's validation and `mote eval`
both score through here, so the two can never disagree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_scores(v: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Unscaled cosine similarities: unit video rows [B, D] x class texts [C, D] -> [B, C]."""
    return v @ F.normalize(text.to(v.dtype), dim=-1).T


def fuse_views(similarities: torch.Tensor) -> torch.Tensor:
    """[B, V, C] cosine similarities -> [B, C] class probabilities averaged over views."""
    return similarities.float().softmax(dim=-1).mean(dim=1)
