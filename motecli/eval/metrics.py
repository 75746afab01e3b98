"""Accuracy accumulated chunk by chunk, so evaluation memory does not grow with the
features: only one small record per video (label, prediction, top-5) is kept."""

from __future__ import annotations

import numpy as np
import torch

from ..model.scoring import fuse_views

TOP_K = 5


class Accumulator:
    """Top-1/top-5, per-class accuracy, per-video predictions and half-class figures.

    Half-class figure for subset S (sorted class indices): the videos whose label is
    in S, classified among the classes of S only (softmax over S per view, fused).
    """

    def __init__(self, *, class_names: list[str], half_subsets: list[np.ndarray] | None = None):
        self.class_names = class_names
        self.half_subsets = half_subsets or []
        self.labels: list[np.ndarray] = []
        self.indices: list[np.ndarray] = []
        self.top5: list[np.ndarray] = []
        self.half_correct = np.zeros(len(self.half_subsets), dtype=np.int64)
        self.half_total = np.zeros(len(self.half_subsets), dtype=np.int64)

    def update(self, similarities: torch.Tensor, labels: np.ndarray, indices: np.ndarray) -> None:
        """similarities [B, V, C] (cosine, per view); labels, indices [B]."""
        probs = fuse_views(similarities)  # [B, C]
        k = min(TOP_K, probs.shape[1])
        self.top5.append(probs.topk(k, dim=-1).indices.numpy())
        self.labels.append(np.asarray(labels, dtype=np.int64))
        self.indices.append(np.asarray(indices, dtype=np.int64))
        for h, subset in enumerate(self.half_subsets):
            keep = np.isin(labels, subset)
            if not keep.any():
                continue
            sub = fuse_views(similarities[torch.from_numpy(keep)][:, :, torch.from_numpy(subset)])  # [b, V, |S|] -> [b, |S|]
            pred = subset[sub.argmax(dim=-1).numpy()]
            self.half_correct[h] += int((pred == np.asarray(labels)[keep]).sum())
            self.half_total[h] += int(keep.sum())

    def result(self) -> dict:
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)
        top5 = np.concatenate(self.top5) if self.top5 else np.zeros((0, TOP_K), np.int64)
        indices = np.concatenate(self.indices) if self.indices else np.zeros(0, np.int64)
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
            top5=float(correct5.mean()) if len(labels) else float("nan"),
            mean_class_top1=float(np.mean([v["top1"] for v in per_class.values()])) if per_class else float("nan"),
            per_class=per_class,
            predictions=dict(index=indices.tolist(), label=labels.tolist(), top5=top5.tolist()),
        )
        if self.half_subsets:
            accs = (self.half_correct / np.maximum(self.half_total, 1)).tolist()
            out["half_classes"] = dict(top1=accs, mean=float(np.mean(accs)), std=float(np.std(accs)),
                                       videos=self.half_total.tolist())
        return out
