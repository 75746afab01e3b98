"""Temporal feature modulation (method section 5), test time only.

alpha shrinks the temporal contribution when the test classes are semantically
far from the fine-tuning classes, judged by each video's nearest classes.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..constants import TFM_K, TFM_SCALE


def modulation_similarity(
    frame_features: torch.Tensor,
    *,
    finetune_text: torch.Tensor,
    test_text: torch.Tensor,
    k: int = TFM_K,
) -> torch.Tensor:
    """s per video: mean over the k nearest test classes of their best match among
    the k nearest fine-tuning classes. frame_features [B, T, D] -> s [B]."""
    frame_mean = frame_features.float().mean(dim=1)  # [B, D]
    return similarity_from_frame_mean(frame_mean, finetune_text=finetune_text, test_text=test_text, ks=(k,))[0]


def similarity_from_frame_mean(
    frame_mean: torch.Tensor,
    *,
    finetune_text: torch.Tensor,
    test_text: torch.Tensor,
    ks: Sequence[int] = (TFM_K,),
) -> list[torch.Tensor]:
    """s for each k in `ks` from mean_T x [B, D] alone: s depends on nothing else of the
    video, which is what lets the head cache store two vectors per view. One k is exactly
    `modulation_similarity`; several share one top-k (the first k of a sorted top-K)."""
    c = F.normalize(frame_mean.float(), dim=-1)  # [B, D]
    g = test_text.float().to(c.device)
    f = finetune_text.float().to(c.device)
    top = max(ks)
    g_top = (c @ g.T).topk(min(top, g.shape[0]), dim=-1).indices  # [B, K], sorted by similarity
    f_top = (c @ f.T).topk(min(top, f.shape[0]), dim=-1).indices  # [B, K]
    out = []
    for k in ks:
        g_idx, f_idx = g_top[:, : min(k, g.shape[0])], f_top[:, : min(k, f.shape[0])]  # [B, k]
        sim = torch.einsum("bkd,bjd->bkj", g[g_idx], f[f_idx])  # [B, k, k]
        out.append(sim.max(dim=-1).values.mean(dim=-1))
    return out


def modulation_alpha(
    frame_features: torch.Tensor,
    *,
    finetune_text: torch.Tensor,
    test_text: torch.Tensor,
    k: int = TFM_K,
    scale: float = TFM_SCALE,
) -> torch.Tensor:
    """alpha = exp(-(1 - s) / scale), one value per video [B]."""
    s = modulation_similarity(frame_features, finetune_text=finetune_text, test_text=test_text, k=k)
    return alpha_from_similarity(s, scale=scale)


def alpha_from_similarity(s: torch.Tensor, *, scale: float = TFM_SCALE) -> torch.Tensor:
    """The scale enters only here, so a sweep over scales computes s once."""
    return torch.exp(-(1.0 - s) / scale)
