"""One evaluation: a merged model and one or more splits in, a results dict per split out.

Splits are grouped by the frame cache they read (one per collection of videos: K600's
three lists are one group). Per group, when the head cache of this checkpoint lacks a
listed video: the frame cache is filled where missing (each distinct video decoded and
encoded once, whichever lists name it) and the missing frame shards go through the head
once (cache/heads.py). Then one pass over the head cache scores every split of the
group, every modulation setting, as matrix products (eval/scoring.py). The frame cache
is not read at all when the head cache is complete. `head_cache=False` runs the head
on the frame features instead (the reference path), `from_videos=True` decodes the
videos instead of using any cache (same float16 rounding of frame features, so the
same predictions): the baselines the caches are measured against.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache.encode import (
    DEFAULT_SHARD_SIZE, count_backends, encode_frames, encode_setup, encoder_identity, frame_features, load_visual,
    log_backends, open_frame_cache,
)
from ..cache.frames import FrameCache
from ..cache.heads import fill_head_cache, head_sha256, open_head_cache
from ..cache.shards import iter_rows
from ..cache.source import VideoSource, eval_loader
from ..constants import HALF_CLASS_SEEDS
from ..errors import MoteError
from ..checkpoints.merged import load_head, read_merged_metadata, read_merged_tensors
from ..model.runtime import resolve_device
from .metrics import Accumulator
from .protocols import mean_std, split_sources  # noqa: F401  (split_sources: public here too)
from .scoring import BlockProducts, Modulation, block_products, score_chunk, split_similarities

log = logging.getLogger("mote")


@dataclass
class EvalSettings:
    checkpoint: Path
    protocol: str
    clips: int
    crops: int
    num_frames: int
    modulation: bool
    scales: tuple[float, ...]
    k: int
    templates: list[str]
    ks: tuple[int, ...] = ()  # a sweep over k (one file holds every (k, scale)); empty: just `k`
    half_classes: bool = False
    patch_alpha: float | None = None
    original: str | None = None
    text_pretrained: str | None = None  # overrides the checkpoint's text-encoder weights
    from_videos: bool = False
    head_cache: bool = True  # False: run the head on the frame features (the reference path)
    batch_size: int | None = 8  # videos per batch; None = from batch_frames
    workers: int | None = 0  # None = env.default_workers()
    device: str = "auto"
    shard_size: int = DEFAULT_SHARD_SIZE
    precision: str = "auto"  # of the image encoder: auto | fp32 | bf16 | fp16 (model.runtime)
    batch_frames: int | None = None  # frames per encoder call; None = the device's default

    @property
    def k_values(self) -> tuple[int, ...]:
        return self.ks or (self.k,)

    def describe(self) -> dict:
        import hashlib

        return dict(
            checkpoint=str(self.checkpoint), protocol=self.protocol, clips=self.clips, crops=self.crops,
            views=self.clips * self.crops, num_frames=self.num_frames, modulation=self.modulation,
            tfm_scales=list(self.scales), tfm_k=self.k, tfm_ks=list(self.k_values), half_classes=self.half_classes,
            patch_alpha=self.patch_alpha, original=self.original, num_templates=len(self.templates),
            templates_sha256=hashlib.sha256("\n".join(self.templates).encode()).hexdigest(),
            text_pretrained=self.text_pretrained, from_videos=self.from_videos,
            precision=self.precision,
            scoring="head cache (matrix products)" if self.head_cache and not self.from_videos else "head on frame features",
            fusion="per-view cosine (no logit scale) -> softmax over classes -> mean over views",
            half_classes_fusion="cosine averaged over views -> softmax over the half's classes present in the test set",
        )


def class_text_embeddings(meta: dict, class_names: list[str], settings: EvalSettings) -> tuple[torch.Tensor, str, bool]:
    """Class embeddings of the test classes with the checkpoint's frozen text encoder;
    their weights id; whether the text cache held them."""
    from ..text.encode import cached_text_embeddings

    from ..model.identity import looks_like_path

    clip = meta["clip"]
    # Metadata stores random init as None, which the text path would read as "the default" (openai).
    pretrained = settings.text_pretrained or clip["pretrained"] or "none"
    # Tags and random init fix their own activation; passing None shares the cache entry
    # with a plain `mote encode-text`. Only a local file needs the stored choice.
    quick_gelu = clip["quick_gelu"] if pretrained and looks_like_path(pretrained) else None
    res = cached_text_embeddings(
        model=clip["model"], pretrained=pretrained, quick_gelu=quick_gelu,
        class_names=class_names, templates=settings.templates, device=settings.device,
    )
    text = torch.from_numpy(res.embeddings.embeddings).float()
    if text.shape[1] != meta["model_config"]["embed_dim"]:
        raise MoteError(f"{res.path}: text embeddings of width {text.shape[1]}, the model's is {meta['model_config']['embed_dim']}")
    return text, res.embeddings.weights_id, res.hit


@dataclass
class _Split:
    """One split being scored: its class texts, one accumulator per setting, what it read."""

    source: VideoSource
    text: torch.Tensor  # [C, D]
    text_id: str
    text_hit: bool
    accumulators: list[Accumulator]
    keys: list[str] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    frame_cache: dict | None = None
    head_cache: dict | None = None
    backends: Counter = field(default_factory=Counter)
    encoded_on: tuple[str | None, str | None] = (None, None)  # device, precision of this call's encoding

    def positions(self) -> dict[str, list[int]]:
        """video key -> its list positions (a list may name a video twice)."""
        out: dict[str, list[int]] = {}
        for pos, key in enumerate(self.keys):
            out.setdefault(key, []).append(pos)
        return out


def evaluate_split(source: VideoSource, settings: EvalSettings) -> list[dict]:
    """One result dict per modulation setting (one if modulation is off) for one split."""
    return evaluate_sources([source], settings)[0]


def evaluate_sources(sources: list[VideoSource], settings: EvalSettings) -> list[list[dict]]:
    """Per split, one result dict per modulation setting; splits sharing a cache are read in one pass."""
    started = time.perf_counter()
    meta = read_merged_metadata(settings.checkpoint)
    finetune_text = read_merged_tensors(settings.checkpoint, prefixes=("class_embeddings",))["class_embeddings"]
    head = functools.cache(lambda: load_head(settings.checkpoint, meta)[0])  # built on first use: a head-cache hit never needs it
    modulation = Modulation(finetune_text=finetune_text.float(), k=settings.k_values,
                            scales=settings.scales if settings.modulation else ())
    splits = [_new_split(source, meta, settings, len(modulation.settings)) for source in sources]
    if settings.from_videos:
        for split in splits:
            split.failures = _score_from_videos(split, settings, head(), modulation)
    else:
        for cache, group in _frame_cache_groups(splits, settings):
            _evaluate_group(cache, group, head, modulation, settings)
    seconds = time.perf_counter() - started
    log.info("%d splits scored in %.2f s", len(splits), seconds)
    return [_split_results(split, modulation, seconds) for split in splits]


def _new_split(source: VideoSource, meta: dict, settings: EvalSettings, num_settings: int) -> _Split:
    text, text_id, text_hit = class_text_embeddings(meta, source.videos.class_names, settings)
    half_seeds = HALF_CLASS_SEEDS if settings.half_classes else ()
    accs = [Accumulator(class_names=source.videos.class_names, half_seeds=half_seeds) for _ in range(num_settings)]
    keys = [] if settings.from_videos else source.video_keys()
    return _Split(source=source, text=text, text_id=text_id, text_hit=text_hit, accumulators=accs, keys=keys)


def _frame_cache_groups(splits: list[_Split], settings: EvalSettings) -> list[tuple[FrameCache, list[_Split]]]:
    """Splits grouped by the frame cache they read, in first-seen order."""
    groups: dict[Path, tuple[FrameCache, list[_Split]]] = {}
    for split in splits:
        cache = open_frame_cache(split.source, checkpoint=settings.checkpoint, num_frames=settings.num_frames,
                                 clips=settings.clips, crops=settings.crops, shard_size=settings.shard_size,
                                 patch_alpha=settings.patch_alpha, original=settings.original)
        groups.setdefault(cache.path, (cache, []))[1].append(split)
    return list(groups.values())


def _evaluate_group(cache: FrameCache, group: list[_Split], head, modulation: Modulation, settings: EvalSettings) -> None:
    wanted = {key for split in group for key in split.keys}
    heads = open_head_cache(cache, checkpoint=settings.checkpoint, head_id=head_sha256(settings.checkpoint)) \
        if settings.head_cache else None
    complete = heads is not None and wanted <= heads.scan().where.keys()
    encoded = {id(split): 0 for split in group}
    if not complete:
        for split in group:  # each distinct video is encoded once, by the first list naming it
            enc = encode_frames(split.source, checkpoint=settings.checkpoint, num_frames=settings.num_frames,
                                clips=settings.clips, crops=settings.crops, batch_size=settings.batch_size,
                                batch_frames=settings.batch_frames, workers=settings.workers, device=settings.device,
                                precision=settings.precision, patch_alpha=settings.patch_alpha,
                                original=settings.original, rank=0, world=1, cache=cache)
            if not enc.complete:  # encode_frames has just validated every shard
                enc.cache.require_complete()  # raises, naming how many are missing
            encoded[id(split)] = enc.encoded_videos
            split.backends, split.encoded_on = enc.backends, (enc.device, enc.precision)
    computed = 0
    if heads is None:
        _score_rows(cache, group, ("features",), lambda data: data["features"],
                    partial(_score_features, head=head(), modulation=modulation))
    else:
        if not complete:
            computed = fill_head_cache(cache, heads, head().to(resolve_device(settings.device)),
                                       keys=wanted).computed_videos
            head().cpu()
        texts, columns = _group_texts(group)
        tables = [s.text.float() @ modulation.finetune_text.T if modulation.enabled else None for s in group]
        _score_rows(heads, group, ("temporal_mean", "frame_mean"),
                    lambda data: block_products(torch.from_numpy(data["temporal_mean"]),
                                                torch.from_numpy(data["frame_mean"]), texts=texts, modulation=modulation),
                    partial(_score_products, columns=dict(zip(map(id, group), columns)),
                            tables=dict(zip(map(id, group), tables)), modulation=modulation))
    for split in group:
        split.frame_cache = dict(path=str(cache.path), key=cache.key, encoded_videos_now=encoded[id(split)],
                                 encoded_on=split.encoded_on[0], encoded_precision=split.encoded_on[1])
        if heads is not None:
            split.head_cache = dict(path=str(heads.path), key=heads.key, computed_videos_now=computed)


def _group_texts(group: list[_Split]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The unit class texts of every split of a group, each distinct row once (K600's lists
    share most classes), and for each split the columns of its classes."""
    rows: dict[bytes, int] = {}
    unique, columns = [], []
    for split in group:
        unit = F.normalize(split.text.float(), dim=-1)
        cols = []
        for row in unit:
            key = row.numpy().tobytes()  # the same class text, bit for bit
            if key not in rows:
                rows[key] = len(unique)
                unique.append(row)
            cols.append(rows[key])
        columns.append(torch.tensor(cols, dtype=torch.long))
    return torch.stack(unique), columns


