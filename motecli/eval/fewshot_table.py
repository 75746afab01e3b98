"""The few-shot table: top-1 per K over seeds, beside the paper's Table 5.

A results file written by `mote few-shot` is an ordinary `mote eval` file (read by
`results.read_results_dir`, like every other) with a `few_shot` block: the grid it
belongs to (an id of dataset, split, lists, recipe and mode), K, the seed, the mode
(`full` fine-tuning or the `head-only` proxy), the backbone, frames and epochs.
Here the runs of those files are grouped by grid, then by K; per (K, seed) the newest
file counts. A K's cell is the mean and population std (ddof = 0, as over splits in
`results`) of top-1 over the seeds present, and every seed's own figure.

Beside it, the paper's figure for the same benchmark and backbone from the shipped
data file (`published.load_published_few_shot`). Honest labels: a grid with another
backbone, frame count, epoch count or starting weights than the paper's says so in
its header; head-only numbers never get the paper's column (it stays empty), and
another backbone gets none either (the paper gives ViT-B/16 only).

Standard library only, like `results`: `mote results` must not import torch.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from .published import PublishedFewShot, load_published_few_shot
from .results import Run, mean_std

TABLE_FORMAT = "mote-few-shot-table"
TABLE_VERSION = 1
FULL, HEAD_ONLY = "full", "head-only"
MODE_TITLES = {FULL: "full fine-tuning", HEAD_ONLY: "HEAD-ONLY PROXY (CLIP frozen; not the paper's protocol)"}
# Benchmarks of the paper's few-shot table, by dataset name when the grid did not record one.
BENCHMARK_NAMES = {"ucf": re.compile(r"^ucf"), "hmdb": re.compile(r"^hmdb"),
                   "ssv2": re.compile(r"^(ssv2|sthv2|sth|something)")}
OPENAI = (None, "openai")


def backbone_label(model: str) -> str:
    """open_clip's 'ViT-B-16' as papers write it, 'ViT-B/16'; other names unchanged."""
    m = re.match(r"^(ViT-[A-Za-z]+)-(\d+)(.*)$", model)
    return f"{m[1]}/{m[2]}{m[3]}" if m else model


def benchmark_of(dataset: str) -> str | None:
    return next((b for b, pattern in BENCHMARK_NAMES.items() if pattern.match(dataset.lower())), None)


@dataclass
class ShotRow:
    """One K of a grid: top-1 per seed (newest file each), and the paper's figure."""

    k: int
    seeds: dict[int, float] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)
    paper: float | None = None
    paper_source: str | None = None

    @property
    def mean_std(self) -> tuple[float, float]:
        return mean_std([self.seeds[s] for s in sorted(self.seeds)])


@dataclass
class FewShotGrid:
    grid: str
    dataset: str
    split: str
    benchmark: str | None
    mode: str
    model: str
    frames: int | None
    epochs: int | None
    pretrained: str | None
    start: str | None  # head-only: the merged model whose head was trained
    rows: list[ShotRow] = field(default_factory=list)
    reference: PublishedFewShot | None = None  # the paper's entry shown beside it (None: column left empty)
    differences: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return sorted({s for row in self.rows for s in row.seeds})

    @property
    def title(self) -> str:
        return (f"{self.dataset} split {self.split}: {backbone_label(self.model)}, T={self.frames}, "
                f"{self.epochs} epochs, {MODE_TITLES.get(self.mode, self.mode)} [grid {self.grid}]")

    @property
    def paper_title(self) -> str:
        if self.reference is not None:
            return f"paper ({self.reference.backbone})"
        return "paper (none: head-only)" if self.mode == HEAD_ONLY else "paper"

    @property
    def files(self) -> list[str]:
        return sorted({f for row in self.rows for f in row.files.values()})


