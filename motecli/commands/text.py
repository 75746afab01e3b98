"""`mote encode-text`: class text embeddings into the HDF5 cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app


@app.command("encode-text")
def encode_text(
    labels: Path = typer.Argument(..., metavar="LABELS", help="Class names: one per line, or CSV 'id,name' with a header."),
    model: str = typer.Option("ViT-B-16", "--model", "-m", metavar="NAME", help="open_clip model name, or 'mote-tiny'."),
    pretrained: Optional[str] = typer.Option(
        None, "--pretrained", "-p", metavar="WEIGHTS",
        help="open_clip tag (e.g. openai) or a local weights file; default openai ('none' = random init, the default for mote-tiny).",
    ),
    quick_gelu: Optional[bool] = typer.Option(
        None, "--quick-gelu/--gelu",
        help="Activation for weights from a local file (default QuickGELU, as OpenAI's weights need).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE", help="Cache file (default: cache/text/<model>-<key>.h5)."),
    templates: Optional[Path] = typer.Option(None, "--templates", metavar="FILE", help="Templates file, one per line with {c}; default the 28."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto (a GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N."),
) -> None:
    """Encode class names with the 28-template prompt ensemble; cached in HDF5."""
    from rich.console import Console

    from ..text.encode import cached_text_embeddings
    from ..text.labels import read_templates_file
    from ..textfile import read_labels_file

    result = cached_text_embeddings(
        model=model,
        pretrained=pretrained,
        class_names=read_labels_file(labels),
        templates=read_templates_file(templates),
        quick_gelu=quick_gelu,
        out=out,
        device=device,
    )
    emb = result.embeddings
    console = Console(soft_wrap=True)
    console.print(str(result.path))
    console.print(
        f"{'cache hit' if result.hit else 'encoded'}: {len(emb.class_names)} classes, dim {emb.dim}, "
        f"model {emb.model} ({emb.weights_id.split(':')[0]}), {len(emb.templates)} templates, {result.seconds:.2f} s"
    )