def _score_rows(cache, group: list[_Split], arrays: tuple[str, ...], prepare, score) -> None:
    """One pass over the cache rows of every split of the group: each block of rows is
    prepared once (`prepare(arrays)`) and scored for every split that lists its videos, at
    each of their list positions (`score(split, prepared, rows, labels, positions)`)."""
    positions = [split.positions() for split in group]
    labels = [np.array([label for _, label in split.source.videos.items], dtype=np.int64) for split in group]
    for block in iter_rows(cache, set().union(*positions), arrays):
        prepared = prepare(block.arrays)
        for split, where, split_labels in zip(group, positions, labels):
            rows, pos = [], []
            for row, key in enumerate(block.videos):
                for p in where.get(key, ()):
                    if block.ok[row]:
                        rows.append(row)
                        pos.append(p)
                    else:
                        split.failures.append((p, split.source.videos.items[p][0], block.errors[row] or "unreadable"))
            if rows:
                score(split, prepared, np.array(rows, dtype=np.int64), split_labels[pos], np.array(pos, dtype=np.int64))


def _score_features(split: _Split, features: np.ndarray, rows: np.ndarray, labels: np.ndarray, positions: np.ndarray,
                    *, head, modulation: Modulation) -> None:
    score_chunk(head, features[rows], labels, positions, test_text=split.text, modulation=modulation,
                accumulators=split.accumulators)


