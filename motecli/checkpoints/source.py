"""The two checkpoint formats `mote merge` accepts, read into one `SourceCheckpoint`.

* ours (`format: "mote-train"`): written by `mote train`, full VideoCLIP state dict.
* the authors' release (method section 8): `model_state_dict` (OpenAI CLIP keys,
  `visual.*` + `logit_scale`) and `fusion_model_state_dict` (head keys plus
  `spe_cls_feature`, the fine-tuning class embeddings); `module.` prefixes from DDP.
  It stores neither the model name nor the class names: the model is given or
  inferred from shapes, the class names come from a labels file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import MoteError
from ..hashing import file_sha256
from ..model.clip import resolve_clip
from ..model.identity import TINY_MODEL
from ..model.video_clip import VideoModelConfig
from ..model.weights import read_checkpoint, strip_prefix
from .training import FORMAT as OURS
from .training import FORMAT_VERSION as OURS_VERSION

AUTHORS = "mote-release"
# (visual width, visual blocks) -> open_clip model of the release checkpoints.
RELEASE_MODELS = {(768, 12): "ViT-B-16", (1024, 24): "ViT-L-14"}
_EXPERT_KEY = re.compile(r"transformer\.resblocks\.(\d+)\.mlp\.fc_up\.(\d+)\.weight$")


@dataclass
class SourceCheckpoint:
    """What merging needs, whatever the file format."""

    path: Path
    format: str
    config: VideoModelConfig
    clip: dict  # model, pretrained, quick_gelu, weights_id: names the frozen text encoder
    visual: dict[str, torch.Tensor]  # open_clip `visual` module keys, without the prefix
    head: dict[str, torch.Tensor]  # MoTEHead keys, all experts
    logit_scale: torch.Tensor
    class_names: list[str]
    class_embeddings: torch.Tensor  # [C_ft, D] float32
    recipe: dict = field(default_factory=dict)
    epoch: int | None = None
    step: int | None = None

    def provenance(self) -> dict:
        return dict(path=str(self.path), sha256=file_sha256(self.path), format=self.format,
                    epoch=self.epoch, step=self.step, recipe=self.recipe)


def read_source_checkpoint(
    path: str | os.PathLike, *, model: str | None = None, class_names: list[str] | None = None
) -> SourceCheckpoint:
    """Detect the format of `path` and read it; anything else is a one-line MoteError."""
    path = Path(path)
    obj = read_checkpoint(path)
    if obj.get("format") == OURS:
        return _read_ours(path, obj)
    if "fusion_model_state_dict" in obj and "model_state_dict" in obj:
        return _read_release(path, obj, model=model, class_names=class_names)
    keys = ", ".join(sorted(map(str, obj))[:5])
    raise MoteError(
        f"{path}: not a MoTE checkpoint (expected format='{OURS}' from `mote train`, or the release's "
        f"model_state_dict + fusion_model_state_dict; found keys: {keys or 'none'})"
    )


def _split_model_state(path: Path, state: dict) -> tuple[dict, dict, torch.Tensor]:
    state = strip_prefix(state)
    visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    head = {k[len("head."):]: v for k, v in state.items() if k.startswith("head.")}
    if not visual or "logit_scale" not in state:
        raise MoteError(f"{path}: model state lacks the image encoder (visual.*) or logit_scale")
    return visual, head, state["logit_scale"]


def _read_ours(path: Path, obj: dict) -> SourceCheckpoint:
    version = obj.get("format_version")
    if not isinstance(version, int) or version > OURS_VERSION:
        raise MoteError(f"{path}: format_version {version!r}; this mote reads {OURS} up to version {OURS_VERSION}")
    for key in ("model_config", "clip", "model", "class_names", "class_embeddings"):
        if key not in obj:
            raise MoteError(f"{path}: {OURS} checkpoint without '{key}'")
    visual, head, logit_scale = _split_model_state(path, obj["model"])
    if not head:
        raise MoteError(f"{path}: model state has no head.* keys")
    return SourceCheckpoint(
        path=path, format=OURS, config=VideoModelConfig.from_dict(obj["model_config"]), clip=dict(obj["clip"]),
        visual=visual, head=head, logit_scale=logit_scale, class_names=list(obj["class_names"]),
        class_embeddings=torch.as_tensor(obj["class_embeddings"]).float(), recipe=dict(obj.get("recipe") or {}),
        epoch=obj.get("epoch"), step=obj.get("step"),
    )


def infer_release_model(path: Path, visual: dict) -> str:
    """ViT-B-16 or ViT-L-14 from the width of visual.proj and the number of blocks."""
    if "proj" not in visual:
        raise MoteError(f"{path}: model_state_dict has no visual.proj")
    width = int(visual["proj"].shape[0])
    blocks = len({k.split(".")[2] for k in visual if k.startswith("transformer.resblocks.")})
    if (width, blocks) not in RELEASE_MODELS:
        raise MoteError(f"{path}: image encoder of width {width} with {blocks} blocks is not ViT-B-16 or ViT-L-14; pass --model")
    return RELEASE_MODELS[(width, blocks)]


def _read_release(path: Path, obj: dict, *, model: str | None, class_names: list[str] | None) -> SourceCheckpoint:
    visual, _, logit_scale = _split_model_state(path, obj["model_state_dict"])
    fusion = strip_prefix(obj["fusion_model_state_dict"])
    if "spe_cls_feature" not in fusion:
        raise MoteError(f"{path}: fusion_model_state_dict has no spe_cls_feature (fine-tuning class embeddings)")
    class_embeddings = fusion.pop("spe_cls_feature").float()
    experts: dict[int, set[int]] = {}
    for key in fusion:
        if m := _EXPERT_KEY.match(key):
            experts.setdefault(int(m[1]), set()).add(int(m[2]))
    if not experts:
        raise MoteError(f"{path}: fusion_model_state_dict has no transformer.resblocks.N.mlp.fc_up.I.weight (not a MoTE head)")
    if class_names is None:
        raise MoteError(f"{path}: the release format stores no class names; pass --labels with the {class_embeddings.shape[0]} fine-tuning classes")
    if len(class_names) != class_embeddings.shape[0]:
        raise MoteError(f"{path}: spe_cls_feature has {class_embeddings.shape[0]} classes, --labels gives {len(class_names)}")
    model = model or infer_release_model(path, visual)
    # The release fine-tunes OpenAI CLIP: QuickGELU, text encoder = OpenAI weights.
    text_pretrained = None if model == TINY_MODEL else "openai"
    spec = resolve_clip(model, text_pretrained or "none", quick_gelu=True)
    width = int(fusion["frame_position_embeddings.weight"].shape[1])
    if width != spec.embed_dim:
        raise MoteError(f"{path}: head width {width} does not match {model} (embed dim {spec.embed_dim}); wrong --model?")
    config = VideoModelConfig.for_clip(spec, layers=len(experts), num_experts=len(next(iter(experts.values()))))
    clip = dict(model=model, pretrained=text_pretrained, quick_gelu=True, weights_id=spec.weights_id)
    return SourceCheckpoint(
        path=path, format=AUTHORS, config=config, clip=clip, visual=visual, head=fusion, logit_scale=logit_scale,
        class_names=list(class_names), class_embeddings=class_embeddings, epoch=obj.get("epoch"),
    )
