"""Per-view cosine similarities for one or several modulation settings at once, two ways.

The head path (`view_similarities`): z = alpha * Temporal(x + P) + x on frame features;
Temporal does not depend on alpha, so a sweep runs the transformer once per chunk and
only recombines per setting. It is the reference, used on decoded videos
(`--from-videos`) and with `--no-head-cache`.

The matrix path, on the head cache's two vectors per view a = mean_T Temporal(x + P)
and m = mean_T x (cache/heads.py): with G the unit class texts, mean_T z = alpha * a + m, so

    cos = (alpha * a.G + m.G) / |alpha * a + m|,  |alpha a + m|^2 = alpha^2 a.a + 2 alpha a.m + m.m

`block_products` computes a.G and m.G once per block of rows for the class texts of
every split that lists them (K600's three class lists share most classes and videos),
and m.F for modulation (c = m/|m| ranks classes as m does); `split_similarities` then
only gathers a split's rows and columns and combines them elementwise per setting, k
and scale: alpha's k x k similarities G_k F_k^T are read from the split's G F^T table.
Both paths feed the same accumulators (eval/metrics.py: the one place fusion and
half-classes are computed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..model.modulation import alpha_from_similarity, similarity_from_frame_mean
from ..model.scoring import cosine_scores
from ..model.temporal import MoTEHead, video_embedding
from .metrics import Accumulator

HEAD_BATCH = 512  # views per head call: bounds activation memory on long chunks
NORM_EPS = 1e-12  # F.normalize's


@dataclass(frozen=True)
class Modulation:
    """Temporal feature modulation settings; `scales` empty means alpha = 1. `k` may be
    several values: the settings are every (k, scale), k outer."""

    finetune_text: torch.Tensor  # [C_ft, D]
    k: int | tuple[int, ...]
    scales: tuple[float, ...]

    @property
    def enabled(self) -> bool:
        return bool(self.scales)

    @property
    def ks(self) -> tuple[int, ...]:
        return (self.k,) if isinstance(self.k, int) else tuple(self.k)

    @property
    def settings(self) -> list[tuple[int, float] | None]:
        """(k, scale) per result, or [None] (alpha = 1) when off."""
        return [(k, s) for k in self.ks for s in self.scales] if self.enabled else [None]


def _alphas(frame_mean: torch.Tensor, test_text: torch.Tensor, modulation: Modulation | None) -> Sequence[torch.Tensor | float]:
    """One alpha per setting: a float (off) or one value per view [n]."""
    if modulation is None or not modulation.enabled:
        return (1.0,)
    sims = similarity_from_frame_mean(frame_mean, finetune_text=modulation.finetune_text, test_text=test_text,
                                      ks=modulation.ks)
    return [alpha_from_similarity(s, scale=scale) for s in sims for scale in modulation.scales]


@torch.no_grad()
def view_similarities(
    head: MoTEHead, features: torch.Tensor, *, test_text: torch.Tensor, modulation: Modulation | None,
) -> list[torch.Tensor]:
    """The head path: frame features [B, V, T, D] -> one [B, V, C] cosine tensor per setting."""
    b, v = features.shape[:2]
    x = features.float().flatten(0, 1)  # [B*V, T, D]: every view on its own
    out: list[list[torch.Tensor]] = [[] for _ in (modulation.settings if modulation else [None])]
    for start in range(0, x.shape[0], HEAD_BATCH):
        xs = x[start : start + HEAD_BATCH]
        t = head.temporal(xs)
        for i, alpha in enumerate(_alphas(xs.mean(dim=1), test_text, modulation)):
            if isinstance(alpha, torch.Tensor):
                alpha = alpha.view(-1, 1, 1)  # [n] -> [n, 1, 1]
            out[i].append(cosine_scores(video_embedding(alpha * t + xs), test_text))
    return [torch.cat(parts).view(b, v, -1) for parts in out]  # [B*V, C] -> [B, V, C]


@dataclass
class BlockProducts:
    """Products of a block of head-cache rows (n videos x V views) with the class texts of
    every split of a group, computed once and shared by the splits that list the videos."""

    views: int
    ag: torch.Tensor  # [n*V, Cu]: a . g for each unit class text of the group
    mg: torch.Tensor  # [n*V, Cu]: m . g
    aa: torch.Tensor  # [n*V]: a . a
    am: torch.Tensor  # [n*V]
    mm: torch.Tensor  # [n*V]
    f_top: torch.Tensor | None  # [n*V, K]: fine-tuning classes nearest to normalize(m), nearest first


@torch.no_grad()
def block_products(temporal_mean: torch.Tensor, frame_mean: torch.Tensor, *, texts: torch.Tensor,
                   modulation: Modulation | None) -> BlockProducts:
    """a, m [n, V, D] and unit class texts [Cu, D] -> the products every setting is built from."""
    n, v, d = temporal_mean.shape
    a = temporal_mean.float().reshape(n * v, d)  # [n*V, D]
    m = frame_mean.float().reshape(n * v, d)
    f_top = None
    if modulation is not None and modulation.enabled:
        f = modulation.finetune_text.float()
        # c = m / |m| ranks fine-tuning classes as m does.
        f_top = (m @ f.T).topk(min(max(modulation.ks), f.shape[0]), dim=-1).indices
    return BlockProducts(views=v, ag=a @ texts.T, mg=m @ texts.T, aa=(a * a).sum(-1), am=(a * m).sum(-1),
                         mm=(m * m).sum(-1), f_top=f_top)


@torch.no_grad()
def split_similarities(p: BlockProducts, videos: torch.Tensor, columns: torch.Tensor, *, test_text: torch.Tensor,
                       modulation: Modulation | None, text_products: torch.Tensor | None = None) -> list[torch.Tensor]:
    """One split's cosines [B, V, C] per setting, for block rows `videos` [B] (repeats allowed)
    and its classes at `columns` [C] of the group's texts. `text_products` = test_text @
    finetune_text.T [C, C_ft] (computed once per split; modulation's k x k similarities)."""
    rows = (videos[:, None] * p.views + torch.arange(p.views)).reshape(-1, 1)  # [B*V, 1]: view rows
    ag, mg = p.ag[rows, columns[None, :]], p.mg[rows, columns[None, :]]  # [B*V, C]
    aa, am, mm = p.aa[rows[:, 0]], p.am[rows[:, 0]], p.mm[rows[:, 0]]  # [B*V]
    alphas: Sequence[torch.Tensor | float] = (1.0,)
    if modulation is not None and modulation.enabled:
        if text_products is None:
            text_products = test_text.float() @ modulation.finetune_text.float().T
        g_top = mg.topk(min(max(modulation.ks), mg.shape[1]), dim=-1).indices  # [B*V, K]: c . g ranks as m . g
        f_top = p.f_top[rows[:, 0]]
        alphas = []
        for k in modulation.ks:
            g_idx, f_idx = g_top[:, : min(k, g_top.shape[1])], f_top[:, : min(k, f_top.shape[1])]
            sim = text_products[g_idx[:, :, None], f_idx[:, None, :]]  # [B*V, k, k] = G_k F_k^T
            s = sim.max(dim=-1).values.mean(dim=-1)
            alphas += [alpha_from_similarity(s, scale=scale) for scale in modulation.scales]
    out = []
    b = videos.shape[0]
    for alpha in alphas:
        norm = (alpha * alpha * aa + 2 * alpha * am + mm).clamp_min(0).sqrt().clamp_min(NORM_EPS)  # |alpha a + m|
        alpha = alpha.unsqueeze(-1) if isinstance(alpha, torch.Tensor) else alpha  # [B*V] -> [B*V, 1]
        out.append(((alpha * ag + mg) / norm.unsqueeze(-1)).view(b, p.views, -1))  # [B*V, C] -> [B, V, C]
    return out


def similarities_from_means(
    temporal_mean: torch.Tensor, frame_mean: torch.Tensor, *, test_text: torch.Tensor, modulation: Modulation | None,
) -> list[torch.Tensor]:
    """The matrix path for one class list: a, m [B, V, D] -> one [B, V, C] cosine tensor per setting."""
    texts = F.normalize(test_text.float(), dim=-1)
    p = block_products(torch.as_tensor(temporal_mean), torch.as_tensor(frame_mean), texts=texts, modulation=modulation)
    everything = torch.arange(temporal_mean.shape[0])
    return split_similarities(p, everything, torch.arange(texts.shape[0]), test_text=test_text, modulation=modulation)


def score_chunk(head: MoTEHead, features: np.ndarray | torch.Tensor, labels: np.ndarray, indices: np.ndarray, *,
                test_text: torch.Tensor, modulation: Modulation | None, accumulators: list[Accumulator]) -> None:
    """The head path on one chunk of frame features [B, V, T, D], one accumulator per setting."""
    feats = torch.from_numpy(features) if isinstance(features, np.ndarray) else features
    for acc, sims in zip(accumulators, view_similarities(head, feats, test_text=test_text, modulation=modulation)):
        acc.update(sims, labels, indices)


def score_means(temporal_mean: np.ndarray | torch.Tensor, frame_mean: np.ndarray | torch.Tensor, labels: np.ndarray,
                indices: np.ndarray, *, test_text: torch.Tensor, modulation: Modulation | None,
                accumulators: list[Accumulator]) -> None:
    """The matrix path on one chunk of head-cache rows [B, V, D], one accumulator per setting."""
    a, m = torch.as_tensor(temporal_mean), torch.as_tensor(frame_mean)
    for acc, sims in zip(accumulators, similarities_from_means(a, m, test_text=test_text, modulation=modulation)):
        acc.update(sims, labels, indices)
