"""Named datasets: point the tool at a dataset once in a TOML file, then say `--dataset hmdb51 --split 1`.

The file is `$MOTE_DATASETS`, else `./datasets.toml`; one table per dataset name,
with `layout` selecting the parser in `layouts`. Relative paths are relative to
the TOML file's folder. The format, with one example per layout, is in
docs/datasets.md. Every config error names the file and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MoteError
from ..env import cache_root, datasets_config
from ..textfile import read_labels_file
from . import layouts
from .k600 import K600_ZS_SPLITS, load_k600_zeroshot
from .layouts import VideoList

SUBSETS = ("train", "test")
# The official three splits of UCF-101 and HMDB-51; Kinetics and SSv2 have one; the
# Kinetics-600 zero-shot benchmark ships its three 160-class splits (data/k600.py).
FIXED_SPLITS = {"ucf101": 3, "hmdb51": 3, "kinetics": 1, "ssv2": 1, "k600_zeroshot": K600_ZS_SPLITS}
LAYOUTS = ("list", *FIXED_SPLITS)


def config_path(path: str | os.PathLike | None = None) -> Path:
    return datasets_config(path)


class DatasetEntry:
    """One table of the config, with typed accessors that name the file and key on error."""

    def __init__(self, name: str, table: dict[str, Any], file: Path):
        self.name, self.table, self.file = name, table, file
        self.layout = self.get_str("layout")
        if self.layout not in LAYOUTS:
            raise MoteError(f"{file}: [{name}] layout = {self.layout!r}; expected one of {', '.join(LAYOUTS)}")

    def _where(self, key: str) -> str:
        return f"{self.file}: [{self.name}] {key}"

    def has(self, key: str) -> bool:
        return key in self.table

    def get_str(self, key: str) -> str:
        if key not in self.table:
            raise MoteError(f"{self._where(key)} is missing")
        value = self.table[key]
        if not isinstance(value, str):
            raise MoteError(f"{self._where(key)} = {value!r}; expected a string")
        return value

    def get_path(self, key: str, *, must_exist: bool = True) -> Path:
        path = self.file.parent / os.path.expanduser(self.get_str(key))
        if must_exist and not path.exists():
            raise MoteError(f"{self._where(key)} = {str(path)!r} does not exist")
        return path

    def get_per_split(self, key: str, split: int, *, shared: bool = False) -> Path:
        """A key that is either one path or a list of paths, one per split. One path means a
        single split, or with `shared=True` the same file for every split (a labels file)."""
        if key not in self.table:
            raise MoteError(f"{self._where(key)} is missing")
        value = self.table[key]
        values = ([value] * max(split, 1) if shared else [value]) if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise MoteError(f"{self._where(key)} = {value!r}; expected a path or a list of paths")
        if not 1 <= split <= len(values):
            raise MoteError(f"{self._where(key)}: split {split} out of range 1..{len(values)}")
        path = self.file.parent / os.path.expanduser(values[split - 1])
        if not path.exists():
            raise MoteError(f"{self._where(key)}[{split}] = {str(path)!r} does not exist")
        return path

    def num_splits(self) -> int:
        if self.layout != "list":
            return FIXED_SPLITS[self.layout]
        value = self.table.get("test", self.table.get("train", []))
        return 1 if isinstance(value, str) else len(value)


def load_entry(name: str, path: str | os.PathLike | None = None) -> DatasetEntry:
    file = config_path(path)
    try:
        with open(file, "rb") as fh:
            config = tomllib.load(fh)
    except FileNotFoundError:
        raise MoteError(
            f"{file}: dataset config not found; create ./datasets.toml or set MOTE_DATASETS (see docs/datasets.md)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise MoteError(f"{file}: cannot read dataset config: {err}") from None
    if name not in config or not isinstance(config[name], dict):
        known = ", ".join(k for k, v in config.items() if isinstance(v, dict)) or "none"
        raise MoteError(f"{file}: unknown dataset {name!r} (configured: {known})")
    return DatasetEntry(name, config[name], file.resolve())


def load_dataset_split(
    name: str, split: int, subset: str, config_path: str | os.PathLike | None = None
) -> VideoList:
    """The VideoList of split `split` (1-based), subset 'train' or 'test', of a named dataset."""
    entry = load_entry(name, config_path)
    if subset not in SUBSETS:
        raise MoteError(f"subset {subset!r}: expected 'train' or 'test'")
    if entry.layout != "list" and not 1 <= split <= FIXED_SPLITS[entry.layout]:
        raise MoteError(f"{entry.file}: [{name}] layout {entry.layout} has splits 1..{FIXED_SPLITS[entry.layout]}, not {split}")
    root = entry.get_path(f"{subset}_root") if entry.has(f"{subset}_root") else entry.get_path("root")
    if entry.layout == "list":
        videos = layouts.load_video_list(entry.get_per_split(subset, split), entry.get_per_split("labels", split, shared=True), root)
    elif entry.layout == "ucf101":
        videos = layouts.load_ucf101(entry.get_path("splits_dir"), root, split=split, subset=subset)
    elif entry.layout == "hmdb51":
        videos = layouts.load_hmdb51(entry.get_path("splits_dir"), root, split=split, subset=subset)
    elif entry.layout == "kinetics":
        csvs = [entry.get_path(k) for k in ("train_csv", "test_csv") if entry.has(k)]
        ext = entry.get_str("ext") if entry.has("ext") else "mp4"
        videos = layouts.load_kinetics(entry.get_path(f"{subset}_csv"), root, class_csvs=csvs, ext=ext)
    elif entry.layout == "k600_zeroshot":
        videos = _k600_zeroshot(entry, root, split=split, subset=subset)
    else:  # ssv2
        ext = entry.get_str("ext") if entry.has("ext") else "webm"
        videos = layouts.load_ssv2(entry.get_path("labels_json"), entry.get_path(f"{subset}_json"), root, ext=ext)
    if entry.layout != "list" and entry.has("labels"):
        labels = entry.get_per_split("labels", split, shared=True)
        names = read_labels_file(labels)
        layouts.check_same_order(videos.class_names, names, origin=str(labels))
        videos = videos.with_class_names(names, origin=str(labels))
    videos.source = f"{name} split {split} {subset} ({videos.source})"
    return videos


def _k600_zeroshot(entry: DatasetEntry, root: Path, *, split: int, subset: str) -> VideoList:
    """`csv` (a Kinetics-600 CSV with labels) or `test` (one list per split, the release's)."""
    if subset != "test":
        raise MoteError(f"{entry.file}: [{entry.name}] Kinetics-600 zero-shot has test videos only, not {subset!r}")
    if entry.has("csv") == entry.has("test"):
        raise MoteError(f"{entry.file}: [{entry.name}] set `csv` (a Kinetics-600 CSV with labels) or `test` "
                        "(a list per split), one of the two")
    ext = entry.get_str("ext") if entry.has("ext") else "mp4"
    if entry.has("csv"):
        return load_k600_zeroshot(root, split=split, csv_file=entry.get_path("csv"), ext=ext)
    return load_k600_zeroshot(root, split=split, list_file=entry.get_per_split("test", split), ext=ext)


def store_path(name: str, split: int, subset: str, config_path: str | os.PathLike | None = None) -> Path:
    """Where the frame store of a named split lives: `<frame_store>/split<N>-<subset>` when
    the dataset sets `frame_store`, else `cache_root()/frames/<name>-split<N>-<subset>`."""
    entry = load_entry(name, config_path)
    leaf = f"split{split}-{subset}"
    if entry.has("frame_store"):
        return entry.get_path("frame_store", must_exist=False) / leaf
    return cache_root() / "frames" / f"{name}-{leaf}"


@dataclass(frozen=True)
class Selection:
    """The videos a command was pointed at, by either of the two ways of naming them."""

    videos: VideoList
    name: str  # e.g. "hmdb51-split1-test", or the list file's stem; names cache folders and result files
    dataset: str | None
    split: int | None  # None for a list
    subset: str
    config: str | os.PathLike | None = None

    def default_store(self) -> Path:
        """Where `mote decode` puts this selection's frames when no --out is given."""
        if self.dataset is not None:
            return store_path(self.dataset, self.split, self.subset, self.config)
        return cache_root() / "frames" / f"list-{self.videos.fingerprint()[:12]}"


def select_videos(
    *,
    dataset: str | None = None,
    split: int = 1,
    subset: str = "test",
    list_file: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
) -> Selection:
    """A named dataset split (`--dataset`, from the datasets config) or an explicit
    `--list` with its `--labels` and `--root`: the one rule every command follows."""
    if dataset is not None and list_file is not None:
        raise MoteError("pass --dataset NAME or --list FILE, not both")
    if dataset is not None:
        videos = load_dataset_split(dataset, split, subset, config_path=config)
        return Selection(videos, f"{dataset}-split{split}-{subset}", dataset, split, subset, config)
    if list_file is None:
        raise MoteError("no videos named: pass --dataset NAME (see datasets.toml) or --list FILE --labels FILE --root DIR")
    if labels is None or root is None:
        raise MoteError("--list needs --labels FILE (the class names) and --root DIR (the folder the list's paths are relative to)")
    videos = layouts.load_video_list(list_file, labels, root)
    return Selection(videos, re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(list_file).stem), None, None, subset, config)
