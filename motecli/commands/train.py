"""`mote train RECIPE`: fine-tune CLIP + MoTE as a recipe says."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app, finish_skipped


@app.command("train")
def train_command(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="Recipe TOML (see recipes/ and docs/training.md)."),
    set_: List[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override a recipe value without editing the file, e.g. --set solver.lr=1e-4 (repeatable; TOML literal, else string).",
    ),
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="FILE|auto", help="Continue from a checkpoint: a path, or 'auto' for <output>/last.pt (fresh start if absent).",
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="DIR", help="Output folder (overrides run.output)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run already in the output folder (default: refuse; see --resume auto).",
    ),
    device: str = typer.Option(
        "auto", "--device", metavar="DEVICE", help="auto (each process's GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N.",
    ),
) -> None:
    """Full fine-tuning of the CLIP image encoder and the MoTE head; one CPU to many GPUs under torchrun or srun."""
    from ..train.recipe import check_recipe_files, load_recipe, with_output
    from ..train.rundir import check_output, resolve_resume

    spec = load_recipe(recipe, set_)
    if output is not None:
        spec = with_output(spec, output)
    # Torch-free checks first: a wrong path, --resume or an occupied folder fails in a fraction of a second.
    check_recipe_files(spec)
    check_output(Path(spec.run.output), resume=resolve_resume(resume, Path(spec.run.output)), overwrite=overwrite)

    from ..train.loop import train

    result = train(spec, resume=resume, overwrite=overwrite, device=device)
    # Videos are drawn again every epoch: the largest count of one epoch is the number of unreadable files.
    finish_skipped(max((r["failures"] for r in result.history), default=0), f"training ({result.output})")