def _score_products(split: _Split, products: BlockProducts, rows: np.ndarray, labels: np.ndarray,
                    positions: np.ndarray, *, columns: dict, tables: dict, modulation: Modulation) -> None:
    sims = split_similarities(products, torch.from_numpy(rows), columns[id(split)], test_text=split.text,
                              modulation=modulation, text_products=tables[id(split)])
    for acc, similarities in zip(split.accumulators, sims):
        acc.update(similarities, labels, positions)


def _split_results(split: _Split, modulation: Modulation, seconds: float) -> list[dict]:
    source, failures = split.source, sorted(split.failures)
    log.info("%s: %d videos scored, %d excluded", source.name, len(source.videos) - len(failures), len(failures))
    fingerprint, identity = source.videos.fingerprint(), source.videos.list_identity()
    out = []
    for setting, acc in zip(modulation.settings, split.accumulators):
        result = acc.result()
        result.update(
            split=source.split, source=source.videos.source, list_fingerprint=fingerprint,
            listed_videos=len(source.videos), video_list=identity,
            video_backends=dict(split.backends), excluded=len(failures),
            excluded_videos=[dict(index=i, path=p, reason=r) for i, p, r in failures],
            tfm_scale=None if setting is None else setting[1], tfm_k=None if setting is None else setting[0],
            text_weights_id=split.text_id, text_cache_hit=split.text_hit, frame_cache=split.frame_cache,
            head_cache=split.head_cache, seconds=seconds,
        )
        result["predictions"]["video"] = [source.videos.items[i][0] for i in result["predictions"]["index"]]
        out.append(result)
    return out


