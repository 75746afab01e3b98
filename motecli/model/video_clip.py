"""CLIP image encoder + MoTE temporal head + CLIP's logit scale: the trained model.

Text is not part of it: the text encoder is frozen (method section 3), so class
embeddings come from the text cache and are passed in as a [C, D] tensor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from ..constants import DEFAULT_NUM_EXPERTS, DEFAULT_NUM_FRAMES
from .clip import ClipSpec, build_clip
from .temporal import HeadConfig, MoTEHead, video_embedding

# Head depth per CLIP backbone (method section 2); other models default to 4.
HEAD_LAYERS = {"ViT-B-16": 4, "ViT-B-16-quickgelu": 4, "ViT-L-14": 6, "ViT-L-14-quickgelu": 6}


@dataclass(frozen=True)
class VideoModelConfig:
    """What is needed to rebuild the model's shapes; stored in every checkpoint."""

    clip_model: str
    quick_gelu: bool
    embed_dim: int
    heads: int
    layers: int
    num_experts: int = DEFAULT_NUM_EXPERTS
    num_frames: int = DEFAULT_NUM_FRAMES

    @classmethod
    def for_clip(cls, spec: ClipSpec, *, layers: int | None = None, num_experts: int = DEFAULT_NUM_EXPERTS,
                 num_frames: int = DEFAULT_NUM_FRAMES) -> "VideoModelConfig":
        head = HeadConfig.for_clip(
            embed_dim=spec.embed_dim, text_width=spec.text_width,
            layers=layers if layers is not None else HEAD_LAYERS.get(spec.model, 4), num_experts=num_experts,
        )
        return cls(clip_model=spec.model, quick_gelu=spec.quick_gelu, embed_dim=head.width, heads=head.heads,
                   layers=head.layers, num_experts=num_experts, num_frames=num_frames)

    @property
    def head(self) -> HeadConfig:
        return HeadConfig(width=self.embed_dim, heads=self.heads, layers=self.layers, num_experts=self.num_experts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VideoModelConfig":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class VideoCLIP(nn.Module):
    def __init__(self, *, visual: nn.Module, head: MoTEHead, logit_scale: torch.Tensor | float) -> None:
        super().__init__()
        self.visual = visual
        self.head = head
        self.logit_scale = nn.Parameter(torch.as_tensor(logit_scale, dtype=torch.float32).clone())

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Every frame on its own through CLIP: [B, T, 3, H, W] -> x [B, T, D]."""
        b, t = frames.shape[:2]
        x = self.visual(frames.flatten(0, 1))  # [B*T, D]
        return x.view(b, t, -1)

    def video_features(
        self,
        x: torch.Tensor,
        *,
        alpha: torch.Tensor | float = 1.0,
        expert_indices: Sequence[int] | None = None,
        merge_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame features [B, T, D] -> (z [B, T, D], v [B, D] unit rows)."""
        z = self.head(x, alpha=alpha, expert_indices=expert_indices, merge_weights=merge_weights)
        return z, video_embedding(z)

    def logits(self, v: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """s * v . t_c with s = exp(logit_scale): [B, D] x [C, D] -> [B, C]."""
        return self.logit_scale.exp() * v @ text.to(v.dtype).T

    def forward(self, frames: torch.Tensor, text: torch.Tensor, *, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Inference logits with the uniformly merged experts."""
        _, v = self.video_features(self.encode_frames(frames), alpha=alpha)
        return self.logits(v, text)

    @torch.no_grad()
    def collapsed(self) -> "VideoCLIP":
        """The same model with each block's experts averaged into one FFN."""
        return VideoCLIP(visual=self.visual, head=self.head.collapsed(), logit_scale=self.logit_scale.detach())


def build_video_clip(spec: ClipSpec, config: VideoModelConfig, *, device: str | torch.device = "cpu") -> VideoCLIP:
    """CLIP image encoder with `spec`'s weights and a freshly initialised MoTE head."""
    clip = build_clip(spec, device="cpu", need_text=False)
    model = VideoCLIP(visual=clip.visual, head=MoTEHead(config.head), logit_scale=clip.logit_scale.detach())
    return model.to(device)
