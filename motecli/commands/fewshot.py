"""`mote few-shot OUT_DIR`: the paper's few-shot protocol over a grid of K and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app
from ..constants import FEW_SHOT_KS

FORMATS = ("table", "csv", "markdown", "json")


def _progress_line(report) -> str:
    cell, record = report.cell, report.record
    mode = "head-only " if report.mode == "head-only" else ""
    what = f"[{report.index}/{report.total}] {mode}K={cell.k} seed {cell.seed}"
    score = f"top-1 {100 * record['top1']:.2f} on {record['videos']} test videos (1 view)"
    if report.earlier:
        return f"{what}: done earlier, {score}"
    if report.eta_seconds is None or report.left == 0:
        eta = "last cell" if report.left == 0 else "ETA unknown"
    else:
        eta = f"ETA {_duration(report.eta_seconds)} for {report.left} more cell{'s' if report.left > 1 else ''}"
    return f"{what}: {score}, {_duration(record['seconds'])}; {eta}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


_out = typer.Argument(..., metavar="OUT_DIR", help="The grid's folder: lists, runs, merged models, results, table (resumable).")
_dataset = typer.Option(None, "--dataset", "-d", metavar="NAME", help="Dataset from datasets.toml (default: the recipe's).")
_split = typer.Option(None, "--split", metavar="N", help="Split whose train list is drawn from and test list evaluated "
                                             "(default: the recipe's).")
_config = typer.Option(None, "--datasets-config", metavar="FILE", help="datasets.toml (default $MOTE_DATASETS or ./datasets.toml).")
_shots = typer.Option(",".join(map(str, FEW_SHOT_KS)), "--shots", metavar="KS", help="K values (videos per class), comma separated.")
_seeds = typer.Option("0,1,2", "--seeds", metavar="SEEDS", help="Seeds of the draws (training seed = run.seed + seed), comma separated.")
_recipe = typer.Option(None, "--recipe", metavar="FILE", help="Few-shot recipe (default: recipes/fewshot-<ucf101|hmdb51|ssv2>.toml).")
_set = typer.Option([], "--set", metavar="KEY=VALUE", help="Recipe override, e.g. --set model.name=ViT-L-14 (repeatable).")
_head_only = typer.Option(False, "--head-only", help="The fast proxy: only the temporal head, on cached features, CLIP "
                                                     "frozen (not the paper's protocol; labelled so everywhere).")
_checkpoint = typer.Option(None, "--checkpoint", "-c", metavar="FILE", help="--head-only: merged model whose head is trained "
                                                            "(default: the recipe's CLIP with a fresh head).")
_results = typer.Option(None, "--results-dir", metavar="DIR", help="Where the results files go (default OUT_DIR/results).")
_format = typer.Option("table", "--format", "-f", metavar="table|csv|markdown|json", help="The final table: table, csv, markdown or json.")
_plot = typer.Option(True, "--plot/--no-plot", help="Draw OUT_DIR/few-shot.png (needs matplotlib; else skipped).")
_prune = typer.Option(False, "--prune-checkpoints", help="Delete a cell's last.pt once its results are written.")
_batch = typer.Option(8, "--batch-size", "-b", metavar="N", help="Videos per batch when encoding the test split.")
_device = typer.Option("auto", "--device", metavar="DEVICE",
                       help="auto (each process's GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N.")


@app.command("few-shot")
def few_shot_cmd(
    out_dir: Path = _out, dataset: Optional[str] = _dataset, split: Optional[int] = _split,
    config: Optional[Path] = _config, shots: str = _shots, seeds: str = _seeds, recipe: Optional[Path] = _recipe,
    set_: List[str] = _set, head_only: bool = _head_only, checkpoint: Optional[Path] = _checkpoint,
    results_dir: Optional[Path] = _results, fmt: str = _format, plot: bool = _plot, prune: bool = _prune,
    batch_size: int = _batch,
    device: str = _device,
) -> None:
    """All-way few-shot as the paper runs it: per (K, seed) draw the list, fine-tune CLIP + MoTE,
    merge, evaluate the test split with one view; then top-1 per K beside the paper's Table 5."""
    import sys

    from rich.console import Console

    from ..errors import MoteError
    from ..eval.fewshot import parse_counts

    if fmt not in FORMATS:
        raise MoteError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if checkpoint is not None and not head_only:
        raise MoteError("--checkpoint is the starting model of --head-only; "
                        "full fine-tuning starts from the recipe's CLIP weights")
    from ..fewshot.plan import resolve_spec

    spec = resolve_spec(out_dir=out_dir, dataset=dataset, split=split, config=config, recipe=recipe, overrides=set_,
                        shots=parse_counts(shots, option="--shots", minimum=1),
                        seeds=parse_counts(seeds, option="--seeds", minimum=0), head_only=head_only,
                        start_checkpoint=checkpoint, results_dir=results_dir, batch_size=batch_size, prune=prune)

    from ..eval import fewshot_table
    from ..fewshot.grid import grid_tables, run_grid

    console = Console(stderr=True, soft_wrap=True)
    report = run_grid(spec, on_cell=lambda r: console.print(_progress_line(r), markup=False), plot=plot,
                      device=device)
    if report.records:  # rank 0 under torchrun
        tables = grid_tables(report.grid)
        writer = {"table": fewshot_table.to_text, "csv": fewshot_table.to_csv, "markdown": fewshot_table.to_markdown,
                  "json": fewshot_table.to_json}[fmt]
        sys.stdout.write(writer(tables))
        for path in [*report.tables.values(), report.plot]:
            if path is not None:
                console.print(str(path), markup=False)