def _score_from_videos(split: _Split, settings: EvalSettings, head, modulation: Modulation) -> list[tuple[int, str, str]]:
    """Decode and encode every video (as encode-frames does, same rounding), then score."""
    from ..progress import Progress

    source = split.source
    run = encode_setup(device=settings.device, precision=settings.precision, batch_size=settings.batch_size,
                       batch_frames=settings.batch_frames, workers=settings.workers,
                       views=settings.clips * settings.crops, num_frames=settings.num_frames)
    encoder = encoder_identity(settings.checkpoint, patch_alpha=settings.patch_alpha, original=settings.original)
    visual = load_visual(encoder, device=run.device)
    loader = eval_loader(source, list(range(len(source.videos))), num_frames=settings.num_frames, clips=settings.clips,
                         crops=settings.crops, batch_size=run.batch_size, workers=run.workers, device=run.device)
    failures = []
    with Progress(f"eval {source.name} (from videos)", total=len(source.videos), unit="videos") as bar:
        for batch in loader:
            count_backends(split.backends, batch)
            failures += [(i, os.path.relpath(p, source.videos.root), r) for i, p, r in batch["failures"]]
            if batch["frames"] is not None:
                frames = batch["frames"].to(run.device, non_blocking=True)
                feats = frame_features(visual, frames, precision=run.precision, batch_frames=run.batch_frames).cpu()
                score_chunk(head, feats, batch["labels"].numpy(), batch["indices"].numpy(), test_text=split.text,
                            modulation=modulation, accumulators=split.accumulators)
            bar.advance(len(batch["failures"]) + len(batch["indices"]))
    log_backends(split.backends, where=source.name)
    return failures


def evaluate(sources: list[VideoSource], settings: EvalSettings, *, name: str, dataset: str | None) -> dict:
    """Every split, every (k, scale); per setting the mean and std of top-1 over the splits.
    One pass gives every setting (a sweep over k costs no more reading than one k)."""
    from .report import checkpoint_identity, eval_record

    started = time.perf_counter()
    per_split = evaluate_sources(sources, settings)
    runs = []
    for i in range(len(per_split[0])):
        splits = [results[i] for results in per_split]
        top1_mean, top1_std = mean_std([r["top1"] for r in splits])
        top5_mean, top5_std = mean_std([r["top5"] for r in splits])
        run = dict(tfm_k=splits[0]["tfm_k"], tfm_scale=splits[0]["tfm_scale"], top1_mean=top1_mean, top1_std=top1_std,
                   top5_mean=top5_mean, top5_std=top5_std, splits_evaluated=[r["split"] for r in splits], splits=splits)
        if settings.half_classes:
            run["half_classes_mean"], run["half_classes_std"] = mean_std(
                [v for r in splits for v in r["half_classes"]["top1"]])
        runs.append(run)
    meta = read_merged_metadata(settings.checkpoint)
    return eval_record(
        name=name, dataset=dataset, settings=settings.describe(), checkpoint=checkpoint_identity(settings.checkpoint, meta),
        finetune_classes=all(s.videos.class_names == meta["class_names"] for s in sources),
        wall_seconds=time.perf_counter() - started, runs=runs,
    )


def run_eval(*, sources: list[VideoSource], settings: EvalSettings, out_dir: str | Path,
             split_spec: str) -> tuple[dict, Path, list]:
    """Evaluate and write the results JSON into `out_dir`: (results, results file, summary),
    the summary being this checkpoint's rows (HM_ZS, trade-off) from every file in the folder."""
    from .report import results_path, write_eval_results
    from .results import summary_rows

    first = sources[0]
    name = first.dataset or first.name
    results = evaluate(sources, settings, name=name, dataset=first.dataset)
    results["settings"]["split"] = split_spec
    path = results_path(out_dir, results, split_spec)
    write_eval_results(path, results)
    return results, path, summary_rows(out_dir, {results["checkpoint"]["id"]})
