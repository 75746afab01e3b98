"""What a few-shot grid is, before any training: its folder, identity, lists and cells.

    OUT_DIR/grid.json                      identity (dataset, lists, recipe, mode) + shots, seeds
    OUT_DIR/lists/<train>-<K>shot-seed<S>.txt (+ .json)   the seeded, nested K-shot lists
    OUT_DIR/cells/<K>shot-seed<S>/run/     `mote train` output (last.pt, metrics.jsonl)
    OUT_DIR/cells/<K>shot-seed<S>/merged.safetensors       the cell's model
    OUT_DIR/cells/<K>shot-seed<S>/cell.json                written last: the cell is done
    OUT_DIR/results/                       one `mote eval` results file per cell

The identity is fixed when the folder is first used: running it again with another
recipe, dataset, train or test list, or mode is refused (a grid never mixes two
protocols), while new K values and seeds may be added. Each cell trains with the
recipe's values, its data source replaced by the cell's list (no validation set:
the test split is evaluated once, after training) and `run.seed` offset by the seed;
`data.ssv2`, when the recipe leaves it to the dataset's layout, is set from the layout.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_path
from ..errors import MoteError
from ..hashing import file_sha256, json_sha256, package_version
from ..train.recipe import Recipe, recipe_from_dict

log = logging.getLogger("mote")

GRID_FORMAT, GRID_VERSION = "mote-few-shot-grid", 1
ID_CHARS = 10
# The shipped recipes, by benchmark of the paper's few-shot table.
RECIPE_FILES = {"ucf": "fewshot-ucf101.toml", "hmdb": "fewshot-hmdb51.toml", "ssv2": "fewshot-ssv2.toml"}
LAYOUT_BENCHMARKS = {"ucf101": "ucf", "hmdb51": "hmdb", "ssv2": "ssv2"}
# [data] keys that name where clips come from: replaced by each cell's list.
SOURCE_KEYS = ("dataset", "split", "datasets_config", "list_file", "labels_file", "root", "val_list_file", "synthetic",
               "synthetic_videos_per_class", "synthetic_shapes", "synthetic_directions", "frame_store", "train_store",
               "val_store")
# Keys that change neither the numbers nor the protocol: left out of the identity.
UNCOUNTED = {"data": ("workers",), "run": ("output", "log_every", "val_every", "grad_checkpointing")}


@dataclass(frozen=True)
class GridSpec:
    """What `mote few-shot` was asked: parsed, not yet checked against the folder."""

    out_dir: Path
    recipe: Recipe  # the base recipe, --set applied
    recipe_file: Path
    dataset: str  # datasets.toml name (or the synthetic set's)
    split: int
    datasets_config: Path | None
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    benchmark: str | None = None  # ucf, hmdb, ssv2: the paper's table row to compare with
    head_only: bool = False
    start_checkpoint: Path | None = None  # head-only: the merged model whose head is trained
    results_dir: Path | None = None
    eval_batch_size: int = 8
    prune: bool = False  # delete a cell's training checkpoints once its results are written
    overrides: tuple[str, ...] = ()  # the --set values, recorded in grid.json

    @property
    def mode(self) -> str:
        return "head-only" if self.head_only else "full"


@dataclass(frozen=True)
class Cell:
    k: int
    seed: int
    dir: Path
    list_file: Path

    @property
    def name(self) -> str:
        return f"{self.k}shot-seed{self.seed}"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def merged(self) -> Path:
        return self.dir / "merged.safetensors"

    @property
    def record(self) -> Path:
        return self.dir / "cell.json"

    def done(self, results_dir: Path) -> dict | None:
        """The cell's record when it and its results file (in `results_dir`, so a moved
        grid folder still counts) exist: the cell is finished."""
        try:
            record = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None
        name = Path(record.get("results_file", "")).name
        return record if name and (Path(results_dir) / name).is_file() else None


@dataclass
class Grid:
    """A checked grid: its sources, identity, lists and cells, in the order they run."""

    spec: GridSpec
    train: object  # VideoSource of the train split the lists are drawn from
    test: object  # VideoSource of the test split every cell is evaluated on
    labels_file: Path
    identity: dict
    grid_id: str
    cells: list[Cell] = field(default_factory=list)

    @property
    def results_dir(self) -> Path:
        return self.spec.results_dir or self.spec.out_dir / "results"


# ---------------------------------------------------------------------------- recipes


def benchmark_of(dataset: str, config: Path | None) -> str | None:
    """ucf / hmdb / ssv2 from the dataset's layout in datasets.toml, else from its name."""
    from ..data.registry import load_entry
    from ..eval.fewshot_table import benchmark_of as by_name

    layout = load_entry(dataset, config).layout
    return LAYOUT_BENCHMARKS.get(layout) or by_name(dataset)


