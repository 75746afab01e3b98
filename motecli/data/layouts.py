"""`VideoList` and the parsers for each dataset's annotation files, as distributed.

Every parser returns a `VideoList`: a root folder, (relative path, label) pairs
and the class names, which decide zero-shot accuracy because they go through the
text encoder. Class names come from the dataset's own files by one rule per
dataset (the `*_class_name` functions below, documented in docs/datasets.md) and
can be replaced by a labels file (`read_labels_file`). Every bad input is a
one-line MoteError naming the file and what was expected.

Folder names are matched by `folder_key` (lower case, letters and digits only), so
`passing American football (in game)`, `passing_American_football_(in_game)` and
the release's `passing_American_football_in_game` are the same class folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

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

    def list_identity(self) -> dict:
        """What results record about the list itself, to tell apart the public lists of one
        benchmark (they differ in length): sha256 over the relative paths and labels in
        order, and the number of videos. Unlike `fingerprint`, never depends on the files."""
        h = hashlib.sha256()
        for rel, label in self.items:
            h.update(f"{rel}\t{label}\n".encode())
        return dict(sha256=h.hexdigest(), videos=len(self.items), classes=len(self.class_names))

    def stamps(self, indices: Iterable[int]) -> list[tuple[int, int]]:
        """`video_stamp` of each video at `indices`: one stat per video, no reading."""
        root = str(self.root)  # os.path.join: a Path per video costs seconds on 100k-video lists
        return [video_stamp(os.path.join(root, self.items[i][0])) for i in indices]

    def with_class_names(self, names: list[str], *, origin: str) -> "VideoList":
        """The same videos with the class names replaced (e.g. by a labels file)."""
        if len(names) != len(self.class_names):
            raise MoteError(
                f"{origin}: {len(names)} class names, but the dataset has {len(self.class_names)} classes"
            )
        return VideoList(self.root, self.items, list(names), f"{self.source}; names from {origin}")


# --- what a video file was when it was read ------------------------------------------------

MISSING_STAMP = (-1, -1)


def video_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(size in bytes, modification time in ns) of a video file, symlinks followed;
    MISSING_STAMP when it cannot be stat'ed. A file replaced in place almost always
    changes one of the two; reading its content (terabytes for a dataset) is not needed."""
    try:
        st = os.stat(path)
    except OSError:
        return MISSING_STAMP
    return int(st.st_size), int(st.st_mtime_ns)


