"""Few-shot (method section 4): seeded K-shot lists, and a fast head-only path.

Lists: with `rng = np.random.default_rng(seed)`, for each class in label order a
permutation of that class's train videos (in list order) is drawn and its first K
kept, so the K-shot sets of one seed are nested (the 2-shot videos are in the
4-shot set). The drawn videos, in class order, are repeated and cut to the size
of the full train split. A list file plus a `.json` with the provenance is written.

Head-only path: the temporal head (from the merged model) is trained on cached
frame features of the distinct K-shot videos (one view, test sampling: no
augmentation, CLIP frozen), with CE on `exp(logit_scale) * v . t_c`, AdamW as the
method's head settings, for `epochs` passes over the repeated list; then the test
split is evaluated with one view. A quick proxy for `mote train` with a few-shot
recipe, not the paper's protocol (which fine-tunes CLIP too).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..constants import ADAM_BETAS, ADAM_EPS, FEW_SHOT_KS, HEAD_LR, WEIGHT_DECAY
from ..errors import MoteError

log = logging.getLogger("mote")
HEAD_TRAIN_BATCH = 64


@dataclass
class FewShotList:
    k: int
    path: Path
    unique: int
    total: int


def parse_counts(text: str, *, option: str = "--shots", minimum: int = 1) -> tuple[int, ...]:
    """`--shots 2,4,8,16` or `--seeds 0,1,2`: distinct whole numbers >= `minimum`, comma separated; sorted."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < minimum:
            example = ",".join(map(str, FEW_SHOT_KS))
            raise MoteError(f"{option} {text!r}: expected comma-separated whole numbers >= {minimum} "
                            f"(e.g. {example}); {part!r} is not one")
        values.append(int(part))
    if len(set(values)) != len(values):
        raise MoteError(f"{option} {text!r}: a value is repeated")
    return tuple(sorted(values))


def parse_shots(text: str) -> tuple[int, ...]:
    """`--shots 2,4,8,16`: the K values, distinct positive whole numbers."""
    return parse_counts(text, option="--shots", minimum=1)


def draw_few_shot(items: list[tuple[str, int]], *, num_classes: int, k: int, seed: int,
                  source: str = "train list") -> list[tuple[str, int]]:
    """K videos per class, seeded and nested across K (see the module docstring)."""
    rng = np.random.default_rng(seed)
    by_class: list[list[tuple[str, int]]] = [[] for _ in range(num_classes)]
    for item in items:
        by_class[item[1]].append(item)
    drawn = []
    for c, videos in enumerate(by_class):
        order = rng.permutation(len(videos))
        if len(videos) < k:
            raise MoteError(f"{source}: class {c} has {len(videos)} train videos, fewer than K={k}")
        drawn += [videos[i] for i in order[:k]]
    return drawn


def repeat_to(items: list, total: int) -> list:
    """`items` repeated and cut to `total` lines (the size of the full train split)."""
    return (items * math.ceil(total / len(items)))[:total]


def write_few_shot_lists(source, *, shots: list[int], seed: int, out_dir: str | Path) -> list[FewShotList]:
    videos = source.videos
    out_dir = Path(out_dir)
    labels_file = out_dir / f"{source.name}-labels.txt"
    with atomic_path(labels_file) as tmp:
        tmp.write_text("".join(f"{name}\n" for name in videos.class_names))
    written = []
    for k in shots:
        if k < 1:
            raise MoteError(f"K={k}: expected a positive number of videos per class")
        drawn = draw_few_shot(videos.items, num_classes=len(videos.class_names), k=k, seed=seed, source=videos.source)
        lines = repeat_to(drawn, len(videos))
        path = out_dir / f"{source.name}-{k}shot-seed{seed}.txt"
        with atomic_path(path) as tmp:
            tmp.write_text("".join(f"{rel} {label}\n" for rel, label in lines))
        meta = dict(k=k, seed=seed, source=videos.source, list_fingerprint=videos.fingerprint(), root=str(videos.root),
                    labels=str(labels_file), drawn=[list(item) for item in drawn], lines=len(lines))
        with atomic_path(path.with_name(path.name + ".json")) as tmp:
            tmp.write_text(json.dumps(meta, indent=1) + "\n")
        written.append(FewShotList(k, path, len(drawn), len(lines)))
    return written