def recipe_dirs() -> list[Path]:
    """Where shipped recipes are looked for: ./recipes, then the checkout mote runs from."""
    return [Path("recipes"), Path(__file__).resolve().parents[2] / "recipes"]


def shipped_recipe(benchmark: str | None, dataset: str) -> Path:
    if benchmark not in RECIPE_FILES:
        raise MoteError(f"--dataset {dataset}: no shipped few-shot recipe for it (there are: UCF-101, HMDB-51, SSv2); "
                        "pass --recipe FILE")
    for folder in recipe_dirs():
        if (folder / RECIPE_FILES[benchmark]).is_file():
            return folder / RECIPE_FILES[benchmark]
    raise MoteError(f"recipes/{RECIPE_FILES[benchmark]}: not found in {' or '.join(map(str, recipe_dirs()))}; "
                    "run from the repository root or pass --recipe FILE")


def shared_recipe(recipe: Recipe) -> dict:
    """The recipe's part that every cell shares and that changes the numbers."""
    table = recipe.to_dict()
    table["data"] = {k: v for k, v in table["data"].items() if k not in SOURCE_KEYS}
    for section, keys in UNCOUNTED.items():
        table[section] = {k: v for k, v in table[section].items() if k not in keys}
    return table


def cell_recipe(grid: Grid, cell: Cell) -> Recipe:
    """The grid's recipe on the cell's list, into the cell's run folder, seed offset by the cell's."""
    from ..train.data import is_ssv2_dataset
    from ..train.recipe import DataSection

    base = grid.spec.recipe
    table = base.to_dict()
    table["data"] = {k: v for k, v in table["data"].items() if k not in SOURCE_KEYS} | dict(
        list_file=str(cell.list_file), labels_file=str(grid.labels_file), root=str(grid.train.videos.root))
    if base.data.ssv2 is None:  # decided by the dataset's layout, which a list no longer shows
        config = str(grid.spec.datasets_config) if grid.spec.datasets_config else None
        table["data"]["ssv2"] = is_ssv2_dataset(DataSection(dataset=grid.spec.dataset, datasets_config=config))
    table["run"] = table["run"] | dict(output=str(cell.run_dir), seed=base.run.seed + cell.seed)
    return recipe_from_dict(table, origin=f"{base.source}, few-shot cell {cell.name}")


# ---------------------------------------------------------------------------- the grid


def _identity(spec: GridSpec, train, test) -> dict:
    start = None
    if spec.start_checkpoint is not None:
        start = dict(name=spec.start_checkpoint.name, sha256=file_sha256(spec.start_checkpoint))
    return dict(dataset=spec.dataset, split=spec.split, benchmark=spec.benchmark, mode=spec.mode,
                train_list=train.videos.list_identity(), test_list=test.videos.list_identity(),
                recipe=shared_recipe(spec.recipe), start_checkpoint=start)


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identities."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key != "start_checkpoint":
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} = {json.dumps(b)} here, {json.dumps(a)} in the grid")
    return out


