"""Full fine-tuning of CLIP's image encoder + the MoTE head (method sections 2 and 3).

Per micro-batch: encode the frames once (x [B, T, D]); a routed pass with one
expert per block drawn from softmax([1..N]); a WMR pass with per-block merge
weights softmax([1..N] / tau); loss = CE(routed) + 0.5 CE(merged) + 0.1 MSE(z_merged, x).
The text encoder is absent: class embeddings come from the text cache.

`train(recipe)` is the entry point; it unpacks the recipe once and hands the
pieces to functions that take explicit arguments.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..constants import CROP_SIZE
from ..errors import MoteError
from ..model.clip import ClipSpec, resolve_clip
from ..model.experts import draw_expert_indices, draw_wmr_taus, merge_weights_for_tau
from ..model.loss import mote_loss
from ..model.scoring import cosine_scores, fuse_views
from ..model.video_clip import VideoCLIP, VideoModelConfig, build_video_clip
from ..checkpoints.training import FORMAT, FORMAT_VERSION, capture_rng, load_training_checkpoint, restore_rng, save_training_checkpoint
from .data import TrainData, build_train_data, train_loader, val_loader
from .distributed import DistContext, all_reduce_sum, barrier, init_distributed, shutdown_distributed
from .precision import Precision, resolve_precision
from .progress import EpochProgress, MetricsLog
from .recipe import LossSection, Recipe
from .schedule import WarmupCosine

log = logging.getLogger("mote")
LAST, BEST, METRICS = "last.pt", "best.pt", "metrics.jsonl"
PART_KEYS = ("ce_expert", "ce_merged", "mse")
SUM_KEYS = ("loss", "correct", "clips", *PART_KEYS)


class MoTEStep(nn.Module):
    """One training forward as a module, so DDP sees a single forward per backward."""

    def __init__(self, model: VideoCLIP, *, loss_weights: LossSection) -> None:
        super().__init__()
        self.model = model
        self.loss_weights = loss_weights

    def forward(self, frames: torch.Tensor, labels: torch.Tensor, text: torch.Tensor, *,
                expert_indices: Sequence[int], merge_weights: torch.Tensor):
        x = self.model.encode_frames(frames)  # [B, T, 3, H, W] -> [B, T, D], shared by both passes
        _, v_routed = self.model.video_features(x, expert_indices=expert_indices)
        z_merged, v_merged = self.model.video_features(x, merge_weights=merge_weights)
        logits_routed = self.model.logits(v_routed, text)
        loss, parts = mote_loss(
            logits_expert=logits_routed, logits_merged=self.model.logits(v_merged, text), z_merged=z_merged, x=x,
            labels=labels, weight_expert=self.loss_weights.expert, weight_merged=self.loss_weights.merged,
            weight_mse=self.loss_weights.mse,
        )
        return loss, parts, logits_routed.detach()


def draw_routing(*, num_blocks: int, num_experts: int, generator: torch.Generator) -> tuple[list[int], torch.Tensor]:
    """This step's expert per block and WMR merge weights [L, N] (tau per block)."""
    indices = draw_expert_indices(num_blocks, num_experts, generator)
    taus = draw_wmr_taus(num_blocks, generator)
    weights = torch.stack([merge_weights_for_tau(tau, num_experts) for tau in taus]).float()  # [L, N]
    return indices, weights


