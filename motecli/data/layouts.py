"""`VideoList` and the parsers for each dataset's annotation files, as distributed.

Every parser returns a `VideoList`: a root folder, (relative path, label) pairs
and the class names, which decide zero-shot accuracy because they go through the
text encoder. Class names come from the dataset's own files and can be replaced
by a labels file (`read_labels_file`). Every bad input is a one-line MoteError
naming the file and what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MoteError
from ..textfile import read_labels_file
from ..textfile import read_text_file


@dataclass
class VideoList:
    """A split of a dataset: videos `root / relative_path` with integer labels."""

    root: Path
    items: list[tuple[str, int]]
    class_names: list[str]
    source: str  # where the list came from, for provenance in caches and results

    def __len__(self) -> int:
        return len(self.items)

    def path(self, index: int) -> Path:
        return self.root / self.items[index][0]

    def fingerprint(self) -> str:
        """sha256 over the relative paths and labels, in order: stable across machines
        (the root is not included) and independent of class-name overrides."""
        h = hashlib.sha256()
        for rel, label in self.items:
            h.update(f"{rel}\t{label}\n".encode())
        return h.hexdigest()

    def with_class_names(self, names: list[str], *, origin: str) -> "VideoList":
        """The same videos with the class names replaced (e.g. by a labels file)."""
        if len(names) != len(self.class_names):
            raise MoteError(
                f"{origin}: {len(names)} class names, but the dataset has {len(self.class_names)} classes"
            )
        return VideoList(self.root, self.items, list(names), f"{self.source}; names from {origin}")


# --- small readers -------------------------------------------------------------------------


def _lines(path: str | os.PathLike, what: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines."""
    return [(i + 1, s.strip()) for i, s in enumerate(read_text_file(path, what).splitlines()) if s.strip()]


