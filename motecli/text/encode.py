"""Class text embeddings with the 28-template prompt ensemble (method sections 1, 7)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import MoteError
from ..progress import Progress
from ..model.identity import normalise_pretrained, weights_identity
from .cache import TextEmbeddings, TextRequest, lookup_text_cache, write_text_cache
from .labels import fill_template

log = logging.getLogger("mote")
PROMPT_BATCH = 512


def encode_class_names(model, tokenizer, class_names: Sequence[str], templates: Sequence[str], *, device="cpu"):
    """t_c = normalize(mean_j normalize(text(template_j(c)))): returns [C, D] float32.
    In fp32 on every device: class embeddings are computed once and cached."""
    import torch
    import torch.nn.functional as F

    prompts = [fill_template(t, c) for c in class_names for t in templates]
    chunks = []
    # A bar only when there are several batches of prompts (many classes).
    with torch.inference_mode(), Progress("encode-text", total=len(prompts), unit="prompts",
                                          enabled=len(prompts) > PROMPT_BATCH) as bar:
        for start in range(0, len(prompts), PROMPT_BATCH):
            tokens = tokenizer(prompts[start : start + PROMPT_BATCH]).to(device)
            chunks.append(F.normalize(model.encode_text(tokens).float(), dim=-1))
            bar.advance(len(tokens))
    per_prompt = torch.cat(chunks).view(len(class_names), len(templates), -1)  # [C, J, D]
    return F.normalize(per_prompt.mean(dim=1), dim=-1).cpu()


@dataclass
class TextResult:
    embeddings: TextEmbeddings
    path: Path
    hit: bool
    seconds: float


def text_request(*, model: str, pretrained: str | None, quick_gelu: bool | None, class_names: Sequence[str], templates: Sequence[str]) -> TextRequest:
    if not class_names:
        raise MoteError("no class names given")
    pretrained = normalise_pretrained(model, pretrained)
    return TextRequest(
        model=model,
        weights_id=weights_identity(model, pretrained),
        quick_gelu=quick_gelu,
        class_names=tuple(class_names),
        templates=tuple(templates),
    )


def cached_text_embeddings(
    *,
    model: str,
    pretrained: str | None,
    class_names: Sequence[str],
    templates: Sequence[str],
    quick_gelu: bool | None = None,
    out: Path | None = None,
    device: str = "auto",
    clip=None,
) -> TextResult:
    """Embeddings from the cache when it holds exactly this request, else computed
    once and stored. `clip` may pass an already-built CLIP model to reuse."""
    started = time.perf_counter()
    request = text_request(model=model, pretrained=pretrained, quick_gelu=quick_gelu, class_names=class_names, templates=templates)
    path = Path(out) if out is not None else request.default_path()
    cached = lookup_text_cache(request, path)
    if cached is not None:
        return TextResult(cached, path, True, time.perf_counter() - started)

    from ..model.clip import build_clip, resolve_clip, tokenizer_for
    from ..model.runtime import resolve_device

    device = str(resolve_device(device))
    # resolve_clip normalises itself; normalising twice turns 'none' (random init) into the default, openai.
    spec = resolve_clip(model, pretrained, quick_gelu=quick_gelu)
    model_obj = clip if clip is not None else build_clip(spec, device=device, need_text=True)
    log.info("encoding %d classes x %d templates with %s", len(class_names), len(templates), model)
    emb = encode_class_names(model_obj, tokenizer_for(spec), class_names, templates, device=device).numpy()
    seconds = time.perf_counter() - started
    write_text_cache(path, request, emb, pretrained=spec.pretrained, seconds=seconds)
    result = TextEmbeddings(
        class_names=list(class_names), templates=list(templates), embeddings=emb,
        model=model, weights_id=request.weights_id, key=request.key, path=path,
    )
    return TextResult(result, path, False, seconds)
