"""`mote merge`: collapse a trained MoTE checkpoint into the deployable model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app
from ..constants import ZERO_SHOT_PATCH_ALPHA


@app.command("merge")
def merge(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="`mote train` checkpoint, or the authors' MoTE_B16.pt / MoTE_L14.pt."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Merged model: .safetensors (or weights-only .pt); metadata also in <out>.json."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", metavar="NAME", help="Release checkpoints only: ViT-B-16 or ViT-L-14 (default: inferred from the shapes)."
    ),
    labels: Optional[Path] = typer.Option(
        None, "--labels", metavar="FILE", help="Release checkpoints only: the fine-tuning class names, in the order of spe_cls_feature."
    ),
    patch_alpha: Optional[float] = typer.Option(
        None, "--patch-alpha", metavar="ALPHA", help=f"Mix image-encoder weights: alpha * fine-tuned + (1 - alpha) * --original (zero-shot: {ZERO_SHOT_PATCH_ALPHA})."
    ),
    original: Optional[str] = typer.Option(None, "--original", metavar="WEIGHTS", help="Original CLIP weights for --patch-alpha: open_clip tag or local file."),
) -> None:
    """Average each block's experts into one FFN; keep what evaluation needs, drop training state."""
    from ..merge.args import check_merge_args
    from ..textfile import read_labels_file

    # Before torch is imported: a wrong name or a missing file fails in a fraction of a second.
    check_merge_args(checkpoint, out=out, patch_alpha=patch_alpha, original=original)
    class_names = read_labels_file(labels) if labels else None

    from rich.console import Console

    from ..merge.merge import merge_checkpoint

    report = merge_checkpoint(
        checkpoint, out=out, model=model, class_names=class_names, patch_alpha=patch_alpha, original=original,
    )
    meta = report.metadata
    console = Console(soft_wrap=True)  # paths stay whole, to copy
    console.print(str(report.out))
    console.print(
        f"head parameters: {report.head_params_before:,} with {report.num_experts} experts -> "
        f"{report.head_params_after:,} merged; model {meta['clip']['model']}, "
        f"{len(meta['class_names'])} fine-tuning classes, source {meta['source']['format']}"
        + (f", patched alpha={meta['patch']['alpha']}" if meta["patch"] else "")
    )
