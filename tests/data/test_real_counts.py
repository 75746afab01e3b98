"""The counts users compare against, on the complete official files. Skipped unless
$MOTE_REAL_ANNOTATIONS names a folder holding them (they are too large to ship):

    ucfTrainTestlist/{classInd.txt, trainlist01.txt, testlist01.txt}
    testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt
    kinetics400/validate.csv   (the release with quoted labels, 19,906 rows)
    ssv2/{something-something-v2-labels.json, something-something-v2-validation.json}
"""

import os
from pathlib import Path

import pytest

from motecli.data.layouts import load_hmdb51, load_kinetics, load_ssv2, load_ucf101
from motecli.textfile import read_labels_file

ROOT = Path(os.environ.get("MOTE_REAL_ANNOTATIONS", "/nonexistent"))
REAL = Path(__file__).resolve().parent / "real"


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


def test_hmdb51_counts_every_split(tmp_path):
    d = _need("testTrainMulti_7030_splits")
    for split in (1, 2, 3):
        train, test = (load_hmdb51(d, tmp_path, split=split, subset=s) for s in ("train", "test"))
        assert (len(train), len(test)) == (3570, 1530)
        assert test.class_names == read_labels_file(REAL / "hmdb51" / "hmdb51_labels.csv")


def test_k400_val_rows(tmp_path):
    csv = _need("kinetics400", "validate.csv")
    videos = load_kinetics(csv, tmp_path, class_csvs=[csv])
    assert (len(videos), len(videos.class_names)) == (19906, 400)


def test_ssv2_validation(tmp_path):
    d = _need("ssv2")
    videos = load_ssv2(d / "something-something-v2-labels.json", d / "something-something-v2-validation.json", tmp_path)
    assert (len(videos), len(videos.class_names)) == (24777, 174)
