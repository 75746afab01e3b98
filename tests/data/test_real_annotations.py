"""The dataset parsers on verbatim copies and excerpts of the real annotation files
(tests/data/real, sources in its SOURCES.md): class orders, ids, counts, folder names."""

import json
import shutil
from pathlib import Path

import pytest

from motecli.data.k600 import k600_zeroshot_classes, load_k600_zeroshot
from motecli.data.layouts import (
    load_hmdb51, load_kinetics, load_ssv2, load_ucf101, load_video_list, read_list_file, ssv2_class_names,
)
from motecli.data.registry import load_dataset_split, load_entry
from motecli.errors import MoteError
from motecli.textfile import read_labels_file

REAL = Path(__file__).resolve().parent / "real"


# --- UCF-101 ---------------------------------------------------------------------------------


@pytest.fixture
def ucf_splits(tmp_path):
    d = tmp_path / "ucfTrainTestlist"
    d.mkdir()
    shutil.copy(REAL / "ucf101" / "classInd.txt", d / "classInd.txt")
    shutil.copy(REAL / "ucf101" / "testlist01_excerpt.txt", d / "testlist01.txt")
    # The official lists' folder for classInd's `HandStandPushups` (a fact of UCF-101).
    (d / "trainlist01.txt").write_text("HandstandPushups/v_HandStandPushups_g08_c01.avi 37\n"
                                       "YoYo/v_YoYo_g25_c05.avi 101\n")
    return d


def test_ucf_classind_order_and_names(ucf_splits, tmp_path):
    videos = load_ucf101(ucf_splits, tmp_path, split=1, subset="test")
    class_ind = [line.split()[1] for line in (REAL / "ucf101" / "classInd.txt").read_text().splitlines()]
    assert len(videos.class_names) == len(class_ind) == 101
    assert videos.class_names[0] == "apply eye makeup" and videos.class_names[100] == "yo yo"
    assert videos.class_names[34:36] == ["hammering", "hammer throw"]  # classInd order, not sorted()
    # This copy of testlist01 appends the 1-based class id: the parser's label is that id - 1.
    lines = (REAL / "ucf101" / "testlist01_excerpt.txt").read_text().splitlines()
    assert videos.items == [(line.split()[0], int(line.split()[1]) - 1) for line in lines]


def test_ucf_handstand_pushups_folder_matches_classind(ucf_splits, tmp_path):
    videos = load_ucf101(ucf_splits, tmp_path, split=1, subset="train")
    assert videos.items == [("HandstandPushups/v_HandStandPushups_g08_c01.avi", 36), ("YoYo/v_YoYo_g25_c05.avi", 100)]
    assert videos.class_names[36] == "handstand pushups"


def test_ucf_release_labels_override_keeps_ids(ucf_splits, tmp_path):
    release = read_labels_file(REAL / "ucf101" / "ucf_labels.csv")  # CRLF, as published
    assert len(release) == 101 and release[36] == "Handstand Pushups"
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[ucf]\nlayout = "ucf101"\nroot = "{tmp_path}"\nsplits_dir = "{ucf_splits}"\n'
                   f'labels = "{REAL / "ucf101" / "ucf_labels.csv"}"\n')
    videos = load_dataset_split("ucf", 1, "test", config_path=cfg)
    plain = load_ucf101(ucf_splits, tmp_path, split=1, subset="test")
    assert videos.items == plain.items and videos.class_names == release


# --- HMDB-51 ---------------------------------------------------------------------------------

HMDB_SPLITS = REAL / "hmdb51" / "testTrainMulti_7030_splits"  # the 153 official split files
HMDB_CLASSES = [c.strip() for c in (REAL / "hmdb51" / "class_list.txt").read_text().splitlines()]


def _hmdb_tree(d: Path, order=HMDB_CLASSES) -> Path:
    """A copy of the official split files, written class by class in `order`."""
    d.mkdir(parents=True, exist_ok=True)
    for c in order:
        for split in (1, 2, 3):
            shutil.copy(HMDB_SPLITS / f"{c}_test_split{split}.txt", d / f"{c}_test_split{split}.txt")
    return d


