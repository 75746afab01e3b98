"""The MoTE temporal head: position table + L pre-norm blocks with expert FFNs.

    z = alpha * Temporal(x + P[0:T]) + x        x, z: [B, T, D]

Each block's FFN is a bank of N experts. Three ways to run it:
  * `expert_indices` (training, route pass): block l uses expert indices[l];
  * `merge_weights` [L, N] (training, WMR pass): block l uses sum_i w_li W_i;
  * neither (inference): the uniform merge, i.e. the collapsed head.
Key names follow the authors' release (section 8 of the method). Attention keeps
`nn.MultiheadAttention`'s parameters and key names but runs through
`F.scaled_dot_product_attention`, which picks the fused kernels (flash /
memory-efficient attention on CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import DEFAULT_NUM_EXPERTS, HEAD_DIM, INIT_STD, LAYER_NORM_EPS, POSITION_TABLE_ROWS
from .experts import ExpertFFN


@dataclass(frozen=True)
class HeadConfig:
    width: int  # D, the CLIP embedding width
    heads: int  # CLIP text width / 64
    layers: int  # L
    num_experts: int = DEFAULT_NUM_EXPERTS

    @classmethod
    def for_clip(cls, *, embed_dim: int, text_width: int, layers: int, num_experts: int = DEFAULT_NUM_EXPERTS) -> "HeadConfig":
        return cls(width=embed_dim, heads=max(1, text_width // HEAD_DIM), layers=layers, num_experts=num_experts)


class SelfAttention(nn.Module):
    """Multi-head self-attention holding `nn.MultiheadAttention`'s parameters under its
    key names (`in_proj_weight`, `in_proj_bias`, `out_proj.weight/bias`), so the release's
    checkpoints and ours load unchanged; computed with F.scaled_dot_product_attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)
        # nn.MultiheadAttention's initialisation in its order (out_proj drawn first), so a
        # seed gives the same head as before the switch to SDPA.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # [B, T, 3D]
        # [B, T, 3D] -> [B, T, 3, H, D/H] -> [3, B, H, T, D/H]
        q, k, v = qkv.view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, T, D/H]
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))  # [B, H, T, D/H] -> [B, T, D]


class TemporalBlock(nn.Module):
    def __init__(self, *, width: int, heads: int, num_experts: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.attn = SelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.mlp = ExpertFFN(width=width, num_experts=num_experts)

    def forward(self, h: torch.Tensor, *, expert: int | None = None, weights: torch.Tensor | None = None) -> torch.Tensor:
        a = self.ln_1(h)
        h = h + self.attn(a)
        m = self.ln_2(h)
        if expert is not None:
            return h + self.mlp.forward_expert(m, expert)
        if weights is not None:
            return h + self.mlp.forward_merged(m, weights)
        if self.mlp.num_experts == 1:
            return h + self.mlp.forward_expert(m, 0)
        uniform = torch.full((self.mlp.num_experts,), 1.0 / self.mlp.num_experts, device=m.device)
        return h + self.mlp.forward_merged(m, uniform)


class Transformer(nn.Module):
    """Only a container, so state-dict keys read `transformer.resblocks.N...`."""

    def __init__(self, *, width: int, heads: int, layers: int, num_experts: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(
            TemporalBlock(width=width, heads=heads, num_experts=num_experts) for _ in range(layers)
        )


class MoTEHead(nn.Module):
    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.frame_position_embeddings = nn.Embedding(POSITION_TABLE_ROWS, config.width)
        self.transformer = Transformer(
            width=config.width, heads=config.heads, layers=config.layers, num_experts=config.num_experts
        )
        self.apply(_init_weights)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.resblocks

    def temporal(
        self,
        x: torch.Tensor,
        *,
        expert_indices: Sequence[int] | None = None,
        merge_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Temporal(x + P): [B, T, D] -> [B, T, D], without the outer residual."""
        if expert_indices is not None and merge_weights is not None:
            raise ValueError("pass expert_indices or merge_weights, not both")
        num_frames = x.shape[1]
        h = x + self.frame_position_embeddings.weight[:num_frames].to(x.dtype)
        for layer, block in enumerate(self.blocks):
            h = block(
                h,
                expert=None if expert_indices is None else int(expert_indices[layer]),
                weights=None if merge_weights is None else merge_weights[layer],
            )
        return h

    def forward(
        self,
        x: torch.Tensor,
        *,
        alpha: torch.Tensor | float = 1.0,
        expert_indices: Sequence[int] | None = None,
        merge_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z = alpha * Temporal(x + P) + x; alpha a float or one value per video [B]."""
        t = self.temporal(x, expert_indices=expert_indices, merge_weights=merge_weights)
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(t.dtype).view(-1, 1, 1)  # [B] -> [B, 1, 1]
        return alpha * t + x

    @torch.no_grad()
    def collapsed(self) -> "MoTEHead":
        """The deployable head: each block's experts averaged into one FFN."""
        config = HeadConfig(width=self.config.width, heads=self.config.heads, layers=self.config.layers, num_experts=1)
        out = MoTEHead(config).to(self.frame_position_embeddings.weight.device)
        state = {k: v for k, v in self.state_dict().items() if ".mlp." not in k}
        out.load_state_dict(state, strict=False)
        for src, dst in zip(self.blocks, out.blocks):
            dst.mlp = src.mlp.collapsed()
        return out


def video_embedding(z: torch.Tensor) -> torch.Tensor:
    """v = normalize(mean_T z): [B, T, D] -> [B, D]."""
    return F.normalize(z.mean(dim=1), dim=-1)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def head_parameter_count(head: MoTEHead) -> int:
    """Learned parameters of the head (the fusion-weight buffer is not a parameter)."""
    return sum(p.numel() for p in head.parameters())