def build_optimizer(model: VideoCLIP, *, lr: float, clip_lr_ratio: float, weight_decay: float,
                    betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    """AdamW with two rates: the head at `lr`, CLIP's image encoder and logit_scale at
    `lr * clip_lr_ratio`. Weight decay on every parameter, as the release does."""
    clip_params = [*model.visual.parameters(), model.logit_scale]
    groups = [
        dict(params=clip_params, lr=lr * clip_lr_ratio, name="clip"),
        dict(params=list(model.head.parameters()), lr=lr, name="head"),
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def build_model(spec: ClipSpec, config: VideoModelConfig, *, seed: int, grad_checkpointing: bool,
                device: torch.device) -> VideoCLIP:
    torch.manual_seed(seed)  # the head's initialisation draws from the global generator
    model = build_video_clip(spec, config, device=device)
    if grad_checkpointing:
        model.visual.set_grad_checkpointing(True)
    return model.train()


@dataclass
class EpochStats:
    loss: float
    top1: float  # routed-pass training accuracy
    clips: int
    failures: int
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)


def train_one_epoch(
    step_module: nn.Module, *, loader, optimizer: torch.optim.Optimizer, scheduler: WarmupCosine,
    scaler: torch.amp.GradScaler, precision: Precision, routing: torch.Generator, text: torch.Tensor,
    accumulation: int, steps_per_epoch: int, first_step: int, num_blocks: int, num_experts: int,
    num_frames: int, ctx: DistContext, metrics: MetricsLog, epoch: int, epochs: int, log_every: int,
) -> EpochStats:
    step_module.train()
    # Running sums kept on the device (no host sync per step): loss, correct, clips, loss parts.
    acc = torch.zeros(len(SUM_KEYS), dtype=torch.float64, device=ctx.device)
    failures, window_clips = 0, 0.0
    window_start = started = time.perf_counter()
    batches = iter(loader)
    with EpochProgress(epoch=epoch, epochs=epochs, total=steps_per_epoch, enabled=ctx.is_main) as bar:
        for step_in_epoch in range(steps_per_epoch):
            step = first_step + step_in_epoch
            scheduler.step_to(step)
            for micro in range(accumulation):
                batch = next(batches)
                for index, path, reason in batch["failures"]:
                    log.warning("skipping video %d (%s): %s", index, path, reason)
                failures += len(batch["failures"])
                frames, labels, weight = batch["frames"], batch["labels"], 1.0
                if frames is None:
                    # Every clip failed: run a zero-weight placeholder so DDP ranks stay in step.
                    frames, labels, weight = torch.zeros(1, num_frames, 3, CROP_SIZE, CROP_SIZE), torch.zeros(1, dtype=torch.long), 0.0
                frames = frames.to(ctx.device, non_blocking=True)
                labels = labels.to(ctx.device, non_blocking=True)
                indices, merge = draw_routing(num_blocks=num_blocks, num_experts=num_experts, generator=routing)
                # Gradients are all-reduced on the last micro-batch of a step only.
                defer_sync = isinstance(step_module, DistributedDataParallel) and micro < accumulation - 1
                with (step_module.no_sync() if defer_sync else contextlib.nullcontext()), precision.autocast():
                    loss, parts, logits = step_module(frames, labels, text, expert_indices=indices,
                                                      merge_weights=merge.to(ctx.device))
                scaler.scale(loss * (weight / accumulation)).backward()
                n = float(labels.numel()) * weight
                correct = (logits.argmax(-1) == labels).sum() * weight
                acc += torch.stack([loss.detach() * n, correct, torch.ones_like(correct) * n,
                                    *(parts[k] * n for k in PART_KEYS)]).double()
                window_clips += n
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)

            lr_head = optimizer.param_groups[1]["lr"]
            if (step + 1) % log_every == 0:
                loss_sum, _, seen, *_ = acc.tolist()
                window, loss_sum, seen = all_reduce_sum(ctx, [window_clips, loss_sum, seen])
                now = time.perf_counter()
                metrics.write(kind="step", epoch=step / steps_per_epoch, step=step + 1, lr_head=lr_head,
                              lr_clip=optimizer.param_groups[0]["lr"], loss=loss_sum / max(seen, 1),
                              clips_per_s=window / max(now - window_start, 1e-9))
                window_clips, window_start = 0.0, now
            if bar.enabled:
                loss_sum, _, seen, *_ = acc.tolist()
                bar.update(loss=loss_sum / max(seen, 1), lr=lr_head,
                           clips_per_s=seen * ctx.world_size / max(time.perf_counter() - started, 1e-9))

    totals = dict(zip((*SUM_KEYS, "failures"), all_reduce_sum(ctx, [*acc.tolist(), failures])))
    clips = max(totals["clips"], 1.0)
    return EpochStats(
        loss=totals["loss"] / clips, top1=totals["correct"] / clips, clips=int(totals["clips"]),
        failures=int(totals["failures"]), seconds=time.perf_counter() - started,
        parts={k: totals[k] / clips for k in PART_KEYS},
    )


@torch.no_grad()
def validate(model: VideoCLIP, *, loader, text: torch.Tensor, precision: Precision, ctx: DistContext) -> tuple[float, int, int]:
    """Top-1 of the uniformly merged head by cosine similarity; returns (top1, clips, failures)."""
    model.eval()
    correct = count = failures = 0
    for batch in loader:
        failures += len(batch["failures"])
        if batch["frames"] is None:
            continue
        frames = batch["frames"].to(ctx.device)  # [B, V, T, 3, H, W]
        b, views = frames.shape[:2]
        with precision.autocast():
            _, v = model.video_features(model.encode_frames(frames.flatten(0, 1)))  # [B*V, D]
            probs = fuse_views(cosine_scores(v.float(), text).view(b, views, -1))  # [B*V, C] -> [B, V, C] -> [B, C]
        correct += (probs.argmax(-1).cpu() == batch["labels"]).sum().item()
        count += b
    model.train()
    correct, count, failures = all_reduce_sum(ctx, [correct, count, failures])
    return correct / max(count, 1), int(count), int(failures)


