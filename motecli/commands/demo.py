"""`mote demo`: the whole pipeline on generated videos, no download; a GPU is used when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("cache/demo"), "--workdir", "-o", metavar="DIR", help="Where the run, merged model and results go."),
    recipe: Path = typer.Option(Path("recipes/tiny.toml"), "--recipe", metavar="FILE", help="A recipe with data.synthetic = true."),
    set_: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Recipe override, e.g. --set solver.epochs=4 (repeatable)."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw the per-class and trade-off PNGs (needs matplotlib)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto (a GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", metavar="N", help="DataLoader processes decoding videos for the frame caches (default: min(8, CPUs - 1)).",
    ),
) -> None:
    """Synthetic videos -> text cache -> train tiny -> merge -> frame cache -> eval (close-set and zero-shot, +/- modulation)."""
    from rich.console import Console
    from rich.table import Table

    from ..demo import run_demo

    report = run_demo(workdir=workdir, recipe_path=recipe, overrides=set_, plot=plot, device=device, workers=workers)
    console = Console(soft_wrap=True)
    table = Table(title="mote demo: tiny random-init CLIP + MoTE on synthetic videos")
    for col in ("protocol", "modulation", "videos", "excluded", "top-1", "top-5"):
        table.add_column(col, justify="right")
    for row in report.rows:
        table.add_row(row.protocol, "on" if row.modulation else "off", str(row.videos), str(row.excluded),
                      f"{100 * row.top1:.1f}", "-" if row.top5 is None else f"{100 * row.top5:.1f}")  # 5 classes or fewer
    console.print(table)
    for name, path in report.artefacts.items():
        console.print(f"{name:42s} {path}")
    console.print(f"done in {report.seconds:.0f} s")
