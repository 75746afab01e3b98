"""The counts users compare against, on the official annotation files.

HMDB-51 always: the 153 official split files (testTrainMulti_7030_splits) are shipped
in tests/data/real/hmdb51 (sources in tests/data/real/SOURCES.md) and read as a user's
files are, through a dataset TOML and the loader the product uses.

The others are too large to ship; those tests are skipped unless $MOTE_REAL_ANNOTATIONS
names a folder holding the complete official files:

    ucfTrainTestlist/{classInd.txt, trainlist01.txt, testlist01.txt}
    kinetics400/validate.csv   (the release with quoted labels, 19,906 rows)
    ssv2/{something-something-v2-labels.json, something-something-v2-validation.json}
"""

import os
from pathlib import Path

import pytest

from motecli.data.layouts import load_hmdb51, load_kinetics, load_ssv2, load_ucf101
from motecli.data.registry import load_dataset_split
from motecli.textfile import read_labels_file

ROOT = Path(os.environ.get("MOTE_REAL_ANNOTATIONS", "/nonexistent"))
REAL = Path(__file__).resolve().parent / "real"
HMDB_SPLITS = REAL / "hmdb51" / "testTrainMulti_7030_splits"
HMDB_LABELS = REAL / "hmdb51" / "hmdb51_labels.csv"


def _need(*parts: str) -> Path:
    path = ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (set MOTE_REAL_ANNOTATIONS to the official files)")
    return path


def test_ucf101_split1_counts(tmp_path):
    d = _need("ucfTrainTestlist")
    train, test = (load_ucf101(d, tmp_path, split=1, subset=s) for s in ("train", "test"))
    assert (len(train), len(test), len(test.class_names)) == (9537, 3783, 101)
    assert {y for _, y in test.items} == set(range(101))


def _hmdb_config(tmp_path: Path, labels: bool) -> Path:
    """A dataset TOML naming the shipped split folder, as a user's would name theirs."""
    cfg = tmp_path / "datasets.toml"
    extra = f'labels = "{HMDB_LABELS}"\n' if labels else ""
    cfg.write_text(f'[hmdb51]\nlayout = "hmdb51"\nroot = "{tmp_path}"\nsplits_dir = "{HMDB_SPLITS}"\n{extra}')
    return cfg


def test_hmdb51_shipped_files_are_the_official_set():
    files = sorted(p.name for p in HMDB_SPLITS.iterdir())
    classes = [c.strip() for c in (REAL / "hmdb51" / "class_list.txt").read_text().splitlines()]
    assert len(files) == 153 and files == sorted(f"{c}_test_split{s}.txt" for c in classes for s in (1, 2, 3))


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_counts_and_class_ids(tmp_path, split):
    cfg = _hmdb_config(tmp_path, labels=False)
    train, test = (load_dataset_split("hmdb51", split, s, config_path=cfg) for s in ("train", "test"))
    assert (len(train), len(test)) == (3570, 1530)
    assert len(test.class_names) == 51 and train.class_names == test.class_names
    # Ids in the release's order (hmdb51_labels.csv): a base class before its extensions.
    assert test.class_names == read_labels_file(HMDB_LABELS)
    ids = {name: i for i, name in enumerate(test.class_names)}
    assert (ids["climb"], ids["climb stairs"], ids["kick"], ids["kick ball"], ids["sword"], ids["sword exercise"]) == (
        5, 6, 20, 21, 44, 45)
    for videos in (train, test):
        assert {y for _, y in videos.items} == set(range(51))
        assert all(test.class_names[y] == rel.split("/")[0].replace("_", " ") for rel, y in videos.items)
    per_class = [sum(1 for _, y in test.items if y == c) for c in range(51)]
    assert per_class == [30] * 51 and not {r for r, _ in train.items} & {r for r, _ in test.items}


def test_hmdb51_release_labels_file_accepted_on_the_official_files(tmp_path):
    cfg = _hmdb_config(tmp_path, labels=True)
    videos = load_dataset_split("hmdb51", 2, "test", config_path=cfg)
    plain = load_hmdb51(HMDB_SPLITS, tmp_path, split=2, subset="test")
    assert videos.items == plain.items and videos.class_names == read_labels_file(HMDB_LABELS)


def test_k400_val_rows(tmp_path):
    csv = _need("kinetics400", "validate.csv")
    videos = load_kinetics(csv, tmp_path, class_csvs=[csv])
    assert (len(videos), len(videos.class_names)) == (19906, 400)


def test_ssv2_validation(tmp_path):
    d = _need("ssv2")
    videos = load_ssv2(d / "something-something-v2-labels.json", d / "something-something-v2-validation.json", tmp_path)
    assert (len(videos), len(videos.class_names)) == (24777, 174)