def test_hmdb_class_order_is_the_releases(tmp_path):
    videos = load_hmdb51(_hmdb_tree(tmp_path / "s"), tmp_path, split=1, subset="test")
    release = read_labels_file(REAL / "hmdb51" / "hmdb51_labels.csv")
    assert len(HMDB_CLASSES) == 51 and videos.class_names == release
    assert videos.class_names[5:7] == ["climb", "climb stairs"]


def test_hmdb_real_files_counts(tmp_path):
    splits = _hmdb_tree(tmp_path / "s")
    for subset, code, expected in (("train", "1", 70), ("test", "2", 30)):
        videos = load_hmdb51(splits, tmp_path, split=1, subset=subset)
        for folder, label in (("climb", 5), ("climb_stairs", 6)):
            real = [line.split() for line in (HMDB_SPLITS / f"{folder}_test_split1.txt").read_text().splitlines()]
            want = [(f"{folder}/{name}", label) for name, c in real if c == code]
            assert len(want) == expected
            assert [it for it in videos.items if it[1] == label] == want


def test_hmdb_listing_order_does_not_change_ids(tmp_path, monkeypatch):
    reference = load_hmdb51(_hmdb_tree(tmp_path / "a"), tmp_path, split=1, subset="test")
    other = _hmdb_tree(tmp_path / "b", order=list(reversed(HMDB_CLASSES)))
    original_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: reversed(list(original_glob(self, pattern))))
    videos = load_hmdb51(other, tmp_path, split=1, subset="test")
    assert videos.items == reference.items and videos.class_names == reference.class_names


def test_hmdb_missing_split_file_is_an_error_naming_it(tmp_path):
    splits = _hmdb_tree(tmp_path / "s")
    (splits / "kick_ball_test_split2.txt").unlink()
    with pytest.raises(MoteError, match=r"kick_ball_test_split2\.txt: missing"):
        load_hmdb51(splits, tmp_path, split=2, subset="test")
    assert len(load_hmdb51(splits, tmp_path, split=1, subset="test").class_names) == 51


def test_hmdb_release_list_ids_match_the_parser(tmp_path):
    parsed = load_hmdb51(_hmdb_tree(tmp_path / "s"), tmp_path, split=2, subset="test")
    release = load_video_list(REAL / "hmdb51" / "release_vallist_split2_excerpt.txt",
                              REAL / "hmdb51" / "hmdb51_labels.csv", tmp_path)
    names = [n.replace(" ", "_") for n in parsed.class_names]
    assert all(names.index(rel.split("/")[0]) == label for rel, label in release.items)
    assert release.class_names == parsed.class_names


def test_labels_file_in_another_order_is_refused(tmp_path):
    splits = _hmdb_tree(tmp_path / "s")
    names = read_labels_file(REAL / "hmdb51" / "hmdb51_labels.csv")
    names[5], names[6] = names[6], names[5]  # the order sorting the split file names gave
    (tmp_path / "swapped.txt").write_text("\n".join(names))
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[h]\nlayout = "hmdb51"\nroot = "{tmp_path}"\nsplits_dir = "{splits}"\nlabels = "swapped.txt"\n')
    with pytest.raises(MoteError, match=r"swapped.txt: same classes in another order \(class 5 is 'climb stairs'"):
        load_dataset_split("h", 1, "test", config_path=cfg)


# --- Kinetics ---------------------------------------------------------------------------------


def _release_tree(root: Path, list_file: Path) -> list[tuple[str, int]]:
    """Folders and (empty) video files named as a release list names them."""
    items = read_list_file(list_file)
    for rel, _ in items:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return items


