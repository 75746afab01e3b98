"""Reading a merged model: metadata alone (cheap, for cache keys) or the full model.

Default location: `env.default_checkpoint()`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..env import default_checkpoint
from ..errors import MoteError
from ..textfile import require_file

MISSING_HINT = "pass --checkpoint FILE (written by `mote merge`) or set $MOTE_CHECKPOINT"

MERGED_FORMAT = "mote-merged"
MERGED_VERSION = 1


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over (name, dtype, shape, bytes) of every tensor, in key order: names the
    image-encoder numbers independently of how the file that holds them is laid out."""
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}\n".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


def _check_metadata(path: Path, meta: dict) -> dict:
    if meta.get("format") != MERGED_FORMAT:
        raise MoteError(f"{path}: not a merged MoTE model (run `mote merge` on the training checkpoint first)")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > MERGED_VERSION:
        raise MoteError(f"{path}: merged format_version {version!r}; this mote reads up to {MERGED_VERSION}")
    return meta


def read_merged_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a merged file, without loading its tensors."""
    path = require_file(path, "merged model", expected="a merged model file (written by `mote merge`)",
                        missing=MISSING_HINT)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                text = (fh.metadata() or {}).get("mote")
        except Exception as err:
            raise MoteError(f"{path}: not a readable safetensors file ({err})") from err
        if text is None:
            raise MoteError(f"{path}: not a merged MoTE model (run `mote merge` on the training checkpoint first)")
        return _check_metadata(path, json.loads(text))
    obj = _read_pt(path)
    return _check_metadata(path, json.loads(obj["metadata"]))


def _read_pt(path: Path) -> dict:
    from ..model.weights import read_checkpoint

    obj = read_checkpoint(path)
    if obj.get("format") != MERGED_FORMAT or "metadata" not in obj:
        raise MoteError(f"{path}: not a merged MoTE model (run `mote merge` on the training checkpoint first)")
    return obj


def read_merged_tensors(path: str | os.PathLike, *, prefixes: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a merged file; with `prefixes`, only keys starting with one of them
    (safetensors reads just those, so the head loads without the image encoder)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            keys = [k for k in fh.keys() if prefixes is None or k.startswith(prefixes)]
            return {k: fh.get_tensor(k) for k in keys}
    state = _read_pt(path)["state"]
    return {k: v for k, v in state.items() if prefixes is None or k.startswith(prefixes)}


def load_head(path: str | os.PathLike, meta: dict | None = None):
    """(collapsed MoTEHead, logit_scale, class_embeddings [C_ft, D]) without the image encoder."""
    from ..model.temporal import MoTEHead
    from ..model.video_clip import VideoModelConfig

    meta = meta or read_merged_metadata(path)
    tensors = read_merged_tensors(path, prefixes=("head.", "logit_scale", "class_embeddings"))
    head = MoTEHead(VideoModelConfig.from_dict(meta["model_config"]).head)
    head.load_state_dict({k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})
    return head.eval(), tensors["logit_scale"], tensors["class_embeddings"]


def load_merged(path: str | os.PathLike | None = None):
    """(VideoCLIP with the collapsed head, in eval mode; metadata dict)."""
    from ..model.video_clip import VideoCLIP

    path = Path(path) if path is not None else default_checkpoint()
    meta = read_merged_metadata(path)
    head, logit_scale, _ = load_head(path, meta)
    state = {k[len("visual."):]: v for k, v in read_merged_tensors(path, prefixes=("visual.",)).items()}
    visual = build_visual(meta["clip"]["model"], quick_gelu=meta["model_config"]["quick_gelu"], state=state, source=str(path))
    model = VideoCLIP(visual=visual, head=head, logit_scale=logit_scale)
    return model.eval(), meta


def build_visual(model: str, *, quick_gelu: bool, state: dict[str, torch.Tensor], source: str) -> torch.nn.Module:
    """An open_clip image encoder of `model` holding exactly `state` (every key, right shapes)."""
    from ..model.clip import build_clip, load_clip_state, resolve_clip

    clip = build_clip(resolve_clip(model, "none", quick_gelu=quick_gelu), device="cpu", need_text=False)
    load_clip_state(clip, {f"visual.{k}": v for k, v in state.items()}, source=source, need_text=False)
    return clip.visual.eval()
