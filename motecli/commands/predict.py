"""`mote predict`: the merged model on your own videos (option parsing only; the work is in motecli.eval.predict)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app
from ..constants import TFM_K, TFM_SCALE, ZERO_SHOT_CLIPS
from .evaluate import (
    CHECKPOINT_HELP,
    _batch,
    _batch_frames,
    _checkpoint_path,
    _device,
    _num_frames,
    _precision,
    _workers,
)


@app.command("predict")
def predict_cmd(
    inputs: List[str] = typer.Argument(..., metavar="VIDEOS", help="Video files, folders (searched recursively) or glob patterns."),
    labels: Optional[Path] = typer.Option(None, "--labels", metavar="FILE", help="Class names: one per line or CSV id,name."),
    classes: Optional[str] = typer.Option(None, "--classes", metavar="NAMES", help='Class names separated by commas, e.g. "run,jump".'),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", metavar="NAME", help="Use the classes of this datasets.toml dataset."),
    split: int = typer.Option(1, "--split", metavar="N", help="Split of --dataset whose classes are used."),
    config: Optional[Path] = typer.Option(None, "--datasets-config", metavar="FILE", help="datasets.toml to read."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", metavar="FILE", help=CHECKPOINT_HELP),
    top_k: int = typer.Option(5, "--top-k", "-k", metavar="K", help="Classes shown per video."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    frames: Optional[int] = typer.Option(None, "--frames", "-T", metavar="T", help="Frames per clip (default: the model's)."),
    clips: int = typer.Option(ZERO_SHOT_CLIPS, "--clips", metavar="N", help="Clips per video."),
    crops: int = typer.Option(1, "--crops", metavar="1|3", help="Crops per clip, 1 or 3."),
    modulation: bool = typer.Option(True, "--modulation/--no-modulation", help="Temporal feature modulation, as in eval."),
    tfm_scale: float = typer.Option(TFM_SCALE, "--tfm-scale", metavar="SCALE", help="Modulation scale lambda."),
    tfm_k: int = typer.Option(TFM_K, "--tfm-k", metavar="K", help="Modulation neighbours k."),
    templates: Optional[Path] = typer.Option(None, "--templates", metavar="FILE", help="Prompt templates file (default: the 28)."),
    batch_size: Optional[int] = _batch, batch_frames: Optional[int] = _batch_frames,
    workers: Optional[int] = _workers, device: str = _device, precision: str = _precision,
) -> None:
    """Top-k classes of each video from a merged model; unreadable videos are listed, not fatal."""
    import json

    from rich.console import Console

    from ..eval.predict import resolve_classes, run_predict
    from ..eval.protocols import resolve_views
    from ..eval.runner import EvalSettings
    from ..text.labels import read_templates_file

    checkpoint = _checkpoint_path(checkpoint)
    clips, crops = resolve_views(protocol="zero-shot", views=None, clips=clips, crops=crops)
    names, origin = resolve_classes(labels=labels, classes=classes, dataset=dataset, split=split, config=config)
    settings = EvalSettings(
        checkpoint=checkpoint, protocol="zero-shot", clips=clips, crops=crops, num_frames=_num_frames(checkpoint, frames),
        modulation=modulation, scales=(tfm_scale,), k=tfm_k, templates=read_templates_file(templates),
        batch_size=batch_size, workers=workers, device=device, precision=precision, batch_frames=batch_frames,
    )
    report = run_predict(inputs=inputs, class_names=names, settings=settings, top_k=top_k)
    if as_json:
        typer.echo(json.dumps(dict(report.to_dict(settings), classes_from=origin), indent=1))
        return
    console = Console(soft_wrap=True)
    console.print(_table(report, origin))
    for path, reason in report.unreadable:
        console.print(f"[yellow]unreadable[/yellow] {path}: {reason}")


def _table(report, origin: str):
    from rich.table import Table

    table = Table(title=f"mote predict: {len(report.predictions)} videos, {len(report.classes)} classes ({origin})")
    table.add_column("video", overflow="fold")
    table.add_column("top classes (probability)")
    table.add_column("read by")
    for p in report.predictions:
        top = ", ".join(f"{name} ({prob:.3f})" for _, name, prob in p.top)
        table.add_row(p.path, top, p.backend + (f" ({p.fallback})" if p.fallback else ""))
    return table
