"""View fusion (method section 4): per view, cosine similarities without the logit
scale -> softmax over classes; then the mean over views; argmax is the prediction."""

from __future__ import annotations

import torch


def fuse_views(similarities: torch.Tensor) -> torch.Tensor:
    """[B, V, C] cosine similarities -> [B, C] class probabilities averaged over views."""
    return similarities.float().softmax(dim=-1).mean(dim=1)
