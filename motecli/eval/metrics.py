"""Accuracy accumulated chunk by chunk, so evaluation memory does not grow with the
features: only one small record per video (label, prediction, top-5) is kept."""

from __future__ import annotations

import numpy as np
import torch

from ..model.scoring import fuse_views
from .protocols import TOP_K, half_class_accuracy


class Accumulator:
    """Top-1/top-5, per-class accuracy, per-video predictions and half-class figures.

    Half-classes follow the release (`protocols.half_class_accuracy`): they need every
    video's view-averaged cosine similarities [N, C], kept only when `half_seeds` is set.
    Top-5 is None when there are 5 classes or fewer (it would always be 1).
    """

    def __init__(self, *, class_names: list[str], half_seeds: tuple[int, ...] = ()):
        self.class_names = class_names
        self.half_seeds = tuple(half_seeds)
        self.labels: list[np.ndarray] = []
        self.indices: list[np.ndarray] = []
        self.top5: list[np.ndarray] = []
        self.view_mean_cosine: list[np.ndarray] = []

    def update(self, similarities: torch.Tensor, labels: np.ndarray, indices: np.ndarray) -> None:
        """similarities [B, V, C] (cosine, per view); labels, indices [B]."""
        probs = fuse_views(similarities)  # [B, C]
        k = min(TOP_K, probs.shape[1])
        self.top5.append(probs.topk(k, dim=-1).indices.numpy())
        self.labels.append(np.asarray(labels, dtype=np.int64))
        self.indices.append(np.asarray(indices, dtype=np.int64))
        if self.half_seeds:
            self.view_mean_cosine.append(similarities.float().mean(dim=1).numpy())  # [B, V, C] -> [B, C]

    def result(self) -> dict:
        """Figures, and per-video records in list order (chunks may arrive in any order)."""
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)
        top5 = np.concatenate(self.top5) if self.top5 else np.zeros((0, TOP_K), np.int64)
        indices = np.concatenate(self.indices) if self.indices else np.zeros(0, np.int64)
        order = np.argsort(indices, kind="stable")
        labels, top5, indices = labels[order], top5[order], indices[order]
        pred = top5[:, 0] if len(top5) else labels
        correct1 = pred == labels
        correct5 = (top5 == labels[:, None]).any(axis=1) if len(top5) else correct1
        per_class = {}
        for c, name in enumerate(self.class_names):
            mask = labels == c
            if mask.any():
                per_class[name] = dict(top1=float(correct1[mask].mean()), videos=int(mask.sum()))
        out = dict(
            videos=int(len(labels)),
            top1=float(correct1.mean()) if len(labels) else float("nan"),
            top5=(float(correct5.mean()) if len(labels) else float("nan")) if len(self.class_names) > TOP_K else None,
            mean_class_top1=float(np.mean([v["top1"] for v in per_class.values()])) if per_class else float("nan"),
            per_class=per_class,
            predictions=dict(index=indices.tolist(), label=labels.tolist(), top5=top5.tolist()),
        )
        if self.half_seeds:
            sims = np.concatenate(self.view_mean_cosine)[order] if self.view_mean_cosine else np.zeros((0, len(self.class_names)))
            out["half_classes"] = half_class_accuracy(sims, labels, num_classes=len(self.class_names), seeds=self.half_seeds)
        return out