def test_k400_csv_finds_the_release_folder_names(tmp_path):
    release = dict(_release_tree(tmp_path, REAL / "kinetics" / "k400_vallist_excerpt.txt"))
    csv = REAL / "kinetics" / "k400_validate_excerpt.csv"
    videos = load_kinetics(csv, tmp_path, class_csvs=[csv])
    located = [rel for rel, _ in videos.items if rel in release]
    assert "passing_American_football_in_game/-HxBTALkZT4_000000_000010.mp4" in located
    assert len(located) == 5  # air drumming, milking cow, massaging legs, parkour, passing football
    assert "passing American football (in game)" in videos.class_names


def test_kinetics_quoted_labels(tmp_path):
    csv = REAL / "kinetics" / "k400_quoted_excerpt.csv"
    videos = load_kinetics(csv, tmp_path, class_csvs=[csv])
    assert videos.class_names == ["abseiling", "air drumming"]
    assert videos.items[1] == ("air_drumming/_dbcJuKJQNs_000040_000050.mp4", 1)


def test_k600_zeroshot_from_the_crawler_csv(tmp_path):
    release = dict(_release_tree(tmp_path, REAL / "kinetics" / "k160_test_split1_excerpt.txt"))
    csv = REAL / "kinetics" / "kinetics-600_val_excerpt.csv"
    videos = load_k600_zeroshot(tmp_path, split=1, csv_file=csv)
    rows = [line.split(",")[0] for line in csv.read_text().splitlines()[1:]]
    assert len(videos) == rows.count("acting in play") + rows.count("adjusting glasses") == 12
    assert {label for _, label in videos.items} == {0, 1}
    both = [(rel, label) for rel, label in videos.items if rel in release]
    assert len(both) == 9 and all(release[rel] == label for rel, label in both)
    split3 = load_k600_zeroshot(tmp_path, split=3, csv_file=csv)  # alligator wrestling is in split 3 only
    assert sorted({split3.class_names[y] for _, y in split3.items}) == ["adjusting glasses", "alligator wrestling"]


def test_k600_release_list_labels_are_checked(tmp_path):
    listed = REAL / "kinetics" / "k160_test_split1_excerpt.txt"
    videos = load_k600_zeroshot(tmp_path, split=1, list_file=listed)
    assert videos.items == read_list_file(listed) and len(videos.class_names) == 160
    assert videos.class_names[4] == "backflip (human)"
    with pytest.raises(MoteError, match=r"'arguing' is class 1 .* of zero-shot split 2"):
        load_k600_zeroshot(tmp_path, split=2, list_file=listed)


def test_k600_shipped_splits(tmp_path):
    splits = [k600_zeroshot_classes(s) for s in (1, 2, 3)]
    assert [len(set(s)) for s in splits] == [160, 160, 160]
    assert all(s == sorted(s) for s in splits)  # the release's ids follow the alphabetical order
    # Ids the release's split-1 list gives its class folders (k160_test_split1_excerpt.txt) ...
    folders = {rel.split("/")[0]: y for rel, y in read_list_file(REAL / "kinetics" / "k160_test_split1_excerpt.txt")}
    assert {splits[0][y].replace(" ", "_"): y for y in folders.values()} == folders
    # ... and facts of ViFi-CLIP's split 2 and 3 files.
    assert (splits[1][2], splits[1][159], splits[2][1], splits[2][159]) == (
        "assembling bicycle", "winking", "alligator wrestling", "wood burning (art)")
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[k600]\nlayout = "k600_zeroshot"\nroot = "{tmp_path}"\n'
                   f'csv = "{REAL / "kinetics" / "kinetics-600_val_excerpt.csv"}"\n')
    assert load_entry("k600", cfg).num_splits() == 3
    for s in (1, 2, 3):
        videos = load_dataset_split("k600", s, "test", config_path=cfg)
        assert videos.class_names == splits[s - 1] and len(videos) > 0
    with pytest.raises(MoteError, match="test videos only"):
        load_dataset_split("k600", 1, "train", config_path=cfg)


# --- Something-Something v2 -------------------------------------------------------------------

