"""Run a few-shot grid: every (K, seed) cell in one process group, resumable anywhere.

A cell is finished when its record (cell.json, written after its results file) exists;
such a cell is never redone. Otherwise it continues from what it left: a merged model
is evaluated, a training run resumes from its last.pt (as `mote train --resume auto`).
Under torchrun every rank runs this loop; rank 0 alone writes the grid's files and
reports, and the ranks meet at barriers before a rank reads what rank 0 wrote.
After the last cell the grid's table (fewshot_table) is written beside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import atomic_path
from ..errors import MoteError
from .plan import Cell, Grid, GridSpec, plan_grid
from .stages import encode_test, evaluate_cell, head_only_model, initial_model, train_and_merge

log = logging.getLogger("mote")
TABLE_FILES = {"markdown": "few-shot.md", "csv": "few-shot.csv", "json": "few-shot.json"}


@dataclass
class CellReport:
    """One line of progress: cell `index` of `total`."""

    index: int
    total: int
    cell: Cell
    mode: str
    record: dict
    earlier: bool  # finished by an earlier run, skipped now
    eta_seconds: float | None  # the cells still to compute, at this run's mean time per cell
    left: int


@dataclass
class GridReport:
    grid: Grid
    records: list[dict] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)
    plot: Path | None = None
    seconds: float = 0.0


def run_cell(grid: Grid, cell: Cell, *, ctx, start: Path | None) -> dict | None:
    """The cell's missing stages; its record on rank 0 (None on the others)."""
    from ..train.distributed import barrier

    started = time.perf_counter()
    if not cell.merged.is_file():
        if grid.spec.head_only:
            head_only_model(grid, cell, start=start, device=str(ctx.device))
        else:
            train_and_merge(grid, cell, ctx=ctx)
    encode_test(grid, cell, ctx=ctx)
    record = None
    if ctx.is_main:
        record = evaluate_cell(grid, cell, device=str(ctx.device), seconds=time.perf_counter() - started)
    barrier(ctx)
    return record


def run_grid(spec: GridSpec, *, on_cell: Callable[[CellReport], None] | None = None,
             formats: tuple[str, ...] = tuple(TABLE_FILES), plot: bool = True, device: str = "auto") -> GridReport:
    """Every cell of `spec` (see the module docstring); the table files and plot at the end.
    `device`: auto (this process's GPU when CUDA is available), cpu, cuda."""
    from ..train.distributed import barrier, init_distributed, shutdown_distributed

    started = time.perf_counter()
    ctx = init_distributed(device)
    if spec.head_only and ctx.enabled:
        shutdown_distributed(ctx)
        raise MoteError("--head-only trains on cached features in one process; run it without torchrun")
    if not ctx.is_main:
        log.setLevel(logging.WARNING)
    try:
        grid = plan_grid(spec, write=ctx.is_main) if ctx.is_main else None
        barrier(ctx)  # the lists and grid.json exist before the other ranks read them
        grid = grid or plan_grid(spec, write=False)
        start = None
        if spec.head_only:
            start = spec.start_checkpoint or initial_model(grid, spec.out_dir / "start" / "initial.safetensors")
        report = GridReport(grid)
        pending = [c for c in grid.cells if c.done(grid.results_dir) is None]
        barrier(ctx)  # every rank has seen the same finished cells
        computed: list[float] = []
        left = len(pending)
        for index, cell in enumerate(grid.cells, start=1):
            earlier = cell not in pending
            if earlier:
                record = cell.done(grid.results_dir) if ctx.is_main else None
            else:
                record = run_cell(grid, cell, ctx=ctx, start=start)
                left -= 1
            if not ctx.is_main:
                continue
            if not earlier:
                computed.append(record["seconds"])
            eta = sum(computed) / len(computed) * left if computed else None
            report.records.append(record)
            if on_cell is not None:
                on_cell(CellReport(index, len(grid.cells), cell, spec.mode, record, earlier, eta, left))
        if ctx.is_main:
            report.tables, report.plot = write_tables(grid, formats=formats, plot=plot)
        barrier(ctx)
        report.seconds = time.perf_counter() - started
        return report
    finally:
        shutdown_distributed(ctx)


def grid_tables(grid: Grid) -> list:
    """This grid's FewShotGrid (the results folder may hold other grids' files too)."""
    from ..eval.fewshot_table import few_shot_grids
    from ..eval.results import read_results_dir

    runs, _ = read_results_dir(grid.results_dir)
    return [g for g in few_shot_grids(runs) if g.grid == grid.grid_id]


def write_tables(grid: Grid, *, formats: tuple[str, ...], plot: bool) -> tuple[dict[str, Path], Path | None]:
    """few-shot.md / .csv / .json and few-shot.png into the grid's folder."""
    from ..eval import fewshot_table

    tables = grid_tables(grid)
    writers = {"markdown": fewshot_table.to_markdown, "csv": fewshot_table.to_csv, "json": fewshot_table.to_json}
    written = {}
    for fmt in formats:
        path = grid.spec.out_dir / TABLE_FILES[fmt]
        with atomic_path(path) as tmp:
            tmp.write_text(writers[fmt](tables))
        written[fmt] = path
    png = None
    if plot:
        from ..eval.plots import plot_few_shot

        try:
            png = plot_few_shot(tables, grid.spec.out_dir / "few-shot.png")
        except MoteError as err:  # no matplotlib: the tables are written, the plot is not
            log.warning("few-shot.png not drawn: %s", err)
    return written, png
