"""A bank of N feed-forward experts, and the two ways MoTE combines them.

Key names follow the authors' release (`fc_up.{i}`, `fc_dn.{i}`,
`mote_fusion_weight`) so their checkpoints load without renaming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import (
    MLP_RATIO,
    QUICK_GELU_SCALE,
    ROUTING_MODES,
    ROUTING_TEMPERATURE,
    TAU_SAMPLINGS,
    WMR_TAU_CANDIDATES,
)


def quick_gelu(a: torch.Tensor) -> torch.Tensor:
    return a * torch.sigmoid(QUICK_GELU_SCALE * a)


@dataclass(frozen=True)
class RoutingConfig:
    """How a training step draws its experts and WMR temperatures (the paper's ablations).

    mode: "multinomial" draws from softmax([1..N] / temperature) (the method);
          "random" draws uniformly; "fixed" always takes the last expert.
    tau_sampling: "discrete" draws tau from WMR_TAU_CANDIDATES (the method);
          "continuous" draws it uniformly from their finite range (paper table 7f).
    """

    mode: str = "multinomial"
    temperature: float = ROUTING_TEMPERATURE
    tau_sampling: str = "discrete"

    def __post_init__(self) -> None:
        if self.mode not in ROUTING_MODES:
            raise ValueError(f"routing mode {self.mode!r}: expected one of {', '.join(ROUTING_MODES)}")
        if self.tau_sampling not in TAU_SAMPLINGS:
            raise ValueError(f"tau sampling {self.tau_sampling!r}: expected one of {', '.join(TAU_SAMPLINGS)}")
        if not self.temperature > 0:
            raise ValueError(f"routing temperature {self.temperature}: expected a positive number")


def routing_probabilities(num_experts: int, temperature: float = ROUTING_TEMPERATURE) -> torch.Tensor:
    """p = softmax([1..N] / temperature): higher-index experts see more data."""
    ranks = torch.arange(1, num_experts + 1, dtype=torch.float64)
    return torch.softmax(ranks / temperature, dim=0)


def merge_weights_for_tau(tau: float, num_experts: int) -> torch.Tensor:
    """w = softmax([1..N] / tau); tau = +inf is the plain average, tau = 0 the last expert
    (the limit from above; a continuous draw can land there only by rounding)."""
    if math.isinf(tau) and tau > 0:
        return torch.full((num_experts,), 1.0 / num_experts, dtype=torch.float64)
    if tau == 0:
        return F.one_hot(torch.tensor(num_experts - 1), num_experts).double()
    return routing_probabilities(num_experts, temperature=tau)


def draw_expert_indices(num_blocks: int, num_experts: int, generator: torch.Generator | None = None, *,
                        mode: str = "multinomial", temperature: float = ROUTING_TEMPERATURE) -> list[int]:
    """One expert per block, drawn independently (multinomial, random) or the last (fixed)."""
    if mode == "fixed":
        return [num_experts - 1] * num_blocks
    if mode == "random":
        probs = torch.full((num_experts,), 1.0 / num_experts, dtype=torch.float64)
    elif mode == "multinomial":
        probs = routing_probabilities(num_experts, temperature)
    else:
        raise ValueError(f"routing mode {mode!r}: expected one of {', '.join(ROUTING_MODES)}")
    return torch.multinomial(probs, num_blocks, replacement=True, generator=generator).tolist()


def draw_wmr_taus(num_blocks: int, generator: torch.Generator | None = None, *, sampling: str = "discrete") -> list[float]:
    """One tau per block: uniform over the discrete candidate set, or (continuous) uniform
    over [min, max] of its finite candidates, -9.6 ... 9.6."""
    if sampling == "continuous":
        finite = [t for t in WMR_TAU_CANDIDATES if math.isfinite(t)]
        low, high = min(finite), max(finite)
        u = torch.rand(num_blocks, generator=generator, dtype=torch.float64)
        return (low + (high - low) * u).tolist()
    if sampling != "discrete":
        raise ValueError(f"tau sampling {sampling!r}: expected one of {', '.join(TAU_SAMPLINGS)}")
    picks = torch.randint(len(WMR_TAU_CANDIDATES), (num_blocks,), generator=generator)
    return [WMR_TAU_CANDIDATES[i] for i in picks.tolist()]


class ExpertFFN(nn.Module):
    """N FFNs of shape D -> 4D -> D (QuickGELU), each with its own initialisation."""

    def __init__(self, *, width: int, num_experts: int) -> None:
        super().__init__()
        hidden = width * MLP_RATIO
        self.num_experts = num_experts
        self.fc_up = nn.ModuleList(nn.Linear(width, hidden) for _ in range(num_experts))
        self.fc_dn = nn.ModuleList(nn.Linear(hidden, width) for _ in range(num_experts))
        # The release stores zeros here; softmax of it is the uniform merge used at
        # inference. Kept as a buffer so its checkpoints round-trip.
        self.register_buffer("mote_fusion_weight", torch.zeros(num_experts), persistent=True)

    def forward_expert(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self.fc_dn[index](quick_gelu(self.fc_up[index](x)))

    def merged_parameters(self, weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """sum_i w_i W_i for both linear layers; differentiable in every expert."""
        w = weights.to(dtype=self.fc_up[0].weight.dtype, device=self.fc_up[0].weight.device)

        def mix(layers: nn.ModuleList, name: str) -> torch.Tensor:
            stacked = torch.stack([getattr(layer, name) for layer in layers])  # [N, ...]
            return torch.tensordot(w, stacked, dims=1)

        return mix(self.fc_up, "weight"), mix(self.fc_up, "bias"), mix(self.fc_dn, "weight"), mix(self.fc_dn, "bias")

    def forward_merged(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        up_w, up_b, dn_w, dn_b = self.merged_parameters(weights)
        return F.linear(quick_gelu(F.linear(x, up_w, up_b)), dn_w, dn_b)

    @torch.no_grad()
    def collapsed(self, weights: Sequence[float] | torch.Tensor | None = None) -> "ExpertFFN":
        """A single-expert bank holding the merged weights (uniform by default)."""
        if weights is None:
            weights = torch.full((self.num_experts,), 1.0 / self.num_experts)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        width = self.fc_up[0].in_features
        out = ExpertFFN(width=width, num_experts=1).to(self.fc_up[0].weight.device, self.fc_up[0].weight.dtype)
        # Merge in float64 so the collapsed head matches the unmerged one to rounding.
        up_w, up_b, dn_w, dn_b = (
            torch.tensordot(weights, torch.stack([getattr(l, n).double() for l in layers]), dims=1)
            for layers, n in ((self.fc_up, "weight"), (self.fc_up, "bias"), (self.fc_dn, "weight"), (self.fc_dn, "bias"))
        )
        out.fc_up[0].weight.copy_(up_w)
        out.fc_up[0].bias.copy_(up_b)
        out.fc_dn[0].weight.copy_(dn_w)
        out.fc_dn[0].bias.copy_(dn_b)
        return out
