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
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..constants import CROP_SIZE
from ..env import default_workers
from ..errors import MoteError
from ..progress import Progress
from ..model.clip import ClipSpec, resolve_clip
from ..model.experts import RoutingConfig, draw_expert_indices, draw_wmr_taus, merge_weights_for_tau
from ..model.loss import mote_loss
from ..model.runtime import Precision, resolve_precision
from ..model.scoring import cosine_scores, fuse_views
from ..model.video_clip import VideoCLIP, VideoModelConfig, build_video_clip
from ..checkpoints.training import (FORMAT, FORMAT_VERSION, capture_rng, checkpoint_mark, copy_checkpoint,
                                    load_training_checkpoint, restore_rng, save_training_checkpoint)
from .data import TrainData, build_train_data, train_loader, val_loader
from .distributed import DistContext, all_reduce_sum, barrier, init_distributed, shutdown_distributed
from .progress import MetricsLog
from .recipe import LossSection, Recipe
from .rundir import (BEST, LAST, METRICS, check_output, clear_run, continues_run, remove_checkpoint_temporaries,
                     resolve_resume)
from .schedule import WarmupCosine

log = logging.getLogger("mote")
PART_KEYS = ("ce_expert", "ce_merged", "mse")
SUM_KEYS = ("loss", "correct", "clips", *PART_KEYS)


class MoTEStep(nn.Module):
    """One training forward as a module, so DDP sees a single forward per backward.

    The WMR pass runs only when one of its loss terms has a weight (the paper's
    baseline sets both to 0), and a frozen image encoder runs without autograd.
    """

    def __init__(self, model: VideoCLIP, *, loss_weights: LossSection) -> None:
        super().__init__()
        self.model = model
        self.loss_weights = loss_weights
        self.wmr = bool(loss_weights.merged or loss_weights.mse)

    def forward(self, frames: torch.Tensor, labels: torch.Tensor, text: torch.Tensor, *,
                expert_indices: Sequence[int], merge_weights: torch.Tensor):
        visual_trains = any(p.requires_grad for p in self.model.visual.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and visual_trains):
            x = self.model.encode_frames(frames)  # [B, T, 3, H, W] -> [B, T, D], shared by both passes
        _, v_routed = self.model.video_features(x, expert_indices=expert_indices)
        logits_routed = self.model.logits(v_routed, text)
        z_merged = logits_merged = None
        if self.wmr:
            z_merged, v_merged = self.model.video_features(x, merge_weights=merge_weights)
            logits_merged = self.model.logits(v_merged, text)
        loss, parts = mote_loss(
            logits_expert=logits_routed, logits_merged=logits_merged, z_merged=z_merged, x=x,
            labels=labels, weight_expert=self.loss_weights.expert, weight_merged=self.loss_weights.merged,
            weight_mse=self.loss_weights.mse,
        )
        return loss, parts, logits_routed.detach()


def draw_routing(*, num_blocks: int, num_experts: int, generator: torch.Generator,
                 config: RoutingConfig = RoutingConfig()) -> tuple[list[int], torch.Tensor]:
    """This step's expert per block and WMR merge weights [L, N] (tau per block)."""
    indices = draw_expert_indices(num_blocks, num_experts, generator, mode=config.mode,
                                  temperature=config.temperature)
    taus = draw_wmr_taus(num_blocks, generator, sampling=config.tau_sampling)
    weights = torch.stack([merge_weights_for_tau(tau, num_experts) for tau in taus]).float()  # [L, N]
    return indices, weights


def use_fused_adamw(device: torch.device) -> bool:
    """The fused AdamW kernel (one launch for all parameters, no host sync under
    GradScaler) exists for CUDA tensors; elsewhere the default implementation."""
    return device.type == "cuda"


def build_optimizer(model: VideoCLIP, *, lr: float, clip_lr_ratio: float, weight_decay: float,
                    betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    """AdamW with two rates: the head at `lr`, CLIP's image encoder and logit_scale at
    `lr * clip_lr_ratio`. Weight decay on every parameter, as the release does.
    Frozen parameters (requires_grad False, e.g. model.freeze_visual) are left out.
    Fused on CUDA (`use_fused_adamw`): the same update, computed in one kernel."""
    clip_params = [p for p in (*model.visual.parameters(), model.logit_scale) if p.requires_grad]
    groups = [
        dict(params=clip_params, lr=lr * clip_lr_ratio, name="clip"),
        dict(params=[p for p in model.head.parameters() if p.requires_grad], lr=lr, name="head"),
    ]
    fused = use_fused_adamw(model.logit_scale.device)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)


