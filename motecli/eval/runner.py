"""One evaluation: a merged model and one or more splits in, a results dict out.

For each split the frame-embedding cache is filled where missing (`encode_frames`
is a no-op when complete), the text cache likewise, then the head runs on the
cached features shard by shard. `from_videos=True` skips the frame cache and
decodes the videos instead (same float16 rounding of frame features, so the same
predictions): the baseline the cache is measured against.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from collections import Counter

from ..cache.encode import (
    DEFAULT_SHARD_SIZE,
    count_backends,
    encode_frames,
    encode_setup,
    encoder_identity,
    frame_features,
    load_visual,
    log_backends,
)
from ..cache.source import VideoSource, eval_loader
from ..constants import HALF_CLASS_SEEDS
from ..errors import MoteError
from ..checkpoints.merged import load_head, read_merged_metadata
from .metrics import Accumulator
from .protocols import mean_std, split_sources  # noqa: F401  (split_sources: public here too)
from .scoring import Modulation, score_chunk

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
            fusion="per-view cosine (no logit scale) -> softmax over classes -> mean over views",
            half_classes_fusion="cosine averaged over views -> softmax over the half's classes present in the test set",
        )


def class_text_embeddings(meta: dict, class_names: list[str], settings: EvalSettings) -> tuple[torch.Tensor, str, bool]:
    """Class embeddings of the test classes with the checkpoint's frozen text encoder;
    their weights id; whether the text cache held them."""
    from ..text.encode import cached_text_embeddings

    from ..model.identity import looks_like_path

    clip = meta["clip"]
    pretrained = settings.text_pretrained or clip["pretrained"]
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


def evaluate_split(source: VideoSource, settings: EvalSettings) -> list[dict]:
    """One result dict per modulation scale (one if modulation is off) for one split."""
    started = time.perf_counter()
    meta = read_merged_metadata(settings.checkpoint)
    head, _, finetune_text = load_head(settings.checkpoint, meta)
    test_text, text_id, text_hit = class_text_embeddings(meta, source.videos.class_names, settings)
    modulation = Modulation(finetune_text=finetune_text.float(), k=settings.k,
                            scales=settings.scales if settings.modulation else ())
    half_seeds = HALF_CLASS_SEEDS if settings.half_classes else ()
    accs = [Accumulator(class_names=source.videos.class_names, half_seeds=half_seeds)
            for _ in (modulation.scales or (None,))]
    score = dict(test_text=test_text, modulation=modulation, accumulators=accs)

    cache_info = None
    backends: Counter = Counter()
    if settings.from_videos:
        failures = _score_from_videos(source, settings, head, score, backends)
    else:
        enc = encode_frames(
            source, checkpoint=settings.checkpoint, num_frames=settings.num_frames, clips=settings.clips,
            crops=settings.crops, shard_size=settings.shard_size,
            batch_size=settings.batch_size, batch_frames=settings.batch_frames, workers=settings.workers,
            device=settings.device, precision=settings.precision,
            patch_alpha=settings.patch_alpha, original=settings.original, rank=0, world=1,
        )
        backends = enc.backends
        cache = enc.cache
        if not enc.complete:  # encode_frames has just validated every shard
            cache.require_complete()  # raises, naming how many are missing
        for chunk in cache.iter_chunks():
            score_chunk(head, chunk.features, chunk.labels, chunk.indices, **score)
        failures = cache.failures()
        cache_info = dict(path=str(cache.path), key=cache.key, encoded_videos_now=enc.encoded_videos,
                          encoded_on=enc.device, encoded_precision=enc.precision)
    seconds = time.perf_counter() - started
    log.info("%s: %d videos scored, %d excluded, %.2f s", source.name, len(source.videos) - len(failures),
             len(failures), seconds)
    out = []
    for scale, acc in zip(modulation.scales or (None,), accs):
        result = acc.result()
        result.update(
            split=source.split, source=source.videos.source, list_fingerprint=source.videos.fingerprint(),
            listed_videos=len(source.videos), video_list=source.videos.list_identity(),
            video_backends=dict(backends), excluded=len(failures),
            excluded_videos=[dict(index=i, path=p, reason=r) for i, p, r in failures],
            tfm_scale=scale, tfm_k=settings.k if scale is not None else None, text_weights_id=text_id,
            text_cache_hit=text_hit, frame_cache=cache_info, seconds=seconds,
        )
        result["predictions"]["video"] = [source.videos.items[i][0] for i in result["predictions"]["index"]]
        out.append(result)
    return out


def _score_from_videos(source: VideoSource, settings: EvalSettings, head, score: dict,
                       backends: Counter) -> list[tuple[int, str, str]]:
    """Decode and encode every video (as encode-frames does, same rounding), then score."""
    from ..progress import Progress

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
            count_backends(backends, batch)
            failures += [(i, os.path.relpath(p, source.videos.root), r) for i, p, r in batch["failures"]]
            if batch["frames"] is not None:
                frames = batch["frames"].to(run.device, non_blocking=True)
                feats = frame_features(visual, frames, precision=run.precision, batch_frames=run.batch_frames).cpu()
                score_chunk(head, feats, batch["labels"].numpy(), batch["indices"].numpy(), **score)
            bar.advance(len(batch["failures"]) + len(batch["indices"]))
    log_backends(backends, where=source.name)
    return failures


def evaluate(sources: list[VideoSource], settings: EvalSettings, *, name: str, dataset: str | None) -> dict:
    """Every split, every (k, scale); per setting the mean and std of top-1 over the splits.
    A sweep over k evaluates once per k (alpha depends on k), all into one results dict."""
    from .report import checkpoint_identity, eval_record

    started = time.perf_counter()
    runs = []
    for k in settings.k_values if settings.modulation else (settings.k,):
        per_split = [evaluate_split(source, replace(settings, k=k)) for source in sources]
        for i, scale in enumerate(settings.scales if settings.modulation else (None,)):
            splits = [results[i] for results in per_split]
            top1_mean, top1_std = mean_std([r["top1"] for r in splits])
            top5_mean, top5_std = mean_std([r["top5"] for r in splits])
            run = dict(tfm_k=k if scale is not None else None, tfm_scale=scale, top1_mean=top1_mean, top1_std=top1_std,
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
