"""Contrastive pretraining of the tiny CLIP on (frame, caption) pairs of the captioned world.

Both encoders learn from scratch (random init, `RANDOM_INIT_SEED`), with
CLIP's symmetric InfoNCE loss whose targets are every caption that is true of
an image (pairs.compatibility). AdamW, linear warm-up then cosine to 0. One
numpy generator seeded by `seed` draws every image and caption, so a config
fixes the weights (on one machine and library version: float sums may differ
across CPUs).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model.clip import build_clip, resolve_clip, tokenizer_for
from ..model.identity import TINY_MODEL
from .pairs import compatibility, training_batch
from .retrieval import retrieval_top1
from .text import CompactVocab, encode_text, world_words

log = logging.getLogger("mote")
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 240
    batch: int = 64  # images per step
    captions_per_image: int = 4  # text is cheap next to images: more to learn from per image
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    render_size: int = 112  # frames are drawn at this size and upscaled to 224, like a small video
    seed: int = 0
    eval_images: int = 360

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PretrainResult:
    model: torch.nn.Module  # open_clip CLIP, eval mode
    retrieval: dict  # held-out combinations (retrieval.retrieval_top1)
    retrieval_seen: dict  # combinations seen in pretraining
    losses: list[float]  # per step
    seconds: float


def learning_rate(step: int, config: PretrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy of scaled cosine logits [B, C] against the true-caption sets."""
    logits = scale * image @ text.T  # [B_image, C_caption]
    to_text = true.float() / true.sum(dim=1, keepdim=True)
    to_image = true.T.float() / true.T.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, to_text) + F.cross_entropy(logits.T, to_image)) / 2


def pretrain(config: PretrainConfig, *, on_step: Callable | None = None) -> PretrainResult:
    """Train the tiny CLIP from random init; returns it with its retrieval figures.
    `on_step(step, model, tokenizer)` is called after every optimizer step (e.g. to probe learning)."""
    started = time.perf_counter()
    spec = resolve_clip(TINY_MODEL, None)
    model = build_clip(spec).train()
    tokenizer = tokenizer_for(spec)
    vocab = CompactVocab(model.token_embedding, tokenizer, world_words())
    params = [p for name, p in model.named_parameters() if name != "token_embedding.weight" and p.requires_grad]
    optimizer = torch.optim.AdamW([*params, *vocab.parameters()], lr=config.lr, betas=(0.9, 0.98), eps=1e-6,
                                  weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    losses = []
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        batch = training_batch(config.batch, size=config.render_size, rng=rng,
                               captions_per_image=config.captions_per_image)
        # Tokenized per batch (10 ms): a cache of thousands of small long-lived tensors
        # fragments the allocator between the large per-step buffers, and memory grows.
        tokens = tokenizer(batch.captions)
        image = F.normalize(model.encode_image(batch.images), dim=-1)
        text = F.normalize(encode_text(model, tokens, embed=vocab), dim=-1)
        loss = contrastive_loss(image, text, model.logit_scale.exp(), compatibility(batch.values, batch.caption_values, batch.stated))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        losses.append(float(loss.detach()))
        if on_step is not None:
            vocab.write_back(model.token_embedding)
            on_step(step + 1, model, tokenizer)
        if (step + 1) % max(config.steps // 10, 1) == 0:
            log.info("pretrain step %d/%d: loss %.3f, %.0f s", step + 1, config.steps, losses[-1],
                     time.perf_counter() - started)
    vocab.write_back(model.token_embedding)
    model.eval()
    held_out = retrieval_top1(model, tokenizer, count=config.eval_images, size=config.render_size, seed=config.seed)
    seen = retrieval_top1(model, tokenizer, count=config.eval_images, size=config.render_size, seed=config.seed,
                          held_out=False)
    return PretrainResult(model=model, retrieval=held_out, retrieval_seen=seen, losses=losses,
                          seconds=time.perf_counter() - started)