def videos_sha256(items: Sequence[tuple[str, int]], stamps: Sequence[tuple[int, int]]) -> str:
    """The per-video fingerprint of some rows of a list: sha256 over
    `relpath<TAB>label<TAB>size<TAB>mtime_ns` lines, in order."""
    h = hashlib.sha256()
    for (rel, label), (size, mtime) in zip(items, stamps, strict=True):
        h.update(f"{rel}\t{label}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()


# --- small readers -------------------------------------------------------------------------


def _lines(path: str | os.PathLike, what: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines."""
    return [(i + 1, s.strip()) for i, s in enumerate(read_text_file(path, what).splitlines()) if s.strip()]


def folder_key(name: str) -> str:
    """Matching key of a class folder or label: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


# --- class names for text: one rule per dataset ------------------------------------------


def camel_to_words(name: str) -> str:
    """UCF-101 folder names to text: `ApplyEyeMakeup` -> `apply eye makeup`, `YoYo` -> `yo yo`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(spaced.replace("_", " ").split()).lower()


def underscores_to_words(name: str) -> str:
    """HMDB-51 / Kinetics folder names to text: `brush_hair` -> `brush hair`."""
    return " ".join(name.replace("_", " ").split())


def ucf_class_name(folder: str) -> str:
    """UCF-101: the CamelCase folder as lower-case words (`ApplyEyeMakeup` -> `apply eye makeup`)."""
    return camel_to_words(folder)


def hmdb_class_name(folder: str) -> str:
    """HMDB-51: the folder with underscores as spaces (`climb_stairs` -> `climb stairs`)."""
    return underscores_to_words(folder)


def kinetics_class_name(label: str) -> str:
    """Kinetics: the CSV label as written (`passing American football (in game)`)."""
    return underscores_to_words(label)


def ssv2_class_name(template: str) -> str:
    """Something-Something v2: the template without brackets, whatever the placeholder:
    `Putting [number of] [something] onto [something]` -> `Putting number of something onto
    something`, `[Something] falling like a rock` -> `Something falling like a rock`. These
    are the keys of the release's labels JSON, in its order (see `ssv2_class_names`)."""
    return " ".join(re.sub(r"\[([^\[\]]*)\]", r"\1", template).split())


# --- generic list --------------------------------------------------------------------------


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def read_list_file(list_file: str | os.PathLike, *, num_classes: int | None = None) -> list[tuple[str, int]]:
    """Two formats, decided by the first line:

    - `relative/path.mp4 LABEL` (the path may contain spaces: split on the last one);
    - `relative/path NUM_FRAMES LABEL` (Text4Vis/BIKE/the release's frame-folder lists):
      chosen when the first line has three or more fields and the last two are integers;
      then every line must have that form. NUM_FRAMES is not used: a frame folder is
      counted when it is read.
    """
    lines = _lines(list_file, "video list")
    if not lines:
        raise MoteError(f"{list_file}: video list is empty")
    first = lines[0][1].split()
    three = len(first) >= 3 and _is_int(first[-1]) and _is_int(first[-2])
    expected = "'relative/path NUM_FRAMES LABEL' (as line 1)" if three else "'relative/path LABEL'"
    items = []
    for line_no, text in lines:
        parts = text.rsplit(maxsplit=2 if three else 1)
        if len(parts) != (3 if three else 2) or not all(_is_int(p) for p in parts[1:]):
            raise MoteError(f"{list_file}:{line_no}: expected {expected}, got {text!r}")
        label = int(parts[-1])
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise MoteError(f"{list_file}:{line_no}: label {label} outside 0..{(num_classes or 1) - 1}")
        items.append((parts[0], label))
    return items


def load_video_list(
    list_file: str | os.PathLike, labels_file: str | os.PathLike, root: str | os.PathLike
) -> VideoList:
    """A generic list (`path LABEL` or `path NUM_FRAMES LABEL` lines) with a labels file
    giving the class names. The release's lists (`lists/ucf101`, `lists/hmdb51`,
    `lists/k400`, `lists/k600_test`) are such lists, with their `*_labels.csv`."""
    names = read_labels_file(labels_file)
    items = read_list_file(list_file, num_classes=len(names))
    return VideoList(Path(root), items, names, f"list {list_file} labels {labels_file}")


def check_same_order(names: list[str], override: list[str], *, origin: str) -> None:
    """A labels file naming the dataset's classes in another order would score videos
    against another class's text without any error; refuse it. Names that do not match
    (other wording) are not checked."""
    keys, other = [folder_key(n) for n in names], [folder_key(n) for n in override]
    if sorted(keys) != sorted(other) or keys == other:
        return
    i = next(i for i, (a, b) in enumerate(zip(keys, other)) if a != b)
    raise MoteError(
        f"{origin}: same classes in another order (class {i} is {override[i]!r} there, {names[i]!r} in the "
        "dataset's files); reorder it to the dataset's class ids"
    )


# --- UCF-101 -------------------------------------------------------------------------------


def load_ucf101(splits_dir: str | os.PathLike, root: str | os.PathLike, *, split: int, subset: str) -> VideoList:
    """The official `ucfTrainTestlist`: classInd.txt (`1 ApplyEyeMakeup`, 1-based),
    trainlist0N.txt (`Class/v_..avi 1`), testlist0N.txt (no label; taken from the folder).
    Folders match classInd case-insensitively: the official classInd spells class 37
    `HandStandPushups`, its folder and list lines `HandstandPushups`; the text name
    follows the folder (`handstand pushups`)."""
    splits_dir = Path(splits_dir)
    class_ind = splits_dir / "classInd.txt"
    spelled: list[str] = []
    for line_no, text in _lines(class_ind, "UCF-101 classInd.txt"):
        parts = text.split()
        if len(parts) != 2 or parts[0] != str(len(spelled) + 1):
            raise MoteError(f"{class_ind}:{line_no}: expected '{len(spelled) + 1} ClassName', got {text!r}")
        spelled.append(parts[1])
    index = {folder_key(f): i for i, f in enumerate(spelled)}
    list_file = splits_dir / f"{'trainlist' if subset == 'train' else 'testlist'}{split:02d}.txt"
    items = []
    for line_no, text in _lines(list_file, f"UCF-101 {subset} list"):
        rel = text.split()[0]
        folder = rel.split("/")[0]
        label = index.get(folder_key(folder))
        if label is None:
            raise MoteError(f"{list_file}:{line_no}: class folder {folder!r} not in {class_ind}")
        spelled[label] = folder
        items.append((rel, label))
    names = [ucf_class_name(f) for f in spelled]
    return VideoList(Path(root), items, names, f"ucf101 {list_file}")


# --- HMDB-51 -------------------------------------------------------------------------------

HMDB_SUBSET_CODE = {"train": "1", "test": "2"}
HMDB_SPLITS = (1, 2, 3)


def _hmdb_classes(splits_dir: Path, split: int) -> list[str]:
    """Class folders of `split`, sorted by name: a base class before its extensions
    (`climb`, `climb_stairs`), as the release's hmdb51_labels.csv; sorting the file
    names instead would put `climb_stairs_test_split1.txt` first."""
    suffix = f"_test_split{split}.txt"
    return sorted(p.name[: -len(suffix)] for p in splits_dir.glob(f"*{suffix}"))


def load_hmdb51(splits_dir: str | os.PathLike, root: str | os.PathLike, *, split: int, subset: str) -> VideoList:
    """The official split files `<class>_test_split<N>.txt`, lines `video.avi 1|2|0`
    (1 = train, 2 = test, 0 = unused); videos in `<class>/<video>.avi`. A class with a
    file for another split but not this one is an error naming the missing file."""
    splits_dir = Path(splits_dir)
    folders = _hmdb_classes(splits_dir, split)
    if not folders:
        raise MoteError(f"{splits_dir}: no HMDB-51 split files '*_test_split{split}.txt'")
    for other in HMDB_SPLITS:
        missing = sorted(set(_hmdb_classes(splits_dir, other)) - set(folders))
        if missing:
            raise MoteError(f"{splits_dir / f'{missing[0]}_test_split{split}.txt'}: missing (class {missing[0]!r} "
                            f"has a split-{other} file; {len(missing)} such class(es))")
    code = HMDB_SUBSET_CODE[subset]
    items = []
    for label, folder in enumerate(folders):
        path = splits_dir / f"{folder}_test_split{split}.txt"
        for line_no, text in _lines(path, "HMDB-51 split file"):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise MoteError(f"{path}:{line_no}: expected 'video.avi 0|1|2', got {text!r}")
            if parts[1] == code:
                items.append((f"{folder}/{parts[0]}", label))
    names = [hmdb_class_name(f) for f in folders]
    return VideoList(Path(root), items, names, f"hmdb51 {splits_dir} split {split} {subset}")


# --- Kinetics ------------------------------------------------------------------------------


def read_kinetics_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a Kinetics CSV (label,youtube_id,time_start,time_end,split[,is_cc]); quoted
    labels (`"air drumming",...`) are read as CSV."""
    rows = list(csv.DictReader(read_text_file(path, "Kinetics CSV").splitlines()))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if not rows or not need <= set(rows[0]):
        raise MoteError(f"{path}: expected a CSV with columns {','.join(sorted(need))}")
    return rows


def kinetics_stem(row: dict[str, str], *, where: str) -> str:
    """`<youtube_id>_<start:06d>_<end:06d>`, the name every downloader gives the clip."""
    try:
        return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
    except ValueError:
        raise MoteError(f"{where}: time_start/time_end must be numbers") from None


class FolderIndex:
    """Lists the root once and each class folder once, to find the folder of a label in
    any naming (`folder_key`) and the extension of each video without a stat per file."""

    def __init__(self, root: Path, default_ext: str):
        self.root, self.default_ext = root, default_ext
        self._by_key: dict[str, str] | None = None
        self._folders: dict[str, tuple[str, dict[str, str]]] = {}

    def folder(self, label: str) -> str:
        if self._by_key is None:
            self._by_key = {}
            names = sorted(os.listdir(self.root)) if self.root.is_dir() else []
            for name in names:
                if (self.root / name).is_dir():
                    other = self._by_key.setdefault(folder_key(name), name)
                    if other != name:
                        raise MoteError(f"{self.root}: folders {other!r} and {name!r} name the same class")
        return self._by_key.get(folder_key(label), label.replace(" ", "_"))

    def locate(self, label: str, stem: str) -> str:
        if label not in self._folders:
            folder = self.folder(label)
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
    found in any naming (spaces, underscores, the release's without parentheses). Class
    index = position of the label in the sorted union of labels in `class_csvs` (the usual
    alphabetical order). A video missing on disk stays in the list, so that reading it
    reports a failure."""
    csv_file, root = Path(csv_file), Path(root)
    labels = sorted({r["label"] for c in class_csvs for r in read_kinetics_csv(Path(c))})
    index = {name: i for i, name in enumerate(labels)}
    folders = FolderIndex(root, ext)
    items = []
    for row_no, row in enumerate(read_kinetics_csv(csv_file), start=2):
        if row["label"] not in index:
            raise MoteError(f"{csv_file}:{row_no}: label {row['label']!r} not among the classes")
        stem = kinetics_stem(row, where=f"{csv_file}:{row_no}")
        items.append((folders.locate(row["label"], stem), index[row["label"]]))
    names = [kinetics_class_name(n) for n in labels]
    return VideoList(root, items, names, f"kinetics {csv_file}")


# --- Something-Something v2 ----------------------------------------------------------------


def _read_json(path: Path, what: str):
    try:
        return json.loads(read_text_file(path, what))
    except json.JSONDecodeError as err:
        raise MoteError(f"{path}: {what} is not valid JSON ({err.msg} at line {err.lineno})") from None


def ssv2_class_names(labels_json: str | os.PathLike) -> list[str]:
    """The class names of `something-something-v2-labels.json` (`{"Approaching something
    with your camera": "0", ...}`) in the order of their ids."""
    labels_json = Path(labels_json)
    table = _read_json(labels_json, "SSv2 labels JSON")
    try:
        by_index = {int(v): ssv2_class_name(k) for k, v in table.items()}
    except (AttributeError, ValueError):
        raise MoteError(f"{labels_json}: expected {{\"template\": \"index\", ...}}") from None
    if sorted(by_index) != list(range(len(by_index))) or len(by_index) != len(table):
        raise MoteError(f"{labels_json}: indices must be 0..{len(table) - 1}, each once")
    return [by_index[i] for i in range(len(by_index))]


def load_ssv2(
    labels_json: str | os.PathLike, split_json: str | os.PathLike, root: str | os.PathLike, *, ext: str = "webm"
) -> VideoList:
    """Something-Something v2: labels `{"Approaching something ...": "0", ...}`, split files
    `[{"id": "78687", "template": "Holding [something] next to [something]", ...}]`,
    videos `<id>.webm`. The label is the class named `ssv2_class_name(template)`."""
    split_json = Path(split_json)
    names = ssv2_class_names(labels_json)
    index = {name: i for i, name in enumerate(names)}
    entries = _read_json(split_json, "SSv2 split JSON")
    if not isinstance(entries, list):
        raise MoteError(f"{split_json}: expected a JSON list of {{\"id\", \"template\"}} entries")
    items = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("template"), str) or "id" not in entry:
            raise MoteError(f"{split_json}: entry {n} {str(entry)[:80]!r} has no 'id' or no 'template'")
        name = ssv2_class_name(entry["template"])
        if name not in index:
            raise MoteError(f"{split_json}: entry {n} (id {entry['id']}): template {entry['template']!r} is "
                            f"class {name!r}, which {labels_json} does not list")
        items.append((f"{entry['id']}.{ext}", index[name]))
    return VideoList(Path(root), items, names, f"ssv2 {split_json}")
