"""CLIP with no temporal head, written as a merged model: zero-shot CLIP with mean pooling.

A head whose every Linear and Embedding weight and bias is zero passes its input
through (attention and FFN add 0, the position table adds 0): Temporal(x + P) = x,
so z = alpha * x + x and v = normalize(mean_T x) for every alpha >= 0. That is
CLIP's frame-averaged video embedding, with or without modulation, in the merged
format, so the frame cache and `mote eval` take it like any fine-tuned model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..checkpoints.merged import MERGED_FORMAT, MERGED_VERSION, state_sha256
from ..hashing import package_version
from ..model.clip import build_clip, resolve_clip
from ..model.temporal import MoTEHead, head_parameter_count
from ..model.video_clip import VideoModelConfig
from .merge import MergeReport, write_merged


def pass_through_head(config: VideoModelConfig) -> MoTEHead:
    """A one-expert head computing Temporal(x + P) = x."""
    head = MoTEHead(config.head)
    with torch.no_grad():
        for module in head.modules():
            if isinstance(module, (nn.Linear, nn.Embedding, nn.MultiheadAttention)):
                for p in module.parameters(recurse=False):
                    p.zero_()
    return head


def write_plain_clip(*, model: str, pretrained: str | None, out: str | os.PathLike, num_frames: int,
                     class_names: list[str], class_embeddings: torch.Tensor) -> MergeReport:
    """The image encoder of `pretrained` with a pass-through head; `class_names` and their
    embeddings [C, D] stand in for fine-tuning classes (modulation reads them; here it changes nothing)."""
    spec = resolve_clip(model, pretrained)
    clip = build_clip(spec, need_text=False)
    config = VideoModelConfig.for_clip(spec, layers=1, num_experts=1, num_frames=num_frames)
    head = pass_through_head(config)
    visual = {k: v.detach().float().contiguous() for k, v in clip.visual.state_dict().items()}
    metadata = dict(
        format=MERGED_FORMAT, format_version=MERGED_VERSION, model_config=config.to_dict(),
        clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu, weights_id=spec.weights_id),
        class_names=list(class_names), source=dict(format="plain-clip", pooling="mean", weights_id=spec.weights_id),
        patch=None, num_experts_merged=0, head_params_before=0, head_params_after=head_parameter_count(head),
        visual_sha256=state_sha256(visual), mote_version=package_version("motecli"),
    )
    tensors = {f"visual.{k}": v for k, v in visual.items()}
    tensors |= {f"head.{k}": v.float().contiguous() for k, v in head.state_dict().items()}
    tensors["logit_scale"] = clip.logit_scale.detach().float().reshape(())
    tensors["class_embeddings"] = class_embeddings.detach().float().contiguous()
    out = Path(out)
    write_merged(out, tensors, metadata)
    return MergeReport(out, 0, metadata["head_params_after"], 0, metadata)