def train_head(head, features, labels, *, rows: list[int], text, logit_scale, epochs: int, seed: int,
               lr: float = HEAD_LR):
    """Head-only training: features [n, T, D] of the distinct videos, `rows` the
    repeated list as row numbers; one epoch = one shuffled pass over `rows`."""
    import torch
    import torch.nn.functional as F

    from ..model.temporal import video_embedding

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
    order_rows = torch.as_tensor(rows)
    scale = float(logit_scale.exp())
    head.train()
    for _ in range(epochs):
        for batch in order_rows[torch.randperm(len(rows), generator=gen)].split(HEAD_TRAIN_BATCH):
            v = video_embedding(head(features[batch]))
            loss = F.cross_entropy(scale * v @ text.T, labels[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return head.eval()


@dataclass
class HeadFit:
    """A head trained on a K-shot list by `fit_head`."""

    head: object  # the collapsed MoTEHead, in eval mode
    text: object  # [C, D] class embeddings of the list's classes (the checkpoint's text encoder)
    videos: int  # distinct decodable training videos
    lines: int  # list lines trained on (undecodable videos drop out)
    seconds: float  # training time, caches excluded


def _cached_features(source, *, checkpoint: Path, num_frames: int, batch_size: int | None, workers: int | None,
                     device: str, precision: str):
    """The one-view frame cache of `source` with `checkpoint`'s image encoder, filled where missing."""
    from ..cache.encode import encode_frames

    enc = encode_frames(source, checkpoint=checkpoint, num_frames=num_frames, clips=1, crops=1,
                        batch_size=batch_size, workers=workers, device=device, precision=precision, rank=0, world=1)
    if not enc.complete:  # encode_frames has just validated every shard
        enc.cache.require_complete()  # raises, naming how many are missing
    return enc.cache


def fit_head(*, train, checkpoint: Path, num_frames: int, epochs: int, seed: int, templates: list[str],
             batch_size: int | None = 8, workers: int | None = 0, device: str = "auto",
             precision: str = "auto") -> HeadFit:
    """Train the merged head of `checkpoint` on the distinct videos of the K-shot list
    `train` (cached one-view features, CLIP frozen): the head-only proxy."""
    import torch

    from ..cache.source import unique_source
    from ..checkpoints.merged import load_head, read_merged_metadata
    from .runner import EvalSettings, class_text_embeddings

    meta = read_merged_metadata(checkpoint)
    settings = EvalSettings(checkpoint=checkpoint, protocol="close-set", clips=1, crops=1, num_frames=num_frames,
                            modulation=False, scales=(), k=0, templates=templates, device=device)
    text, _, _ = class_text_embeddings(meta, train.videos.class_names, settings)
    distinct, rows = unique_source(train)
    cache = _cached_features(distinct, checkpoint=checkpoint, num_frames=num_frames, batch_size=batch_size,
                             workers=workers, device=device, precision=precision)
    chunks = list(cache.iter_chunks())
    feats = torch.from_numpy(np.concatenate([c.features[:, 0] for c in chunks])).float()  # [n, 1, T, D] -> [n, T, D]
    labels = torch.from_numpy(np.concatenate([c.labels for c in chunks]))
    position = {int(i): p for p, i in enumerate(np.concatenate([c.indices for c in chunks]))}
    usable = [position[r] for r in rows if r in position]  # undecodable train videos drop out
    if not usable:
        raise MoteError(f"{train.videos.source}: no decodable training video")
    head, logit_scale, _ = load_head(checkpoint, meta)
    started = time.perf_counter()
    head = train_head(head, feats, labels, rows=usable, text=text, logit_scale=logit_scale, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - started
    log.info("head trained on %d cached videos (%d list lines) for %d epochs in %.1f s",
             len(position), len(usable), epochs, seconds)
    return HeadFit(head=head, text=text, videos=len(position), lines=len(usable), seconds=seconds)


def few_shot_head(*, train, test, checkpoint: Path, num_frames: int, epochs: int, seed: int, templates: list[str],
                  results_dir: str | Path, batch_size: int | None = 8, workers: int | None = 0, device: str = "auto",
                  precision: str = "auto") -> dict:
    from ..cache.heads import view_means
    from .metrics import Accumulator
    from .report import write_results
    from .scoring import score_means

    if train.videos.class_names != test.videos.class_names:
        raise MoteError("few-shot train and test lists must share the class names (same --labels)")
    fit = fit_head(train=train, checkpoint=checkpoint, num_frames=num_frames, epochs=epochs, seed=seed,
                   templates=templates, batch_size=batch_size, workers=workers, device=device, precision=precision)
    test_cache = _cached_features(test, checkpoint=checkpoint, num_frames=num_frames, batch_size=batch_size,
                                  workers=workers, device=device, precision=precision)
    acc = Accumulator(class_names=test.videos.class_names)
    for chunk in test_cache.iter_chunks():  # the trained head lives in memory: its head pass is not cached
        temporal_mean, frame_mean = view_means(fit.head, chunk.features)
        score_means(temporal_mean, frame_mean, chunk.labels, chunk.indices, test_text=fit.text, modulation=None,
                    accumulators=[acc])
    result = acc.result()
    result.update(train_list=train.videos.source, train_fingerprint=train.videos.fingerprint(),
                  test_list=test.videos.source, list_fingerprint=test.videos.fingerprint(),
                  excluded=len(test_cache.failures()), epochs=epochs, seed=seed, train_seconds=fit.seconds,
                  checkpoint=str(checkpoint), views="1x1", format="mote-few-shot-head")
    path = Path(results_dir) / f"{test.name}-fewshot-head-{train.name}.json"
    write_results(path, result)
    result["results_file"] = str(path)
    return result