def compare_with_paper(grid: FewShotGrid,
                       published: list[PublishedFewShot]) -> tuple[PublishedFewShot | None, list[str]]:
    """The paper's entry to put beside `grid` (or None) and every way the grid differs from it."""
    notes = []
    if grid.mode == HEAD_ONLY:
        start = f" (start: {grid.start})" if grid.start else ""
        notes.append(f"head-only proxy{start}: only the temporal head trained, on cached frame features, CLIP "
                     "frozen; the paper fine-tunes CLIP + MoTE, so its column is left empty")
    entries = [e for e in published if e.benchmark == grid.benchmark]
    if not entries:
        return None, notes + [f"no published few-shot figure for {grid.dataset}"]
    backbone = backbone_label(grid.model)
    same = [e for e in entries if e.backbone == backbone]
    basis = same[0] if same else entries[0]
    if not same:
        notes.append(f"{backbone} (the paper gives {', '.join(sorted({e.backbone for e in entries}))} only, "
                     "so no paper column)")
    if grid.frames != basis.frames:
        notes.append(f"T={grid.frames} (the paper: {basis.frames})")
    if grid.epochs != basis.epochs:
        notes.append(f"{grid.epochs} epochs (the paper: {basis.epochs})")
    if grid.mode != HEAD_ONLY and grid.pretrained not in OPENAI:
        notes.append(f"starts from {grid.pretrained} weights (the paper: {basis.start})")
    reference = same[0] if same and grid.mode != HEAD_ONLY else None
    return reference, notes


def _grid_of(run: Run) -> FewShotGrid:
    fs = run.few_shot
    dataset = str(fs.get("dataset") or run.dataset)
    return FewShotGrid(
        grid=str(fs.get("grid", "?")), dataset=dataset, split=str(fs.get("split", "-")),
        benchmark=fs.get("benchmark") or benchmark_of(dataset), mode=str(fs.get("mode", FULL)),
        model=str(fs.get("model") or run.model), frames=fs.get("num_frames"), epochs=fs.get("epochs"),
        pretrained=fs.get("pretrained"), start=(fs.get("start_checkpoint") or {}).get("name"),
    )


def few_shot_grids(runs: list[Run], published: list[PublishedFewShot] | None = None) -> list[FewShotGrid]:
    """One FewShotGrid per grid id among the few-shot runs, K ascending; see the module docstring."""
    published = load_published_few_shot() if published is None else published
    grids: dict[str, FewShotGrid] = {}
    latest: dict[tuple[str, int, int], Run] = {}
    for run in sorted((r for r in runs if r.few_shot is not None), key=lambda r: (r.created, r.file)):
        grid = grids.setdefault(str(run.few_shot.get("grid", "?")), _grid_of(run))
        latest[(grid.grid, int(run.few_shot["k"]), int(run.few_shot["seed"]))] = run
    rows: dict[tuple[str, int], ShotRow] = {}
    for (grid_id, k, seed), run in sorted(latest.items()):
        row = rows.setdefault((grid_id, k), ShotRow(k))
        row.seeds[seed] = next(iter(run.splits.values()))  # one split: the grid's test split
        row.files[seed] = run.file
    out = []
    for grid in sorted(grids.values(), key=lambda g: (g.dataset, g.mode != FULL, g.model, g.grid)):
        grid.reference, grid.differences = compare_with_paper(grid, published)
        grid.rows = [row for (g, _), row in sorted(rows.items()) if g == grid.grid]
        for row in grid.rows:
            if grid.reference is not None and row.k in grid.reference.top1:
                row.paper, row.paper_source = grid.reference.top1[row.k], grid.reference.sources[row.k]
        out.append(grid)
    return out


