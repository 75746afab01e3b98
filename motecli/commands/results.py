"""`mote results`: one table across the results files of `mote eval` (reads JSON only, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app

FORMATS = ("table", "csv", "markdown", "json")


@app.command("results")
def results_cmd(
    results_dir: Path = typer.Argument(Path("results"), metavar="RESULTS_DIR", help="Folder of `mote eval` results files (its --results-dir)."),
    fmt: str = typer.Option("table", "--format", "-f", metavar="table|csv|markdown|json", help="table, csv, markdown or json."),
    sort: Optional[str] = typer.Option(
        None, "--sort", metavar="COLUMN", help="Column to sort by, best first: hm_zs, trade_off, ucf, hmdb, k600, k400_1x1, k400_4x3, "
                             "checkpoint, name, modulation, variant.",
    ),
    best_scale: bool = typer.Option(
        False, "--best-scale", help="Add a row per checkpoint with each dataset at its best modulation setting "
                                    "(chosen on the test split: optimistic, marked so).",
    ),
    files: bool = typer.Option(False, "--files", help="table: list the results files each row used."),
    few_shot: bool = typer.Option(
        False, "--few-shot", help="Only the few-shot grids (`mote few-shot`): top-1 per K over seeds beside the "
                                  "paper's Table 5 (the csv format shows them without this flag when the folder "
                                  "holds nothing else).",
    ),
    plot: Optional[Path] = typer.Option(
        None, "--plot", metavar="DIR", help="Also write trade-off, per-dataset and few-shot PNGs into this folder (needs matplotlib).",
    ),
) -> None:
    """UCF, HMDB, K600 zero-shot (mean ± std over splits), K400 1x1 / 4x3, HM_ZS and trade-off per
    checkpoint and modulation setting; each row from its own checkpoint's files only. Few-shot
    grids get a table of their own: top-1 per K, mean ± std over seeds, beside the paper's."""
    from rich.console import Console

    from ..errors import MoteError
    from ..eval import fewshot_table
    from ..eval.results import build_rows, read_results_dir, sort_rows

    if fmt not in FORMATS:
        raise MoteError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    runs, skipped = read_results_dir(results_dir)
    rows = [] if few_shot else sort_rows(build_rows(runs, best_scale=best_scale), sort)
    grids = fewshot_table.few_shot_grids(runs)
    err = Console(stderr=True)
    for line in skipped:
        err.print(f"skipped {line}", markup=False)
    title = f"{results_dir}: {len(rows)} rows from {len({r.file for r in runs})} files"
    _write(fmt, rows, grids, skipped=skipped, title=title, results_dir=results_dir, files=files, few_shot=few_shot,
           err=err)
    if plot is not None:
        from ..eval.plots import plot_results

        for png in plot_results(results_dir, plot):
            err.print(str(png), markup=False)


def _write(fmt: str, rows: list, grids: list, *, skipped: list, title: str, results_dir: Path, files: bool,
           few_shot: bool, err) -> None:
    """The rows and few-shot grids to stdout in `fmt` (notes to `err`)."""
    import sys

    from ..eval import fewshot_table
    from ..eval.results import to_csv, to_json, to_markdown

    if fmt == "table":
        sys.stdout.write(_console_table(rows, grids, title=title, files=files)
                         or f"{results_dir}: no `mote eval` results files\n")
    elif fmt == "csv" and grids and (few_shot or not rows):
        sys.stdout.write(fewshot_table.to_csv(grids))
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows))
        if grids:
            err.print(f"{len(grids)} few-shot grid(s) left out of this CSV: add --few-shot for theirs", markup=False)
    elif fmt == "markdown":
        parts = ([to_markdown(rows)] if rows or not grids else []) + ([fewshot_table.to_markdown(grids)] if grids else [])
        sys.stdout.write("\n".join(parts))
    elif few_shot:
        sys.stdout.write(fewshot_table.to_json(grids))
    else:
        sys.stdout.write(to_json(rows, skipped, few_shot=[fewshot_table.grid_dict(g) for g in grids]))


def _console_table(rows: list, grids: list, *, title: str, files: bool) -> str:
    """The zero-shot / close-set rows, then the few-shot grids; empty when there is neither."""
    from ..eval import fewshot_table
    from ..eval.results import to_text

    out = ""
    if rows:
        out += to_text(rows, title=title)
        if files:
            out += "".join(f"{row.checkpoint} {row.modulation}: {', '.join(row.files)}\n" for row in rows)
    if grids:
        out += ("\n" if rows else "") + "few-shot grids (top-1 %, all-way, 1 view):\n\n" + fewshot_table.to_text(grids)
        if files:
            out += "".join(f"grid {g.grid}: {', '.join(g.files)}\n" for g in grids)
    return out
