"""The head on frame features, for one or several modulation scales at once.

z = alpha * Temporal(x + P) + x: Temporal does not depend on alpha, so a sweep over
scales runs the transformer once per chunk and only recombines per scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..model.modulation import alpha_from_similarity, modulation_similarity
from ..model.temporal import MoTEHead, video_embedding
from ..model.scoring import cosine_scores
from .metrics import Accumulator

HEAD_BATCH = 512  # views per head call: bounds activation memory on long chunks


@dataclass(frozen=True)
class Modulation:
    """Temporal feature modulation settings; `scales` empty means alpha = 1."""

    finetune_text: torch.Tensor  # [C_ft, D]
    k: int
    scales: tuple[float, ...]

    @property
    def enabled(self) -> bool:
        return bool(self.scales)


@torch.no_grad()
def view_similarities(
    head: MoTEHead, features: torch.Tensor, *, test_text: torch.Tensor, modulation: Modulation | None,
) -> list[torch.Tensor]:
    """Frame features [B, V, T, D] -> one [B, V, C] cosine tensor per scale (one if off)."""
    b, v = features.shape[:2]
    x = features.float().flatten(0, 1)  # [B*V, T, D]: every view on its own
    out: list[list[torch.Tensor]] = [[] for _ in (modulation.scales if modulation and modulation.enabled else (None,))]
    for start in range(0, x.shape[0], HEAD_BATCH):
        xs = x[start : start + HEAD_BATCH]
        t = head.temporal(xs)
        for i, alpha in enumerate(_alphas(xs, test_text, modulation)):
            if isinstance(alpha, torch.Tensor):
                alpha = alpha.view(-1, 1, 1)  # [n] -> [n, 1, 1]
            out[i].append(cosine_scores(video_embedding(alpha * t + xs), test_text))
    return [torch.cat(parts).view(b, v, -1) for parts in out]  # [B*V, C] -> [B, V, C]


def _alphas(x: torch.Tensor, test_text: torch.Tensor, modulation: Modulation | None) -> Sequence[torch.Tensor | float]:
    if modulation is None or not modulation.enabled:
        return (1.0,)
    s = modulation_similarity(x, finetune_text=modulation.finetune_text, test_text=test_text, k=modulation.k)
    return [alpha_from_similarity(s, scale=scale) for scale in modulation.scales]


def score_chunk(head: MoTEHead, features: np.ndarray | torch.Tensor, labels: np.ndarray, indices: np.ndarray, *,
                test_text: torch.Tensor, modulation: Modulation | None, accumulators: list[Accumulator]) -> None:
    """Feed one chunk of frame features [B, V, T, D] into one accumulator per scale."""
    feats = torch.from_numpy(features) if isinstance(features, np.ndarray) else features
    for acc, sims in zip(accumulators, view_similarities(head, feats, test_text=test_text, modulation=modulation)):
        acc.update(sims, labels, indices)