# ---------------------------------------------------------------------------- output


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def shot_cells(grid: FewShotGrid) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of one grid: K, mean ± std, seeds present, each seed, the paper."""
    seeds = grid.seeds
    header = ["K", "top-1 mean ± std", "seeds"] + [f"seed {s}" for s in seeds] + [grid.paper_title]
    body = []
    for row in grid.rows:
        m, s = row.mean_std
        mean = f"{_pct(m)} ± {_pct(s)}" if len(row.seeds) > 1 else _pct(m)
        body.append([str(row.k), mean, str(len(row.seeds))] + [_pct(row.seeds.get(seed)) for seed in seeds]
                    + [_pct(row.paper, 1)])
    return header, body


def header_lines(grid: FewShotGrid) -> list[str]:
    differs = "; ".join(grid.differences) or "none: the paper's backbone, frames, epochs and protocol"
    return [grid.title, f"differs from the paper: {differs}"]


def to_text(grids: list[FewShotGrid]) -> str:
    """Plain aligned text, one block per grid (as results.to_text)."""
    blocks = []
    for grid in grids:
        header, body = shot_cells(grid)
        widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h) for i, h in enumerate(header)]
        fmt = lambda line: "  ".join(c.rjust(w) for c, w in zip(line, widths))  # noqa: E731
        blocks.append("\n".join(header_lines(grid) + [fmt(header), "  ".join("-" * w for w in widths)]
                                + [fmt(line) for line in body]))
    return "\n\n".join(blocks) + "\n"


def to_markdown(grids: list[FewShotGrid]) -> str:
    blocks = []
    for grid in grids:
        header, body = shot_cells(grid)
        title, differs = header_lines(grid)
        lines = [f"**{title}**", "", differs, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        blocks.append("\n".join(lines + ["| " + " | ".join(line) + " |" for line in body]))
    return "\n\n".join(blocks) + "\n"


def to_csv(grids: list[FewShotGrid]) -> str:
    """One line per (grid, K); percentages with two decimals, empty where missing."""
    seeds = sorted({s for g in grids for s in g.seeds})
    header = ["grid", "dataset", "split", "benchmark", "mode", "model", "frames", "epochs", "k", "seeds",
              "top1_mean", "top1_std"] + [f"seed_{s}" for s in seeds] + ["paper_top1", "paper_source",
                                                                          "differs_from_paper", "files"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    blank = lambda text: "" if text == "-" else text  # noqa: E731
    for grid in grids:
        for row in grid.rows:
            m, s = row.mean_std
            writer.writerow([grid.grid, grid.dataset, grid.split, grid.benchmark or "", grid.mode, grid.model,
                             grid.frames, grid.epochs, row.k, len(row.seeds), _pct(m), _pct(s)]
                            + [blank(_pct(row.seeds.get(seed))) for seed in seeds]
                            + [blank(_pct(row.paper, 1)), row.paper_source or "", "; ".join(grid.differences),
                               " ".join(row.files[s] for s in sorted(row.files))])
    return buf.getvalue()


def grid_dict(grid: FewShotGrid) -> dict:
    """A grid for JSON: fractions, not percentages."""
    rows = []
    for row in grid.rows:
        m, s = row.mean_std
        rows.append(dict(k=row.k, top1_mean=m, top1_std=s, seeds={str(k): v for k, v in sorted(row.seeds.items())},
                         files={str(k): v for k, v in sorted(row.files.items())},
                         paper=None if row.paper is None else dict(top1=row.paper, source=row.paper_source)))
    return dict(grid=grid.grid, title=grid.title, dataset=grid.dataset, split=grid.split, benchmark=grid.benchmark,
                mode=grid.mode, model=grid.model, frames=grid.frames, epochs=grid.epochs, pretrained=grid.pretrained,
                start=grid.start, differs_from_paper=grid.differences,
                paper=None if grid.reference is None else dict(method=grid.reference.method,
                                                               backbone=grid.reference.backbone),
                rows=rows)


def to_json(grids: list[FewShotGrid]) -> str:
    return json.dumps(dict(format=TABLE_FORMAT, format_version=TABLE_VERSION,
                           grids=[grid_dict(g) for g in grids]), indent=1) + "\n"
