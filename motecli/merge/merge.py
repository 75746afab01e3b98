"""Collapse a MoTE checkpoint into the deployable model and write it atomically.

The merged file holds tensors `visual.*` (open_clip image encoder), `head.*`
(the collapsed head, one FFN per block), `logit_scale` and `class_embeddings`
(fine-tuning classes, for temporal feature modulation), plus JSON metadata:
in the safetensors header under "mote" (or a `metadata` string in a weights-only
`.pt`), and the same JSON in a readable sidecar `<file>.json`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_path, remove_stale_temporaries_of
from ..errors import MoteError
from ..hashing import package_version
from ..model.temporal import MoTEHead, head_parameter_count
from ..checkpoints.merged import MERGED_FORMAT, MERGED_VERSION, build_visual, state_sha256
from ..checkpoints.source import SourceCheckpoint, read_source_checkpoint
from ..model.patch import original_visual_state, patch_visual_state
from .args import check_merge_args, check_merged_output

log = logging.getLogger("mote")


@dataclass
class MergeReport:
    out: Path
    head_params_before: int
    head_params_after: int
    num_experts: int
    metadata: dict


def collapse_head(source: SourceCheckpoint) -> tuple[MoTEHead, int]:
    """The head with all experts loaded, then averaged: (collapsed head, params before)."""
    head = MoTEHead(source.config.head)
    missing, unexpected = head.load_state_dict(source.head, strict=False)
    if missing or unexpected:
        bad = (missing or unexpected)[0]
        raise MoteError(
            f"{source.path}: head weights do not match the configured head "
            f"({'missing' if missing else 'unexpected'} {bad}; {len(missing)} missing, {len(unexpected)} unexpected)"
        )
    return head.collapsed(), head_parameter_count(head)


def merge_checkpoint(
    path: str | os.PathLike,
    *,
    out: str | os.PathLike,
    model: str | None = None,
    class_names: list[str] | None = None,
    patch_alpha: float | None = None,
    original: str | None = None,
) -> MergeReport:
    """Read `path` (ours or the release), collapse the experts, optionally patch the
    image encoder, write `out` (.safetensors, or weights-only .pt) and `out`.json."""
    check_merge_args(path, out=out, patch_alpha=patch_alpha, original=original)
    source = read_source_checkpoint(path, model=model, class_names=class_names)
    head, before = collapse_head(source)
    visual = {k: v.float() for k, v in source.visual.items()}
    # Fail here, not at evaluation time, if the image encoder does not fit the model.
    build_visual(source.clip["model"], quick_gelu=source.config.quick_gelu, state=visual, source=str(source.path))
    patch = None
    if patch_alpha is not None:
        orig_state, orig_id = original_visual_state(
            model=source.clip["model"], original=original, quick_gelu=source.config.quick_gelu
        )
        visual = patch_visual_state(visual, orig_state, alpha=patch_alpha)
        patch = dict(alpha=patch_alpha, original=original, original_weights_id=orig_id)

    config = source.config.to_dict() | dict(num_experts=1)
    metadata = dict(
        format=MERGED_FORMAT, format_version=MERGED_VERSION, model_config=config, clip=source.clip,
        class_names=source.class_names, source=source.provenance(), patch=patch,
        num_experts_merged=source.config.num_experts, head_params_before=before,
        head_params_after=head_parameter_count(head), visual_sha256=state_sha256(visual),
        mote_version=package_version("motecli"),
    )
    tensors = {f"visual.{k}": v.contiguous() for k, v in visual.items()}
    tensors |= {f"head.{k}": v.float().contiguous() for k, v in head.state_dict().items()}
    tensors["logit_scale"] = source.logit_scale.detach().float().reshape(())
    tensors["class_embeddings"] = source.class_embeddings.contiguous()
    out = Path(out)
    write_merged(out, tensors, metadata)
    log.info("merged %s (%s) -> %s", source.path, source.format, out)
    return MergeReport(out, before, metadata["head_params_after"], source.config.num_experts, metadata)


def write_merged(out: Path, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    out = check_merged_output(out)
    text = json.dumps(metadata, sort_keys=True)
    sidecar = out.with_name(out.name + ".json")
    for path in (out, sidecar):
        remove_stale_temporaries_of(path)  # left by a killed `mote merge` of the same output
    with atomic_path(out) as tmp:
        if out.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata={"mote": text})
        else:
            torch.save(dict(format=MERGED_FORMAT, metadata=text, state=tensors), tmp)
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
