"""Training recipes: a TOML file unpacked once into typed, frozen dataclasses.

    [model]  open_clip name, weights, frames, head shape
    [data]   where the clips come from
    [solver] AdamW, the two learning rates, warm-up + cosine, batch
    [loss]   weights of the three MoTE loss terms
    [run]    output folder, seed, precision, validation frequency

Every key, its type and default is in docs/training.md. Any unknown key, wrong
type or missing value is a `MoteError` naming the file and the dotted key.
`--set section.key=value` overrides are applied to the parsed TOML before the
check, so they are validated the same way.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..constants import (
    ADAM_BETAS,
    ADAM_EPS,
    CLIP_LR_RATIO,
    DEFAULT_NUM_EXPERTS,
    DEFAULT_NUM_FRAMES,
    HEAD_LR,
    LOSS_WEIGHT_EXPERT,
    LOSS_WEIGHT_MERGED,
    LOSS_WEIGHT_MSE,
    POSITION_TABLE_ROWS,
    ROUTING_MODES,
    ROUTING_TEMPERATURE,
    SEED,
    TAU_SAMPLINGS,
    TRAIN_CROPS,
    WARMUP_EPOCHS,
    WEIGHT_DECAY,
)
from ..data.synth import DEFAULT_SHAPES, DIRECTIONS, MOTIONS, SHAPES, parse_subject
from ..errors import MoteError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
REQUIRED = dataclasses.MISSING


@dataclass(frozen=True)
class ModelSection:
    name: str  # open_clip model name, or 'mote-tiny'
    pretrained: str | None = None  # tag, local file, 'none'; absent = openai (random for mote-tiny)
    quick_gelu: bool | None = None  # absent = decided by the weights (see model/clip.py)
    num_frames: int = DEFAULT_NUM_FRAMES
    layers: int | None = None  # absent = 4 for ViT-B, 6 for ViT-L (method section 2)
    experts: int = DEFAULT_NUM_EXPERTS
    # The paper's ablations (docs/training.md, "Ablation switches"); the defaults are the method.
    routing: str = "multinomial"  # multinomial | random | fixed
    routing_temperature: float = ROUTING_TEMPERATURE
    tau_sampling: str = "discrete"  # discrete | continuous
    freeze_visual: bool = False  # train the head (and logit_scale) only


@dataclass(frozen=True)
class DataSection:
    # Exactly one source: a named dataset, a list file, or the generated synthetic set.
    dataset: str | None = None
    split: int = 1
    datasets_config: str | None = None  # datasets.toml; absent = $MOTE_DATASETS or ./datasets.toml
    list_file: str | None = None
    labels_file: str | None = None
    root: str | None = None
    val_list_file: str | None = None
    frame_store: bool = False  # read frames from `mote decode` stores instead of videos
    train_store: str | None = None  # store folders; absent = the dataset registry's location
    val_store: str | None = None
    workers: int | None = None  # absent = min(8, CPUs - 1), shared by the processes of a node
    flip: bool = True  # False for direction-sensitive classes without a label swap (the synthetic set)
    grayscale: bool | None = None  # absent = on (p = 0.2), off for SSv2
    crop: str = "release"  # the release's GroupRandomSizedCrop, or "torchvision" (RandomResizedCrop, a deviation)
    ssv2: bool | None = None  # SSv2 recipe (256x320, label-swapping flip); absent = on for layout "ssv2"
    templates_file: str | None = None  # absent = the 28 templates
    synthetic: bool = False
    synthetic_videos_per_class: int = 12
    synthetic_shapes: tuple[str, ...] = DEFAULT_SHAPES
    synthetic_directions: tuple[str, ...] = DIRECTIONS


@dataclass(frozen=True)
class SolverSection:
    epochs: int
    total_batch: int
    lr: float = HEAD_LR  # the head's rate; CLIP and logit_scale use lr * clip_lr_ratio
    clip_lr_ratio: float = CLIP_LR_RATIO
    warmup_epochs: float = WARMUP_EPOCHS
    weight_decay: float = WEIGHT_DECAY
    betas: tuple[float, float] = ADAM_BETAS
    eps: float = ADAM_EPS
    accumulation: int = 1


@dataclass(frozen=True)
class LossSection:
    expert: float = LOSS_WEIGHT_EXPERT
    merged: float = LOSS_WEIGHT_MERGED
    mse: float = LOSS_WEIGHT_MSE


@dataclass(frozen=True)
class RunSection:
    output: str
    seed: int = SEED
    precision: str = "auto"
    grad_checkpointing: bool = False
    compile: bool = False  # torch.compile the CLIP image encoder
    val_every: int = 1  # epochs between validations; 0 = never
    log_every: int = 10  # optimizer steps between metrics.jsonl step lines


@dataclass(frozen=True)
class Recipe:
    model: ModelSection
    data: DataSection
    solver: SolverSection
    run: RunSection
    loss: LossSection = field(default_factory=LossSection)
    source: str = "<recipe>"

    def to_dict(self) -> dict:
        """Plain TOML-shaped dict (None values left out), as stored in checkpoints."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            section = dataclasses.asdict(getattr(self, f.name))
            out[f.name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items() if v is not None}
        return out