def build_model(spec: ClipSpec, config: VideoModelConfig, *, seed: int, grad_checkpointing: bool,
                device: torch.device, compile_visual: bool = False) -> VideoCLIP:
    torch.manual_seed(seed)  # the head's initialisation draws from the global generator
    model = build_video_clip(spec, config, device=device)
    if grad_checkpointing:
        model.visual.set_grad_checkpointing(True)
    if compile_visual:
        # In place (nn.Module.compile): the parameters and state-dict keys stay those of
        # the eager module, so checkpoints do not depend on the setting. The head is
        # left eager: its expert indices change every step and would recompile it.
        model.visual.compile()
    return model.train()


@dataclass
class EpochStats:
    loss: float
    top1: float  # routed-pass training accuracy
    clips: int
    failures: int
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)


@dataclass
class RunState:
    """Everything one training run carries from step to step; `last.pt` is made from it."""

    spec: ClipSpec
    config: VideoModelConfig
    model: VideoCLIP
    step_module: nn.Module  # MoTEStep, wrapped in DDP under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosine
    scaler: torch.amp.GradScaler
    precision: Precision
    routing: torch.Generator
    routing_config: RoutingConfig
    text: torch.Tensor  # [C, D] fine-tuning class embeddings on the device
    micro_batch: int
    accumulation: int
    steps_per_epoch: int
    epochs: int
    epoch: int = 0  # completed epochs
    best_top1: float | None = None
    best_epoch: int | None = None  # the epoch best.pt holds

    @property
    def step(self) -> int:
        return self.epoch * self.steps_per_epoch


