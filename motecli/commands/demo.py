"""`mote demo`: MoTE against its baseline and plain CLIP on a synthetic world, no download; a GPU is used when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("cache/demo"), "--workdir", "-o", metavar="DIR", help="Where the runs, merged models and results go."),
    recipe: Path = typer.Option(Path("recipes/demo.toml"), "--recipe", metavar="FILE", help="A mote-tiny recipe with data.synthetic = true."),
    set_: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Recipe override, e.g. --set solver.epochs=4 (repeatable)."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw the trade-off and per-class PNGs (needs matplotlib)."),
    ablation: bool = typer.Option(False, "--ablation", help="Run the grid of ablation switches instead (minutes: see docs/demo.md)."),
    pretrained: Optional[Path] = typer.Option(
        None, "--pretrained", metavar="FILE", help="Tiny-CLIP weights `mote pretrain-tiny` wrote (default: its cached default pretraining, made now if missing).",
    ),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto (a GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", metavar="N", help="DataLoader processes decoding videos for the frame caches (default: min(8, CPUs - 1)).",
    ),
) -> None:
    """Pretrained tiny CLIP -> synthetic videos -> fine-tune MoTE and the baseline -> close-set and zero-shot table."""
    from rich.console import Console

    from ..demo import run_demo

    report = run_demo(workdir=workdir, recipe_path=recipe, overrides=set_, plot=plot, ablation=ablation,
                      pretrained=pretrained, device=device, workers=workers)
    console = Console(soft_wrap=True)
    console.print(_pretraining_line(report.pretraining))
    console.print(demo_table(report, ablation=ablation))
    for name, path in report.artefacts.items():
        console.print(f"{name:34s} {path}")
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.stage_seconds.items())
    console.print(f"done in {report.seconds:.0f} s ({stages})")


def _pretraining_line(meta: dict) -> str:
    r = meta["retrieval_held_out"]["colour_shape"]
    how = "cached" if meta.get("reused") else f"pretrained now, {meta['seconds']:.0f} s"
    return (f"pretrained tiny CLIP ({how}): image-to-text top-1 on held-out colour-shape combinations "
            f"{100 * r['top1']:.1f} (chance {100 * r['chance']:.1f})")


def demo_table(report, *, ablation: bool):
    from rich.table import Table

    data = report.data
    chance = report.chance
    title = ("mote demo --ablation" if ablation else "mote demo") + ": pretrained tiny CLIP on synthetic videos"
    table = Table(title=title)
    for col in ("model", "modulation", "close-set top-1", "zero-shot top-1", "harmonic mean"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in report.rows:
        table.add_row(row.variant.label, "on" if row.modulation else "off", f"{100 * row.close_set:.1f}",
                      f"{100 * row.zero_shot:.1f} ± {100 * row.zero_shot_std:.1f}", f"{100 * row.harmonic_mean:.1f}")
    table.caption = (
        f"close-set: {len(data.train_classes)} trained classes, {data.videos['close-set']} test videos, "
        f"chance {100 * chance['close-set']:.1f}; zero-shot: {len(data.zero_shot_classes)} unseen classes "
        f"(never trained on), {data.videos['zero-shot']} videos, mean ± std over 3 splits, chance "
        f"{100 * chance['zero-shot']:.1f}"
    )
    return table