@dataclass
class TrainResult:
    output: Path
    epochs: int  # completed epochs, including those before a resume
    step: int
    history: list[dict]  # one record per epoch run in this process
    best_top1: float | None
    model: VideoCLIP


def _resolve_resume(resume: str | None, output: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        path = output / LAST
        if not path.is_file():
            log.info("--resume auto: no %s yet, starting from scratch", path)
            return None
        return path
    path = Path(resume)
    if not path.is_file():
        raise MoteError(f"--resume {path}: no such file")
    return path


def _class_embeddings(*, spec: ClipSpec, pretrained: str | None, quick_gelu: bool | None, class_names: list[str],
                      templates_file: str | None, ctx: DistContext) -> torch.Tensor:
    """[C, D] float32 from the text cache; rank 0 fills the cache before the others read it."""
    from ..text.encode import cached_text_embeddings
    from ..text.labels import read_templates_file

    templates = read_templates_file(templates_file)

    def fetch():
        return cached_text_embeddings(model=spec.model, pretrained=pretrained, quick_gelu=quick_gelu,
                                      class_names=class_names, templates=templates, device=str(ctx.device))

    if ctx.is_main:
        result = fetch()
    barrier(ctx)
    if not ctx.is_main:
        result = fetch()
    return torch.as_tensor(result.embeddings.embeddings, dtype=torch.float32)


def fit(recipe: Recipe, data: TrainData, *, ctx: DistContext, resume: str | None = None) -> TrainResult:
    """Train on already-built datasets (the recipe's [data] section is not read here)."""
    m, s, r = recipe.model, recipe.solver, recipe.run
    output = Path(r.output)
    if s.total_batch % (ctx.world_size * s.accumulation):
        raise MoteError(f"solver.total_batch = {s.total_batch} is not divisible by {ctx.world_size} processes x "
                        f"solver.accumulation = {s.accumulation}")
    micro_batch = s.total_batch // (ctx.world_size * s.accumulation)
    precision = resolve_precision(r.precision, ctx.device)

    spec = resolve_clip(m.name, m.pretrained, quick_gelu=m.quick_gelu)
    config = VideoModelConfig.for_clip(spec, layers=m.layers, num_experts=m.experts, num_frames=m.num_frames)
    text = _class_embeddings(spec=spec, pretrained=m.pretrained, quick_gelu=m.quick_gelu, class_names=data.class_names,
                             templates_file=recipe.data.templates_file, ctx=ctx).to(ctx.device)
    model = build_model(spec, config, seed=r.seed, grad_checkpointing=r.grad_checkpointing, device=ctx.device)
    optimizer = build_optimizer(model, lr=s.lr, clip_lr_ratio=s.clip_lr_ratio, weight_decay=s.weight_decay,
                                betas=s.betas, eps=s.eps)
    scaler = precision.scaler()
    routing = torch.Generator().manual_seed(r.seed)

    def loader_for(epoch: int):
        return train_loader(data.train, batch_size=micro_batch, workers=recipe.data.workers, seed=r.seed, epoch=epoch,
                            rank=ctx.rank, world_size=ctx.world_size, pin_memory=ctx.device.type == "cuda")

    steps_per_epoch = len(loader_for(0)) // s.accumulation
    if steps_per_epoch < 1:
        raise MoteError(f"one epoch has fewer than solver.accumulation = {s.accumulation} batches of {micro_batch}")
    scheduler = WarmupCosine(optimizer, warmup_epochs=s.warmup_epochs, total_epochs=s.epochs, steps_per_epoch=steps_per_epoch)

    start_epoch, best_top1 = 0, None
    resume_path = _resolve_resume(resume, output)
    if resume_path is not None:
        state = load_training_checkpoint(resume_path)
        if state["model_config"] != config.to_dict():
            raise MoteError(f"--resume {resume_path}: trained a different model ({state['model_config']}), not {config.to_dict()}")
        if list(state["class_names"]) != data.class_names:
            raise MoteError(f"--resume {resume_path}: trained on different classes than this recipe's data")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], routing)
        start_epoch, best_top1 = int(state["epoch"]), state["best_top1"]
        log.info("resumed from %s at epoch %d (step %d)", resume_path, start_epoch, state["step"])

    step_module: nn.Module = MoTEStep(model, loss_weights=recipe.loss)
    if ctx.enabled:
        step_module = DistributedDataParallel(step_module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    metrics = MetricsLog(output / METRICS if ctx.is_main else None)
    val = (val_loader(data.val, batch_size=micro_batch, workers=recipe.data.workers, rank=ctx.rank,
                      world_size=ctx.world_size) if data.val is not None and r.val_every else None)
    metrics.write(kind="start", epoch=start_epoch, world_size=ctx.world_size, micro_batch=micro_batch,
                  steps_per_epoch=steps_per_epoch, precision=precision.name, data=data.description,
                  recipe=recipe.to_dict())
    log.info("training %s (%s) on %d clips, %d classes: %d epochs x %d steps, batch %d = %d x %d processes x %d, %s",
             spec.model, spec.weights_id.split(":")[0], len(data.train), len(data.class_names), s.epochs,
             steps_per_epoch, s.total_batch, micro_batch, ctx.world_size, s.accumulation, precision.name)

    history = []
    for epoch in range(start_epoch, s.epochs):
        stats = train_one_epoch(
            step_module, loader=loader_for(epoch), optimizer=optimizer, scheduler=scheduler, scaler=scaler,
            precision=precision, routing=routing, text=text, accumulation=s.accumulation,
            steps_per_epoch=steps_per_epoch, first_step=epoch * steps_per_epoch, num_blocks=config.layers,
            num_experts=config.num_experts, num_frames=config.num_frames, ctx=ctx, metrics=metrics, epoch=epoch,
            epochs=s.epochs, log_every=r.log_every,
        )
        record = dict(kind="epoch", epoch=epoch + 1, step=(epoch + 1) * steps_per_epoch, loss=stats.loss,
                      train_top1=stats.top1, clips=stats.clips, failures=stats.failures,
                      clips_per_s=stats.clips / max(stats.seconds, 1e-9), **stats.parts)
        if stats.failures:
            log.warning("epoch %d: %d unreadable videos skipped", epoch + 1, stats.failures)
        top1 = None
        if val is not None and ((epoch + 1) % r.val_every == 0 or epoch + 1 == s.epochs):
            top1, val_clips, val_failures = validate(model, loader=val, text=text, precision=precision, ctx=ctx)
            record.update(val_top1=top1, val_clips=val_clips, val_failures=val_failures)
        improved = top1 is not None and (best_top1 is None or top1 > best_top1)
        best_top1 = top1 if improved else best_top1
        log.info("epoch %d/%d: loss %.4f, train top-1 %.3f%s, %.1f clips/s", epoch + 1, s.epochs, stats.loss,
                 stats.top1, "" if top1 is None else f", val top-1 {top1:.3f}", record["clips_per_s"])
        metrics.write(**record)
        history.append(record)
        if ctx.is_main:
            state = dict(
                format=FORMAT, format_version=FORMAT_VERSION, model_config=config.to_dict(),
                clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu, weights_id=spec.weights_id),
                model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(), epoch=epoch + 1, step=(epoch + 1) * steps_per_epoch,
                rng=capture_rng(routing), recipe=recipe.to_dict(), class_names=list(data.class_names),
                class_embeddings=text.detach().float().cpu(), best_top1=best_top1,
            )
            save_training_checkpoint(output / LAST, state)
            if improved:
                save_training_checkpoint(output / BEST, state)
    barrier(ctx)
    return TrainResult(output=output, epochs=s.epochs, step=s.epochs * steps_per_epoch, history=history,
                       best_top1=best_top1, model=model)


def train(recipe: Recipe, *, resume: str | None = None) -> TrainResult:
    """`mote train`: build the data of the recipe, then fit; sets up and tears down torchrun's group."""
    resume_path = _resolve_resume(resume, Path(recipe.run.output))  # fail before any data is built
    ctx = init_distributed()
    if not ctx.is_main:
        log.setLevel(logging.WARNING)  # one copy of the progress lines; warnings from every rank
    try:
        torch.manual_seed(recipe.run.seed)
        if ctx.is_main:
            data = build_train_data(recipe.data, num_frames=recipe.model.num_frames, seed=recipe.run.seed)
        barrier(ctx)  # rank 0 generates the synthetic set once; the others then read it
        if not ctx.is_main:
            data = build_train_data(recipe.data, num_frames=recipe.model.num_frames, seed=recipe.run.seed)
        return fit(recipe, data, ctx=ctx, resume=None if resume_path is None else str(resume_path))
    finally:
        shutdown_distributed(ctx)