def _placeholder_batch(num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every clip of a micro-batch failed: one zero clip at weight 0 keeps DDP ranks in step."""
    return torch.zeros(1, num_frames, 3, CROP_SIZE, CROP_SIZE), torch.zeros(1, dtype=torch.long)


def _micro_step(run: RunState, batch: dict, *, ctx: DistContext, sync: bool) -> tuple[torch.Tensor, float]:
    """Forward and backward of one micro-batch: (its running sums, its clip count)."""
    frames, labels, weight = batch["frames"], batch["labels"], 1.0
    if frames is None:
        (frames, labels), weight = _placeholder_batch(run.config.num_frames), 0.0
    frames = frames.to(ctx.device, non_blocking=True)
    labels = labels.to(ctx.device, non_blocking=True)
    indices, merge = draw_routing(num_blocks=run.config.layers, num_experts=run.config.num_experts,
                                  generator=run.routing, config=run.routing_config)
    # Gradients are all-reduced on the last micro-batch of a step only.
    defer_sync = isinstance(run.step_module, DistributedDataParallel) and not sync
    with (run.step_module.no_sync() if defer_sync else contextlib.nullcontext()), run.precision.autocast():
        loss, parts, logits = run.step_module(frames, labels, run.text, expert_indices=indices,
                                              merge_weights=merge.to(ctx.device, non_blocking=True))
    run.scaler.scale(loss * (weight / run.accumulation)).backward()
    n = float(labels.numel()) * weight
    correct = (logits.argmax(-1) == labels).sum() * weight
    sums = torch.stack([loss.detach() * n, correct, torch.ones_like(correct) * n, *(parts[k] * n for k in PART_KEYS)])
    return sums.double(), n


def train_one_epoch(run: RunState, loader, *, ctx: DistContext, metrics: MetricsLog, log_every: int) -> EpochStats:
    """One pass over `loader`: run.steps_per_epoch optimizer steps from step run.step.

    Nothing here waits for the GPU between steps: the running sums stay on the device
    and are read every `log_every` steps (and at the end of the epoch); the bar's
    clips/s comes from host-side counts."""
    run.step_module.train()
    # Running sums kept on the device: loss, correct, clips, loss parts.
    acc = torch.zeros(len(SUM_KEYS), dtype=torch.float64, device=ctx.device)
    failures, window_clips = 0, 0.0
    window_start = started = time.perf_counter()
    batches = iter(loader)
    optimizer = run.optimizer
    with Progress(f"epoch {run.epoch + 1}/{run.epochs}", total=run.steps_per_epoch, unit="steps", rate_unit="clips",
                  enabled=ctx.is_main, transient=True) as bar:
        for step in range(run.step, run.step + run.steps_per_epoch):
            run.scheduler.step_to(step)
            step_clips = 0.0
            for micro in range(run.accumulation):
                batch = next(batches)
                for index, path, reason in batch["failures"]:
                    log.warning("skipping video %d (%s): %s", index, path, reason)
                failures += len(batch["failures"])
                sums, n = _micro_step(run, batch, ctx=ctx, sync=micro == run.accumulation - 1)
                acc += sums
                step_clips += n
            run.scaler.step(optimizer)
            run.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            window_clips += step_clips

            lr_head = optimizer.param_groups[1]["lr"]
            shown = {}
            if (step + 1) % log_every == 0:
                loss_sum, _, seen, *_ = acc.tolist()  # the only host sync of the loop
                window, loss_sum, seen = all_reduce_sum(ctx, [window_clips, loss_sum, seen])
                now = time.perf_counter()
                metrics.write(kind="step", epoch=step / run.steps_per_epoch, step=step + 1, lr_head=lr_head,
                              lr_clip=optimizer.param_groups[0]["lr"], loss=loss_sum / max(seen, 1),
                              clips_per_s=window / max(now - window_start, 1e-9))
                window_clips, window_start = 0.0, now
                shown["loss"] = f"{loss_sum / max(seen, 1):.4f}"
            # Clips of every rank (the same micro-batch on each), without asking the device.
            bar.advance(1, work=step_clips * ctx.world_size, lr=f"{lr_head:.2e}", **shown)

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
        frames = batch["frames"].to(ctx.device, non_blocking=True)  # [B, V, T, 3, H, W]
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


def setup_run(recipe: Recipe, data: TrainData, *, ctx: DistContext) -> RunState:
    """Model, optimizer, schedule and routing generator for `recipe`, from scratch."""
    m, s, r = recipe.model, recipe.solver, recipe.run
    if s.total_batch % (ctx.world_size * s.accumulation):
        raise MoteError(f"solver.total_batch = {s.total_batch} is not divisible by {ctx.world_size} processes x "
                        f"solver.accumulation = {s.accumulation}")
    micro_batch = s.total_batch // (ctx.world_size * s.accumulation)
    steps_per_epoch = len(_train_loader(recipe, data, ctx=ctx, micro_batch=micro_batch, epoch=0)) // s.accumulation
    if steps_per_epoch < 1:
        raise MoteError(f"one epoch has fewer than solver.accumulation = {s.accumulation} batches of {micro_batch}")

    spec = resolve_clip(m.name, m.pretrained, quick_gelu=m.quick_gelu)
    config = VideoModelConfig.for_clip(spec, layers=m.layers, num_experts=m.experts, num_frames=m.num_frames)
    text = _class_embeddings(spec=spec, pretrained=m.pretrained, quick_gelu=m.quick_gelu, class_names=data.class_names,
                             templates_file=recipe.data.templates_file, ctx=ctx).to(ctx.device)
    model = build_model(spec, config, seed=r.seed, grad_checkpointing=r.grad_checkpointing, device=ctx.device,
                        compile_visual=r.compile)
    if m.freeze_visual:
        model.visual.requires_grad_(False)
    optimizer = build_optimizer(model, lr=s.lr, clip_lr_ratio=s.clip_lr_ratio, weight_decay=s.weight_decay,
                                betas=s.betas, eps=s.eps)
    precision = resolve_precision(r.precision, ctx.device)
    step_module: nn.Module = MoTEStep(model, loss_weights=recipe.loss)
    if ctx.enabled:
        # Without the WMR pass, experts not drawn this step get no gradient: DDP must look for them.
        unused = not step_module.wmr and config.num_experts > 1
        step_module = DistributedDataParallel(step_module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                                              find_unused_parameters=unused)
    return RunState(
        spec=spec, config=config, model=model, step_module=step_module, optimizer=optimizer,
        scheduler=WarmupCosine(optimizer, warmup_epochs=s.warmup_epochs, total_epochs=s.epochs,
                               steps_per_epoch=steps_per_epoch),
        scaler=precision.scaler(), precision=precision, routing=torch.Generator().manual_seed(r.seed),
        routing_config=RoutingConfig(mode=m.routing, temperature=m.routing_temperature, tau_sampling=m.tau_sampling),
        text=text,
        micro_batch=micro_batch, accumulation=s.accumulation, steps_per_epoch=steps_per_epoch, epochs=s.epochs,
    )


def _workers(recipe: Recipe) -> int:
    return default_workers() if recipe.data.workers is None else recipe.data.workers


def _train_loader(recipe: Recipe, data: TrainData, *, ctx: DistContext, micro_batch: int, epoch: int):
    return train_loader(data.train, batch_size=micro_batch, workers=_workers(recipe), seed=recipe.run.seed,
                        epoch=epoch, rank=ctx.rank, world_size=ctx.world_size, pin_memory=ctx.device.type == "cuda")


def restore_run(run: RunState, path: Path, *, class_names: list[str]) -> None:
    """Continue `run` from a `last.pt` (or any training checkpoint of the same model and classes)."""
    state = load_training_checkpoint(path)
    if state["model_config"] != run.config.to_dict():
        raise MoteError(f"--resume {path}: trained a different model ({state['model_config']}), not {run.config.to_dict()}")
    if list(state["class_names"]) != class_names:
        raise MoteError(f"--resume {path}: trained on different classes than this recipe's data")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"], run.routing)
    run.epoch, run.best_top1, run.best_epoch = int(state["epoch"]), state["best_top1"], state.get("best_epoch")
    log.info("resumed from %s at epoch %d (step %d)", path, run.epoch, state["step"])


def restore_best(run: RunState, *, output: Path, resumed_from: Path) -> None:
    """Make `<output>/best.pt` hold the best epoch that the resumed checkpoint names.

    A kill after last.pt is renamed into place but before best.pt is, leaves a last.pt
    whose best epoch is its own: best.pt is copied from it. A run continued into another
    folder takes best.pt from beside the checkpoint it resumed from.
    """
    if run.best_epoch is None:
        return
    best, mark = output / BEST, (run.best_epoch, run.best_top1)
    if checkpoint_mark(best) == mark:
        return
    for source in ([resumed_from] if run.best_epoch == run.epoch else []) + [resumed_from.parent / BEST]:
        if checkpoint_mark(source) == mark:
            copy_checkpoint(source, best)
            log.warning("re-created %s (epoch %d, val top-1 %.3f) from %s", best, *mark, source)
            return
    log.warning("%s: the best epoch so far (%d, val top-1 %.3f) is in no checkpoint at hand; best.pt will be "
                "written when a later epoch improves on it", best, *mark)


def checkpoint_state(run: RunState, *, recipe: Recipe, class_names: list[str]) -> dict:
    """The `last.pt` / `best.pt` dict of `run` as it stands (checkpoints.training.KEYS)."""
    spec = run.spec
    return dict(
        format=FORMAT, format_version=FORMAT_VERSION, model_config=run.config.to_dict(),
        clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu, weights_id=spec.weights_id),
        model=run.model.state_dict(), optimizer=run.optimizer.state_dict(), scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict(), epoch=run.epoch, step=run.step, rng=capture_rng(run.routing),
        recipe=recipe.to_dict(), class_names=list(class_names), class_embeddings=run.text.detach().float().cpu(),
        best_top1=run.best_top1, best_epoch=run.best_epoch,
    )


def train_while_improving(run: RunState, *, recipe: Recipe, data: TrainData, ctx: DistContext,
                          metrics: MetricsLog) -> Iterator[tuple[int, dict, bool]]:
    """Train epoch by epoch from run.epoch; after each, yield (epoch, record, is_best).

    The caller logs and saves: when it resumes the generator, run.epoch and
    run.best_top1 already describe the epoch just yielded.
    """
    r = recipe.run
    val = (val_loader(data.val, batch_size=run.micro_batch, workers=_workers(recipe), rank=ctx.rank,
                      world_size=ctx.world_size, pin_memory=ctx.device.type == "cuda")
           if data.val is not None and r.val_every else None)
    while run.epoch < run.epochs:
        loader = _train_loader(recipe, data, ctx=ctx, micro_batch=run.micro_batch, epoch=run.epoch)
        stats = train_one_epoch(run, loader, ctx=ctx, metrics=metrics, log_every=r.log_every)
        run.epoch += 1
        record = dict(kind="epoch", epoch=run.epoch, step=run.step, loss=stats.loss, train_top1=stats.top1,
                      clips=stats.clips, failures=stats.failures,
                      clips_per_s=stats.clips / max(stats.seconds, 1e-9), **stats.parts)
        top1 = None
        if val is not None and (run.epoch % r.val_every == 0 or run.epoch == run.epochs):
            top1, val_clips, val_failures = validate(run.model, loader=val, text=run.text, precision=run.precision,
                                                     ctx=ctx)
            record.update(val_top1=top1, val_clips=val_clips, val_failures=val_failures)
        is_best = top1 is not None and (run.best_top1 is None or top1 > run.best_top1)
        if is_best:
            run.best_top1, run.best_epoch = top1, run.epoch
        yield run.epoch, record, is_best


def fit(recipe: Recipe, data: TrainData, *, ctx: DistContext, resume: str | None = None,
        overwrite: bool = False) -> TrainResult:
    """Train on already-built datasets (the recipe's [data] section is not read here).

    An output folder that holds another run is refused unless `overwrite` (rundir.check_output).
    """
    output = Path(recipe.run.output)
    resume_path = resolve_resume(resume, output)
    check_output(output, resume=resume_path, overwrite=overwrite)
    if resume == "auto" and resume_path is None:
        log.info("--resume auto: no %s yet, starting from scratch", output / LAST)
    run = setup_run(recipe, data, ctx=ctx)
    if resume_path is not None:
        restore_run(run, resume_path, class_names=data.class_names)
    if ctx.is_main:
        remove_checkpoint_temporaries(output)
        if overwrite and not continues_run(resume_path, output):
            clear_run(output)
        if resume_path is not None:
            restore_best(run, output=output, resumed_from=resume_path)
    metrics = MetricsLog(output / METRICS if ctx.is_main else None)
    metrics.write(kind="start", epoch=run.epoch, world_size=ctx.world_size, micro_batch=run.micro_batch,
                  steps_per_epoch=run.steps_per_epoch, precision=run.precision.name, data=data.description,
                  recipe=recipe.to_dict())
    log.info("training %s (%s) on %d clips, %d classes: %d epochs x %d steps, batch %d = %d x %d processes x %d, %s",
             run.spec.model, run.spec.weights_id.split(":")[0], len(data.train), len(data.class_names), run.epochs,
             run.steps_per_epoch, recipe.solver.total_batch, run.micro_batch, ctx.world_size, run.accumulation,
             run.precision.name)

    history = []
    for epoch, record, is_best in train_while_improving(run, recipe=recipe, data=data, ctx=ctx, metrics=metrics):
        if record["failures"]:
            log.warning("epoch %d: %d unreadable videos skipped", epoch, record["failures"])
        top1 = record.get("val_top1")
        log.info("epoch %d/%d: loss %.4f, train top-1 %.3f%s, %.1f clips/s", epoch, run.epochs, record["loss"],
                 record["train_top1"], "" if top1 is None else f", val top-1 {top1:.3f}", record["clips_per_s"])
        metrics.write(**record)
        history.append(record)
        if ctx.is_main:
            # last.pt first: it commits the epoch, and names best_epoch so that a kill
            # before best.pt is renamed into place is repaired on resume (restore_best).
            state = checkpoint_state(run, recipe=recipe, class_names=data.class_names)
            save_training_checkpoint(output / LAST, state)
            if is_best:
                save_training_checkpoint(output / BEST, state)
    barrier(ctx)
    return TrainResult(output=output, epochs=run.epochs, step=run.step, history=history, best_top1=run.best_top1,
                       model=run.model)


def train(recipe: Recipe, *, resume: str | None = None, overwrite: bool = False,
          ctx: DistContext | None = None, device: str = "auto") -> TrainResult:
    """`mote train`: build the data of the recipe, then fit; sets up and tears down the
    process group of torchrun or srun. `device`: auto (this process's GPU if any), cpu, cuda.
    A caller that trains several runs in one process group (`mote few-shot`) passes its `ctx`,
    which is then used and left up (`device` is then the ctx's)."""
    output = Path(recipe.run.output)
    resume_path = resolve_resume(resume, output)  # fail before any data is built
    check_output(output, resume=resume_path, overwrite=overwrite)
    own_group = ctx is None
    ctx = init_distributed(device) if own_group else ctx
    if not ctx.is_main:
        log.setLevel(logging.WARNING)  # one copy of the progress lines; warnings from every rank
    try:
        torch.manual_seed(recipe.run.seed)
        if ctx.is_main:
            data = build_train_data(recipe.data, num_frames=recipe.model.num_frames, seed=recipe.run.seed)
        barrier(ctx)  # rank 0 generates the synthetic set once; the others then read it
        if not ctx.is_main:
            data = build_train_data(recipe.data, num_frames=recipe.model.num_frames, seed=recipe.run.seed)
        return fit(recipe, data, ctx=ctx, resume=None if resume_path is None else str(resume_path), overwrite=overwrite)
    finally:
        if own_group:
            shutdown_distributed(ctx)