def check_grid_file(spec: GridSpec, identity: dict, *, write: bool) -> None:
    """Refuse a folder holding another grid; else record this call's shots and seeds."""
    path = spec.out_dir / "grid.json"
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise MoteError(f"{path}: not readable JSON; it is the grid's identity, restore it or use "
                            "another folder") from None
        if old.get("format") != GRID_FORMAT:
            raise MoteError(f"{path}: not a `mote few-shot` grid file; use another OUT_DIR")
        diff = _differences(old["identity"], identity)
        if diff:
            raise MoteError(f"{spec.out_dir}: holds a grid of another setting ({diff[0]}); "
                            f"{len(diff)} difference(s); use another OUT_DIR")
    if not write:
        return
    record = dict(format=GRID_FORMAT, format_version=GRID_VERSION, grid=json_sha256(identity)[:ID_CHARS],
                  identity=identity, recipe_file=str(spec.recipe_file), overrides=spec.overrides,
                  shots=sorted(set(spec.shots) | set((old or {}).get("shots", []))),
                  seeds=sorted(set(spec.seeds) | set((old or {}).get("seeds", []))),
                  created=(old or {}).get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  mote_version=package_version("motecli"))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def plan_grid(spec: GridSpec, *, write: bool) -> Grid:
    """Check the folder, draw the missing lists (when `write`: rank 0) and list the cells:
    seed by seed, K ascending within a seed."""
    from ..cache.source import resolve_source
    from ..eval.fewshot import write_few_shot_lists

    train = resolve_source(dataset=spec.dataset, split=spec.split, subset="train", config=spec.datasets_config)
    test = resolve_source(dataset=spec.dataset, split=spec.split, subset="test", config=spec.datasets_config)
    if train.videos.class_names != test.videos.class_names:
        raise MoteError(f"{spec.dataset} split {spec.split}: train and test lists name different classes")
    identity = _identity(spec, train, test)
    check_grid_file(spec, identity, write=write)
    lists = spec.out_dir / "lists"
    grid = Grid(spec=spec, train=train, test=test, labels_file=lists / f"{train.name}-labels.txt", identity=identity,
                grid_id=json_sha256(identity)[:ID_CHARS])
    for seed in spec.seeds:
        missing = [k for k in spec.shots if not (lists / f"{train.name}-{k}shot-seed{seed}.txt").is_file()]
        if write and (missing or not grid.labels_file.is_file()):
            write_few_shot_lists(train, shots=missing or list(spec.shots[:1]), seed=seed, out_dir=lists)
        for k in sorted(spec.shots):
            name = f"{k}shot-seed{seed}"
            grid.cells.append(Cell(k=k, seed=seed, dir=spec.out_dir / "cells" / name,
                                   list_file=lists / f"{train.name}-{name}.txt"))
    return grid


def resolve_spec(*, out_dir: Path, dataset: str | None, split: int | None, config: Path | None, recipe: Path | None,
                 overrides: list[str], shots: tuple[int, ...], seeds: tuple[int, ...], head_only: bool,
                 start_checkpoint: Path | None, results_dir: Path | None, batch_size: int, prune: bool) -> GridSpec:
    """The command's options as a GridSpec: the recipe (shipped one by the dataset when not
    given), the dataset (the recipe's when not given; its synthetic set included)."""
    from ..train.recipe import load_recipe

    if recipe is None:
        if dataset is None:
            raise MoteError("pass --dataset NAME (its shipped few-shot recipe is used) or --recipe FILE")
        recipe = shipped_recipe(benchmark_of(dataset, config), dataset)
    loaded = load_recipe(recipe, overrides)
    data = loaded.data
    if data.frame_store:
        raise MoteError(f"recipe {recipe}: data.frame_store: mote few-shot reads the videos of its lists; set it false")
    if dataset is None:
        if data.synthetic:
            from ..train.data import SYNTH_NAME, ensure_synthetic_dataset

            dataset = SYNTH_NAME
            config = ensure_synthetic_dataset(videos_per_class=data.synthetic_videos_per_class,
                                              shapes=data.synthetic_shapes, directions=data.synthetic_directions)
        elif data.dataset:
            dataset, config = data.dataset, config or (Path(data.datasets_config) if data.datasets_config else None)
        else:
            raise MoteError(f"recipe {recipe}: names no dataset to draw the lists from; pass --dataset NAME")
    if split is None:
        split = data.split if dataset == data.dataset else 1
    if start_checkpoint is not None:
        from ..checkpoints.merged import read_merged_metadata

        read_merged_metadata(start_checkpoint)  # a merged model, or a one-line error now
    return GridSpec(out_dir=Path(out_dir), recipe=loaded, recipe_file=Path(recipe), overrides=tuple(overrides),
                    dataset=dataset, split=split, datasets_config=config, shots=shots, seeds=seeds,
                    benchmark=benchmark_of(dataset, config), head_only=head_only, start_checkpoint=start_checkpoint,
                    results_dir=results_dir, eval_batch_size=batch_size, prune=prune)