def camel_to_words(name: str) -> str:
    """UCF-101 folder names to text: `ApplyEyeMakeup` -> `apply eye makeup`, `YoYo` -> `yo yo`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(spaced.replace("_", " ").split()).lower()


def underscores_to_words(name: str) -> str:
    """HMDB-51 / Kinetics folder names to text: `brush_hair` -> `brush hair`."""
    return " ".join(name.replace("_", " ").split())


# --- generic list --------------------------------------------------------------------------


def read_list_file(list_file: str | os.PathLike, *, num_classes: int | None = None) -> list[tuple[str, int]]:
    """`relative/path.mp4 LABEL` per line; the path may contain spaces (split on the last one)."""
    items = []
    for line_no, text in _lines(list_file, "video list"):
        parts = text.rsplit(maxsplit=1)
        try:
            label = int(parts[1])
        except (IndexError, ValueError):
            raise MoteError(f"{list_file}:{line_no}: expected 'relative/path LABEL', got {text!r}") from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise MoteError(f"{list_file}:{line_no}: label {label} outside 0..{(num_classes or 1) - 1}")
        items.append((parts[0], label))
    if not items:
        raise MoteError(f"{list_file}: video list is empty")
    return items


def load_video_list(
    list_file: str | os.PathLike, labels_file: str | os.PathLike, root: str | os.PathLike
) -> VideoList:
    """A generic list (`path LABEL` lines) with a labels file giving the class names."""
    names = read_labels_file(labels_file)
    items = read_list_file(list_file, num_classes=len(names))
    return VideoList(Path(root), items, names, f"list {list_file} labels {labels_file}")


# --- UCF-101 -------------------------------------------------------------------------------


def load_ucf101(splits_dir: str | os.PathLike, root: str | os.PathLike, *, split: int, subset: str) -> VideoList:
    """The official `ucfTrainTestlist`: classInd.txt (`1 ApplyEyeMakeup`, 1-based),
    trainlist0N.txt (`Class/v_..avi 1`), testlist0N.txt (no label; taken from the folder)."""
    splits_dir = Path(splits_dir)
    class_ind = splits_dir / "classInd.txt"
    folders: list[str] = []
    for line_no, text in _lines(class_ind, "UCF-101 classInd.txt"):
        parts = text.split()
        if len(parts) != 2 or parts[0] != str(len(folders) + 1):
            raise MoteError(f"{class_ind}:{line_no}: expected '{len(folders) + 1} ClassName', got {text!r}")
        folders.append(parts[1])
    index = {f: i for i, f in enumerate(folders)}
    list_file = splits_dir / f"{'trainlist' if subset == 'train' else 'testlist'}{split:02d}.txt"
    items = []
    for line_no, text in _lines(list_file, f"UCF-101 {subset} list"):
        rel = text.split()[0]
        folder = rel.split("/")[0]
        if folder not in index:
            raise MoteError(f"{list_file}:{line_no}: class folder {folder!r} not in {class_ind}")
        items.append((rel, index[folder]))
    names = [camel_to_words(f) for f in folders]
    return VideoList(Path(root), items, names, f"ucf101 {list_file}")


# --- HMDB-51 -------------------------------------------------------------------------------

HMDB_SUBSET_CODE = {"train": "1", "test": "2"}


def load_hmdb51(splits_dir: str | os.PathLike, root: str | os.PathLike, *, split: int, subset: str) -> VideoList:
    """The official split files `<class>_test_split<N>.txt`, lines `video.avi 1|2|0`
    (1 = train, 2 = test, 0 = unused); videos in `<class>/<video>.avi`; classes sorted."""
    splits_dir = Path(splits_dir)
    suffix = f"_test_split{split}.txt"
    files = sorted(p for p in splits_dir.glob(f"*{suffix}"))
    if not files:
        raise MoteError(f"{splits_dir}: no HMDB-51 split files '*{suffix}'")
    folders = [p.name[: -len(suffix)] for p in files]
    code = HMDB_SUBSET_CODE[subset]
    items = []
    for label, (folder, path) in enumerate(zip(folders, files)):
        for line_no, text in _lines(path, "HMDB-51 split file"):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise MoteError(f"{path}:{line_no}: expected 'video.avi 0|1|2', got {text!r}")
            if parts[1] == code:
                items.append((f"{folder}/{parts[0]}", label))
    names = [underscores_to_words(f) for f in folders]
    return VideoList(Path(root), items, names, f"hmdb51 {splits_dir} split {split} {subset}")


# --- Kinetics ------------------------------------------------------------------------------


def _read_kinetics_csv(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(read_text_file(path, "Kinetics CSV").splitlines()))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if not rows or not need <= set(rows[0]):
        raise MoteError(f"{path}: expected a CSV with columns {','.join(sorted(need))}")
    return rows


class _FolderIndex:
    """Lists each class folder once, to find `<label>` or `<label_with_underscores>`
    and the extension of each video without one stat per file."""

    def __init__(self, root: Path, default_ext: str):
        self.root, self.default_ext = root, default_ext
        self._folders: dict[str, tuple[str, dict[str, str]]] = {}

    def locate(self, label: str, stem: str) -> str:
        if label not in self._folders:
            folder = label
            for candidate in (label, label.replace(" ", "_")):
                if (self.root / candidate).is_dir():
                    folder = candidate
                    break
            names = os.listdir(self.root / folder) if (self.root / folder).is_dir() else []
            self._folders[label] = (folder, {os.path.splitext(n)[0]: n for n in names})
        folder, files = self._folders[label]
        return f"{folder}/{files.get(stem, f'{stem}.{self.default_ext}')}"


def load_kinetics(
    csv_file: str | os.PathLike,
    root: str | os.PathLike,
    *,
    class_csvs: list[str | os.PathLike],
    ext: str = "mp4",
) -> VideoList:
    """Kinetics-400/600 CSV annotations (label,youtube_id,time_start,time_end,split[,is_cc]).
    Videos `<label folder>/<youtube_id>_<start:06d>_<end:06d>.<ext>`; the label folder is
    the label with spaces or with underscores, whichever exists. Class index = position of
    the label in the sorted union of labels in `class_csvs` (the usual alphabetical order).
    A video missing on disk stays in the list, so that reading it reports a failure."""
    csv_file, root = Path(csv_file), Path(root)
    labels = sorted({r["label"] for c in class_csvs for r in _read_kinetics_csv(Path(c))})
    index = {name: i for i, name in enumerate(labels)}
    folders = _FolderIndex(root, ext)
    items = []
    for row_no, row in enumerate(_read_kinetics_csv(csv_file), start=2):
        if row["label"] not in index:
            raise MoteError(f"{csv_file}:{row_no}: label {row['label']!r} not among the classes")
        try:
            stem = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
        except ValueError:
            raise MoteError(f"{csv_file}:{row_no}: time_start/time_end must be numbers") from None
        items.append((folders.locate(row["label"], stem), index[row["label"]]))
    names = [underscores_to_words(n) for n in labels]
    return VideoList(root, items, names, f"kinetics {csv_file}")


# --- Something-Something v2 ----------------------------------------------------------------


def _read_json(path: Path, what: str):
    try:
        return json.loads(read_text_file(path, what))
    except json.JSONDecodeError as err:
        raise MoteError(f"{path}: {what} is not valid JSON ({err.msg} at line {err.lineno})") from None


def load_ssv2(
    labels_json: str | os.PathLike, split_json: str | os.PathLike, root: str | os.PathLike, *, ext: str = "webm"
) -> VideoList:
    """Something-Something v2: labels `{"Approaching something ...": "0", ...}`, split files
    `[{"id": "78687", "template": "Holding [something] next to [something]", ...}]`,
    videos `<id>.webm`. The label index comes from the template with `[something]` -> `something`."""
    labels_json, split_json = Path(labels_json), Path(split_json)
    table = _read_json(labels_json, "SSv2 labels JSON")
    try:
        by_index = {int(v): k for k, v in table.items()}
    except (AttributeError, ValueError):
        raise MoteError(f"{labels_json}: expected {{\"template\": \"index\", ...}}") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise MoteError(f"{labels_json}: indices must be 0..{len(by_index) - 1} without gaps")
    index = {name: i for i, name in by_index.items()}
    items = []
    for entry in _read_json(split_json, "SSv2 split JSON"):
        try:
            template = entry["template"].replace("[something]", "something")
            items.append((f"{entry['id']}.{ext}", index[template]))
        except (KeyError, TypeError, AttributeError):
            raise MoteError(f"{split_json}: entry {str(entry)[:80]!r} has no known 'template' or no 'id'") from None
    names = [by_index[i] for i in range(len(by_index))]
    return VideoList(Path(root), items, names, f"ssv2 {split_json}")
