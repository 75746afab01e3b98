"""Weight patching for zero-shot use (method section 4): the release evaluates
zero-shot with image-encoder weights `alpha * fine-tuned + (1 - alpha) * original`."""

from __future__ import annotations

import torch

from ..errors import MoteError
from .clip import build_clip, resolve_clip


def original_visual_state(*, model: str, original: str, quick_gelu: bool) -> tuple[dict[str, torch.Tensor], str]:
    """The original CLIP image encoder (open_clip tag or local file) and its weights id."""
    spec = resolve_clip(model, original, quick_gelu=quick_gelu)
    return build_clip(spec, device="cpu", need_text=False).visual.state_dict(), spec.weights_id


@torch.no_grad()
def patch_visual_state(
    finetuned: dict[str, torch.Tensor], original: dict[str, torch.Tensor], *, alpha: float
) -> dict[str, torch.Tensor]:
    """alpha * finetuned + (1 - alpha) * original, key by key (float tensors only)."""
    if not 0.0 <= alpha <= 1.0:
        raise MoteError(f"--patch-alpha {alpha}: expected a value in [0, 1]")
    out = {}
    for key, value in finetuned.items():
        if key not in original:
            raise MoteError(f"original CLIP weights lack visual.{key}; wrong --original for this model?")
        if original[key].shape != value.shape:
            raise MoteError(
                f"original CLIP visual.{key} has shape {tuple(original[key].shape)}, fine-tuned {tuple(value.shape)}"
            )
        if value.is_floating_point():
            mixed = alpha * value.double() + (1.0 - alpha) * original[key].double()
            out[key] = mixed.to(value.dtype)
        else:
            out[key] = value
    return out