_SECTION_TYPES = {"model": ModelSection, "data": DataSection, "solver": SolverSection, "loss": LossSection, "run": RunSection}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        args = typing.get_args(tp)
        item = _type_name(args[0])
        return f"a list of {item}s" if args[-1] is Ellipsis else f"a list of {len(args)} {item}s"
    return {int: "an integer", float: "a float", bool: "a boolean", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted as floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, inner[0], where)
    if origin is tuple:
        args = typing.get_args(tp)
        ok = isinstance(value, (list, tuple)) and (args[-1] is Ellipsis or len(value) == len(args))
        if not ok:
            raise MoteError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise MoteError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build_section(cls: type, table: Any, name: str, origin: str) -> Any:
    if not isinstance(table, dict):
        raise MoteError(f"{origin}: {name}: expected a table [{name}], got {table!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            raise MoteError(f"{origin}: {name}.{key}: unknown key (expected one of: {', '.join(known)})")
    values = {}
    for key, f in known.items():
        if key in table:
            values[key] = _convert(table[key], hints[key], f"{origin}: {name}.{key}")
        elif f.default is REQUIRED and f.default_factory is REQUIRED:
            raise MoteError(f"{origin}: {name}.{key}: missing required value ({_type_name(hints[key])})")
    return cls(**values)


def _check_data(d: DataSection, origin: str) -> None:
    sources = [k for k, on in (("data.synthetic", d.synthetic), ("data.dataset", d.dataset), ("data.list_file", d.list_file)) if on]
    if len(sources) != 1:
        raise MoteError(f"{origin}: data: set exactly one of data.dataset, data.list_file or data.synthetic = true (got {', '.join(sources) or 'none'})")
    if d.list_file and not (d.labels_file and d.root):
        raise MoteError(f"{origin}: data.labels_file and data.root are required with data.list_file")
    if d.crop not in TRAIN_CROPS:
        raise MoteError(f"{origin}: data.crop: expected one of {', '.join(TRAIN_CROPS)}, got {d.crop!r}")
    unknown = [v for v in d.synthetic_directions if v not in MOTIONS]
    repeated = len(set(d.synthetic_directions)) != len(d.synthetic_directions)
    if unknown or repeated or not d.synthetic_directions:
        what = f"unknown {unknown[0]!r}" if unknown else "repeated values" if repeated else "empty"
        raise MoteError(f"{origin}: data.synthetic_directions: {what}; expected distinct values from {', '.join(MOTIONS)}")
    if not d.synthetic_shapes or len(set(d.synthetic_shapes)) != len(d.synthetic_shapes):
        what = "repeated values" if d.synthetic_shapes else "empty"
        raise MoteError(f"{origin}: data.synthetic_shapes: {what}; expected distinct values from {', '.join(SHAPES)}")
    for entry in d.synthetic_shapes:
        try:
            parse_subject(entry)
        except ValueError as err:
            raise MoteError(f"{origin}: data.synthetic_shapes: {err}") from None


def _check_model(m: ModelSection, origin: str) -> None:
    # The temporal head's frame position table has POSITION_TABLE_ROWS rows (method section 2).
    if m.num_frames > POSITION_TABLE_ROWS:
        raise MoteError(f"{origin}: model.num_frames: {m.num_frames} frames do not fit the head's "
                        f"{POSITION_TABLE_ROWS}-row position table; expected at most {POSITION_TABLE_ROWS}")
    if m.layers is not None and m.layers < 1:
        raise MoteError(f"{origin}: model.layers: expected a positive integer (or leave it out for the model's "
                        f"default), got {m.layers}")
    for key, value, allowed in (("model.routing", m.routing, ROUTING_MODES),
                                ("model.tau_sampling", m.tau_sampling, TAU_SAMPLINGS)):
        if value not in allowed:
            raise MoteError(f"{origin}: {key}: expected one of {', '.join(allowed)}, got {value!r}")
    if not m.routing_temperature > 0:
        raise MoteError(f"{origin}: model.routing_temperature: expected a positive number, got {m.routing_temperature}")


def _check(recipe: Recipe, origin: str) -> None:
    d, s, r, m = recipe.data, recipe.solver, recipe.run, recipe.model
    _check_data(d, origin)
    if r.precision not in PRECISIONS:
        raise MoteError(f"{origin}: run.precision: expected one of {', '.join(PRECISIONS)}, got {r.precision!r}")
    positive = {"solver.epochs": s.epochs, "solver.total_batch": s.total_batch, "solver.accumulation": s.accumulation,
                "model.num_frames": m.num_frames, "model.experts": m.experts, "data.split": d.split,
                "run.log_every": r.log_every, "data.synthetic_videos_per_class": d.synthetic_videos_per_class}
    for key, value in positive.items():
        if value < 1:
            raise MoteError(f"{origin}: {key}: expected a positive integer, got {value}")
    for key, value in {"solver.lr": s.lr, "solver.clip_lr_ratio": s.clip_lr_ratio, "solver.warmup_epochs": s.warmup_epochs,
                       "solver.weight_decay": s.weight_decay, "data.workers": d.workers, "run.val_every": r.val_every}.items():
        if value is not None and value < 0:
            raise MoteError(f"{origin}: {key}: expected a non-negative value, got {value}")
    if s.warmup_epochs > s.epochs:
        raise MoteError(f"{origin}: solver.warmup_epochs: {s.warmup_epochs} is longer than solver.epochs = {s.epochs}")
    _check_model(m, origin)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'solver.lr=1e-4' -> (['solver', 'lr'], 1e-4); the value is a TOML literal, else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise MoteError(f"--set {text!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_overrides(table: dict, overrides: Sequence[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = table
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MoteError(f"--set {text!r}: {part} is not a table")
        node[path[-1]] = value
    return table


def recipe_from_dict(table: dict, *, origin: str = "<recipe>") -> Recipe:
    for key in table:
        if key not in _SECTION_TYPES:
            raise MoteError(f"{origin}: {key}: unknown key (expected sections: {', '.join(_SECTION_TYPES)})")
    sections = {}
    for name, cls in _SECTION_TYPES.items():
        if name not in table and name != "loss":
            raise MoteError(f"{origin}: [{name}]: missing required section")
        sections[name] = _build_section(cls, table.get(name, {}), name, origin)
    recipe = Recipe(**sections, source=origin)
    _check(recipe, origin)
    return recipe


def load_recipe(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Recipe:
    """Read, override and check a recipe file."""
    path = Path(path)
    origin = f"recipe {path}"
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except FileNotFoundError:
        raise MoteError(f"{origin}: no such file") from None
    except IsADirectoryError:
        raise MoteError(f"{origin}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise MoteError(f"{origin}: not valid TOML ({err})") from None
    return recipe_from_dict(apply_overrides(table, overrides), origin=origin)


def with_output(recipe: Recipe, output: str | os.PathLike) -> Recipe:
    return dataclasses.replace(recipe, run=dataclasses.replace(recipe.run, output=str(output)))


def check_recipe_files(recipe: Recipe) -> None:
    """Read the files a recipe's [data] names (lists, labels, templates, the dataset's
    entry, frame stores) without torch, so that a wrong path is one line at once rather
    than after seconds of imports. The data is built later from the same files."""
    from ..data.layouts import load_video_list
    from ..data.registry import load_entry
    from ..data.store import read_manifest
    from ..text.labels import read_templates_file
    from ..textfile import read_labels_file

    d = recipe.data
    if d.list_file:
        if d.root and not Path(d.root).is_dir():
            raise MoteError(f"data.root {d.root}: no such directory")
        for list_file in (d.list_file, d.val_list_file):
            if list_file:
                load_video_list(list_file, d.labels_file, d.root)
    elif d.labels_file:
        read_labels_file(d.labels_file)
    if d.dataset:
        load_entry(d.dataset, d.datasets_config)
    if d.templates_file:
        read_templates_file(d.templates_file)
    for store in (d.train_store, d.val_store) if d.frame_store else ():
        if store:
            read_manifest(store)