# Templates as the SSv2 JSON files write them, every placeholder kind, with the class
# (ViFi-CLIP's ssv2_labels.csv name) each belongs to.
SSV2_TEMPLATES = {
    "Moving [part] of [something]": "Moving part of something",
    "Poking a hole into [some substance]": "Poking a hole into some substance",
    "Poking a hole into [something soft]": "Poking a hole into something soft",
    "Pretending to be tearing [something that is not tearable]": "Pretending to be tearing something that is not tearable",
    "Pretending to take [something] from [somewhere]": "Pretending to take something from somewhere",
    "Putting [number of] [something] onto [something]": "Putting number of something onto something",
    "Putting [something similar to other things that are already on the table]":
        "Putting something similar to other things that are already on the table",
    "Putting [something that cannot actually stand upright] upright on the table, so it falls on its side":
        "Putting something that cannot actually stand upright upright on the table, so it falls on its side",
    "Putting [something] onto [something else that cannot support it] so it falls down":
        "Putting something onto something else that cannot support it so it falls down",
    "Stacking [number of] [something]": "Stacking number of something",
    "Taking [one of many similar things on the table]": "Taking one of many similar things on the table",
    "Tipping [something] with [something in it] over, so [something in it] falls out":
        "Tipping something with something in it over, so something in it falls out",
    "Touching (without moving) [part] of [something]": "Touching (without moving) part of something",
    "Trying to bend [something unbendable] so nothing happens": "Trying to bend something unbendable so nothing happens",
    "[Something] falling like a rock": "Something falling like a rock",
    "[Something] colliding with [something] and both come to a halt":
        "Something colliding with something and both come to a halt",
    "Holding [something] next to [something]": "Holding something next to something",
    "Putting [something], [something] and [something] on the table": "Putting something, something and something on the table",
}


@pytest.fixture
def ssv2_labels_json(tmp_path):
    names = read_labels_file(REAL / "ssv2" / "ssv2_labels.csv")
    path = tmp_path / "something-something-v2-labels.json"
    path.write_text(json.dumps({n: str(i) for i, n in enumerate(names)}, indent=1))
    return path, names


def test_ssv2_every_placeholder_kind_maps_to_its_template(ssv2_labels_json, tmp_path):
    labels, names = ssv2_labels_json
    assert len(ssv2_class_names(labels)) == 174
    entries = [dict(id=str(1000 + i), label="x", template=t, placeholders=["x"]) for i, t in enumerate(SSV2_TEMPLATES)]
    (tmp_path / "validation.json").write_text(json.dumps(entries))
    videos = load_ssv2(labels, tmp_path / "validation.json", tmp_path)
    assert videos.items == [(f"{1000 + i}.webm", names.index(c)) for i, c in enumerate(SSV2_TEMPLATES.values())]
    assert videos.class_names == names


def test_ssv2_unknown_template_names_entry_and_class(ssv2_labels_json, tmp_path):
    labels, _ = ssv2_labels_json
    (tmp_path / "v.json").write_text(json.dumps([dict(id="7", template="Juggling [something]")]))
    with pytest.raises(MoteError, match=r"entry 0 \(id 7\): template 'Juggling \[something\]' is class 'Juggling something'"):
        load_ssv2(labels, tmp_path / "v.json", tmp_path)


# --- frame lists ------------------------------------------------------------------------------


def test_three_column_frame_list(tmp_path):
    (tmp_path / "l.txt").write_text("abseiling/0wR5jVB-WPk_000417_000427 300 0\nair drumming/x 250 1\n")
    assert read_list_file(tmp_path / "l.txt") == [("abseiling/0wR5jVB-WPk_000417_000427", 0), ("air drumming/x", 1)]
    (tmp_path / "m.txt").write_text("a/b 300 0\na/c 1\n")
    with pytest.raises(MoteError, match=r"m.txt:2: expected 'relative/path NUM_FRAMES LABEL'"):
        read_list_file(tmp_path / "m.txt")
