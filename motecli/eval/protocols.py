"""Evaluation protocols (method section 4): views, splits, half-classes. The summary
scores HM_ZS and trade-off are computed across results files in `results`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..constants import HALF_CLASS_SEEDS, TFM_K, TFM_SCALE, ZERO_SHOT_CLIPS
from ..errors import MoteError

if TYPE_CHECKING:
    from ..cache.source import VideoSource

PROTOCOLS = ("zero-shot", "close-set")
CLOSE_SET_VIEWS = {"1x1": (1, 1), "4x3": (4, 3)}
TOP_K = 5  # top-5 is reported only when there are more than 5 candidate classes


def resolve_views(*, protocol: str, views: str | None, clips: int | None, crops: int | None) -> tuple[int, int]:
    """(clips, crops): zero-shot 3x1; close-set --views 1x1 (default) or 4x3; --clips/--crops override."""
    if protocol not in PROTOCOLS:
        raise MoteError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if views is not None:
        if views not in CLOSE_SET_VIEWS:
            raise MoteError(f"--views {views!r}: expected one of {', '.join(CLOSE_SET_VIEWS)} (or --clips/--crops)")
        base = CLOSE_SET_VIEWS[views]
    else:
        base = (ZERO_SHOT_CLIPS, 1) if protocol == "zero-shot" else CLOSE_SET_VIEWS["1x1"]
    out = (clips or base[0], crops or base[1])
    if out[1] not in (1, 3):
        raise MoteError(f"--crops {out[1]}: expected 1 or 3")
    if out[0] < 1:
        raise MoteError(f"--clips {out[0]}: expected at least 1")
    return out


def parse_splits(split: str, *, num_splits: int) -> list[int]:
    """'1', '2', '3' or 'all' (every split of the dataset)."""
    if split == "all":
        return list(range(1, num_splits + 1))
    if not split.isdigit() or not 1 <= int(split) <= num_splits:
        raise MoteError(f"--split {split!r}: expected 1..{num_splits} or 'all'")
    return [int(split)]


def split_sources(*, dataset: str | None, split: str, list_file, labels, root, config, store) -> list[VideoSource]:
    """The test VideoSources of `--split 1|2|3|all` of a named dataset, or of one list."""
    from ..cache.source import resolve_source

    if dataset is None:
        if split not in ("1", "all"):
            raise MoteError(f"--split {split}: a --list is one split; use --dataset for the official splits")
        return [resolve_source(list_file=list_file, labels=labels, root=root, store=store)]
    from ..data.registry import load_entry

    numbers = parse_splits(split, num_splits=load_entry(dataset, config).num_splits())
    return [resolve_source(dataset=dataset, split=n, list_file=list_file, labels=labels, root=root, config=config,
                           store=store) for n in numbers]  # a --list as well is refused there


def parse_scales(values: list[str], *, default: float = TFM_SCALE) -> tuple[float, ...]:
    """`--tfm-scale` values, each a number or a comma list ('0.04,0.05'), in order; none = the default."""
    out = []
    for value in values or [str(default)]:
        for part in value.split(","):
            try:
                scale = float(part)
            except ValueError:
                raise MoteError(f"--tfm-scale {part.strip()!r}: expected a number such as {default}") from None
            if not scale > 0 or scale == float("inf"):
                raise MoteError(f"--tfm-scale {part.strip()}: expected a positive number")
            out.append(scale)
    return tuple(out)


def parse_ks(values: list[str], *, default: int = TFM_K) -> tuple[int, ...]:
    """`--tfm-k` values, each a whole number or a comma list ('3,5'), in order; none = the default."""
    out = []
    for value in values or [str(default)]:
        for part in value.split(","):
            if not part.strip().isdigit() or int(part) < 1:
                raise MoteError(f"--tfm-k {part.strip()!r}: expected a positive whole number such as {default}")
            out.append(int(part))
    return tuple(out)


def half_class_draws(num_classes: int, seeds: tuple[int, ...] = HALF_CLASS_SEEDS) -> list[np.ndarray]:
    """For each seed s the release's draw: `np.random.seed(s); np.random.permutation(C)[:C // 2]`
    (with a private RandomState, so global numpy state is untouched), sorted."""
    return [np.sort(np.random.RandomState(s).permutation(num_classes)[: num_classes // 2]) for s in seeds]


def half_class_accuracy(view_mean_cosine: np.ndarray, labels: np.ndarray, *, num_classes: int,
                        seeds: tuple[int, ...] = HALF_CLASS_SEEDS) -> dict:
    """Half-classes as the release's `test_zeroshot.py` computes them. Per seed: draw half
    of the class ids; keep the test videos whose label is in the half; the candidate
    classes are the labels present among those videos (`np.unique`, so a drawn class
    without test videos drops out); rank them by the cosine similarity averaged over
    views (the release's softmax after the mean changes no ranking).
    view_mean_cosine [N, C], labels [N]."""
    labels = np.asarray(labels)
    top1, top5, classes, videos = [], [], [], []
    for half in half_class_draws(num_classes, seeds):
        keep = np.isin(labels, half)
        present = np.unique(labels[keep])
        scores = view_mean_cosine[keep][:, present]  # [n, |present|]
        truth = labels[keep]
        # Only the first and the first five ranks count: argmax / argpartition, not a full sort.
        top1.append(float((present[scores.argmax(axis=1)] == truth).mean()) if keep.any() else float("nan"))
        if len(present) > TOP_K:
            best = np.argpartition(-scores, TOP_K - 1, axis=1)[:, :TOP_K]  # [n, 5], unordered
            top5.append(float((present[best] == truth[:, None]).any(axis=1).mean()))
        else:
            top5.append(None)
        classes.append(int(len(present)))
        videos.append(int(keep.sum()))
    out = dict(top1=top1, mean=float(np.mean(top1)), std=float(np.std(top1)), classes=classes, videos=videos,
               top5=top5, top5_mean=None, top5_std=None)
    if None not in top5:
        out.update(top5_mean=float(np.mean(top5)), top5_std=float(np.std(top5)))
    return out


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and population std (numpy's default, ddof=0) over splits; None when a value is
    None (top-5 of a split with 5 classes or fewer)."""
    if any(v is None for v in values):
        return None, None
    return float(np.mean(values)), float(np.std(values))
