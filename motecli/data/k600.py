"""Kinetics-600 zero-shot: the three 160-class splits shipped with the package.

The splits (class names and ids) are in `motecli/assets/k600_zeroshot/` (see its
README for the source). A user brings only the videos and either a Kinetics-600
CSV with labels (the rows of other classes are left out) or, per split, a list in
the release's `path LABEL` form (`lists/k600_test/k160_test_splitN.txt`), whose
labels are checked against the class folder of each line.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MoteError
from ..textfile import read_labels_file
from .layouts import FolderIndex, VideoList, folder_key, kinetics_stem, read_kinetics_csv, read_list_file

K600_ZS_SPLITS = 3
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "k600_zeroshot"


def k600_zeroshot_classes(split: int) -> list[str]:
    """The 160 class names of zero-shot split `split` (1-based), in the ids' order."""
    if not 1 <= split <= K600_ZS_SPLITS:
        raise MoteError(f"Kinetics-600 zero-shot has splits 1..{K600_ZS_SPLITS}, not {split}")
    return read_labels_file(ASSETS / f"split{split}.csv")


def _from_csv(csv_file: Path, root: Path, names: list[str], ext: str) -> list[tuple[str, int]]:
    index = {folder_key(n): i for i, n in enumerate(names)}
    folders = FolderIndex(root, ext)
    items = []
    for row_no, row in enumerate(read_kinetics_csv(csv_file), start=2):
        label = index.get(folder_key(row["label"]))
        if label is not None:
            items.append((folders.locate(row["label"], kinetics_stem(row, where=f"{csv_file}:{row_no}")), label))
    return items


def _from_list(list_file: Path, names: list[str], split: int) -> list[tuple[str, int]]:
    """The release's per-split list; a line whose folder names a class of this split must
    carry that class's id (catches a list of another split, or another class order)."""
    index = {folder_key(n): i for i, n in enumerate(names)}
    items = read_list_file(list_file, num_classes=len(names))
    for line_no, (rel, label) in enumerate(items, start=1):
        folder = rel.split("/")[0] if "/" in rel else None
        expected = index.get(folder_key(folder)) if folder else None
        if expected is not None and expected != label:
            raise MoteError(f"{list_file}: line {line_no} ({rel}) has label {label}, but {folder!r} is class "
                            f"{expected} ({names[expected]!r}) of zero-shot split {split}; is it another split's list?")
    return items


def load_k600_zeroshot(
    root: str | os.PathLike,
    *,
    split: int,
    csv_file: str | os.PathLike | None = None,
    list_file: str | os.PathLike | None = None,
    ext: str = "mp4",
) -> VideoList:
    """The test videos of zero-shot split `split` from a Kinetics-600 CSV or a list."""
    names = k600_zeroshot_classes(split)
    root = Path(root)
    if (csv_file is None) == (list_file is None):
        raise MoteError("Kinetics-600 zero-shot needs a CSV with labels or a list per split (one of the two)")
    if csv_file is not None:
        items = _from_csv(Path(csv_file), root, names, ext)
        if not items:
            raise MoteError(f"{csv_file}: no rows of the classes of Kinetics-600 zero-shot split {split}")
        source = f"k600 zero-shot split {split} from {csv_file}"
    else:
        items = _from_list(Path(list_file), names, split)
        source = f"k600 zero-shot split {split} from {list_file}"
    return VideoList(root, items, names, source)
