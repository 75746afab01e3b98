import os
from pathlib import Path

import pytest

from motecli.data.layouts import camel_to_words, load_kinetics, underscores_to_words
from motecli.textfile import read_labels_file
from motecli.data.registry import load_dataset_split, store_path
from motecli.data.synth import DIRECTIONS
from motecli.errors import MoteError


def _real(path: Path) -> str:
    return os.path.realpath(path)


SHARED_TREE = [(name, split, subset) for name, splits in (("synth", 3), ("synth_hmdb", 3), ("synth_kinetics", 1))
               for split in range(1, splits + 1) for subset in ("train", "test")]


@pytest.mark.parametrize("name,split,subset", SHARED_TREE)
def test_layouts_sharing_the_video_tree(synth_dataset, name, split, subset):
    videos = load_dataset_split(name, split, subset, config_path=synth_dataset.config)
    truth = synth_dataset.items(split, subset)
    assert sorted(videos.items) == sorted(truth)
    assert videos.class_names == synth_dataset.class_names
    assert all(videos.path(i).is_file() for i in range(len(videos)))


@pytest.mark.parametrize("split", [1, 2, 3])
@pytest.mark.parametrize("subset", ["train", "test"])
def test_ucf_layout(synth_dataset, split, subset):
    videos = load_dataset_split("synth_ucf", split, subset, config_path=synth_dataset.config)
    got = sorted((_real(videos.path(i)), y) for i, (_, y) in enumerate(videos.items))
    want = sorted((_real(synth_dataset.root / "videos" / p), y) for p, y in synth_dataset.items(split, subset))
    assert got == want
    assert videos.class_names == synth_dataset.class_names  # CamelCase folders back to words


def test_ssv2_layout(synth_dataset):
    videos = load_dataset_split("synth_ssv2", 1, "test", config_path=synth_dataset.config)
    assert videos.class_names == [f"Moving something {d}" for d in DIRECTIONS]
    truth = {_real(synth_dataset.root / "videos" / p): synth_dataset.class_names[y].split()[-1]
             for p, y in synth_dataset.items(1, "test")}
    got = {_real(videos.path(i)): DIRECTIONS[y] for i, (_, y) in enumerate(videos.items)}
    assert got == truth


@pytest.mark.parametrize("name,expected", [
    ("ApplyEyeMakeup", "apply eye makeup"), ("YoYo", "yo yo"), ("TaiChi", "tai chi"),
    ("HandstandPushups", "handstand pushups"), ("Skijet", "skijet"), ("PlayingDaf", "playing daf"),
])
def test_camel_to_words(name, expected):
    assert camel_to_words(name) == expected


def test_underscores_to_words():
    assert underscores_to_words("brush_hair") == "brush hair"
    assert underscores_to_words("climb_stairs") == "climb stairs"


def test_labels_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("run fast\njump\n\n")
    assert read_labels_file(tmp_path / "a.txt") == ["run fast", "jump"]
    (tmp_path / "b.csv").write_text('id,name\n1,jump\n0,"run, fast"\n')
    assert read_labels_file(tmp_path / "b.csv") == ["run, fast", "jump"]


@pytest.mark.parametrize("text,needle", [
    ("", "empty"), ("a\nb\na\n", "duplicate"), ("id,name\n0,a\n2,b\n", "0..1"), ("id,name\nx,a\n", "id,name"),
])
def test_labels_file_errors(tmp_path, text, needle):
    (tmp_path / "l.txt").write_text(text)
    with pytest.raises(MoteError, match=needle):
        read_labels_file(tmp_path / "l.txt")
    with pytest.raises(MoteError, match="no such file"):
        read_labels_file(tmp_path / "absent.txt")


def test_labels_override_and_provenance(synth_dataset, tmp_path):
    names = [f"class {i}" for i in range(len(synth_dataset.class_names))]
    (tmp_path / "names.txt").write_text("\n".join(names))
    config = tmp_path / "d.toml"
    config.write_text(
        f'[u]\nlayout = "ucf101"\nroot = "{synth_dataset.root}/ucf/videos"\n'
        f'splits_dir = "{synth_dataset.root}/ucf/ucfTrainTestlist"\nlabels = "names.txt"\n'
    )
    videos = load_dataset_split("u", 2, "train", config_path=config)
    assert videos.class_names == names
    assert "names.txt" in videos.source and "split 2 train" in videos.source
    reference = load_dataset_split("synth_ucf", 2, "train", config_path=synth_dataset.config)
    assert videos.fingerprint() == reference.fingerprint()  # names do not change the fingerprint


def test_fingerprint_depends_on_paths_and_labels(synth_dataset):
    a = load_dataset_split("synth", 1, "train", config_path=synth_dataset.config)
    b = load_dataset_split("synth_hmdb", 1, "train", config_path=synth_dataset.config)
    assert len(a.fingerprint()) == 64
    assert sorted(a.items) == sorted(b.items)
    relabelled = type(a)(a.root, [(p, (y + 1) % 8) for p, y in a.items], a.class_names, "x")
    assert relabelled.fingerprint() != a.fingerprint()
    moved = type(a)(Path("/elsewhere"), a.items, a.class_names, "y")
    assert moved.fingerprint() == a.fingerprint()


def test_kinetics_folder_spaces_or_underscores(tmp_path):
    (tmp_path / "v" / "blow nose").mkdir(parents=True)
    (tmp_path / "v" / "tying_tie").mkdir(parents=True)
    (tmp_path / "v" / "blow nose" / "abcdefghijk_000004_000014.mkv").write_bytes(b"x")
    (tmp_path / "a.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "tying tie,zzzzzzzzzzz,10,20,val,0\nblow nose,abcdefghijk,4,14,val,0\n"
    )
    videos = load_kinetics(tmp_path / "a.csv", tmp_path / "v", class_csvs=[tmp_path / "a.csv"])
    assert videos.class_names == ["blow nose", "tying tie"]
    assert videos.items == [("tying_tie/zzzzzzzzzzz_000010_000020.mp4", 1), ("blow nose/abcdefghijk_000004_000014.mkv", 0)]


def _config(tmp_path, body: str) -> Path:
    path = tmp_path / "datasets.toml"
    path.write_text(body)
    return path


def test_config_errors_name_file_and_key(synth_dataset, tmp_path):
    with pytest.raises(MoteError, match=r"unknown dataset 'nope'"):
        load_dataset_split("nope", 1, "test", config_path=synth_dataset.config)
    with pytest.raises(MoteError, match=r"splits 1..3, not 4"):
        load_dataset_split("synth_ucf", 4, "test", config_path=synth_dataset.config)
    with pytest.raises(MoteError, match=r"\[synth\] test: split 4 out of range 1..3"):
        load_dataset_split("synth", 4, "test", config_path=synth_dataset.config)
    with pytest.raises(MoteError, match=r"\[synth_bad\] train is missing"):
        load_dataset_split("synth_bad", 1, "train", config_path=synth_dataset.config)
    cfg = _config(tmp_path, f'[h]\nlayout = "hmdb51"\nroot = "{synth_dataset.root}"\n')
    with pytest.raises(MoteError, match=r"datasets.toml: \[h\] splits_dir is missing"):
        load_dataset_split("h", 1, "test", config_path=cfg)
    cfg = _config(tmp_path, f'[k]\nlayout = "kinetics"\nroot = "{synth_dataset.root}"\ntest_csv = "gone.csv"\n')
    with pytest.raises(MoteError, match=r"\[k\] test_csv = .*gone.csv' does not exist"):
        load_dataset_split("k", 1, "test", config_path=cfg)
    cfg = _config(tmp_path, '[x]\nlayout = "youtube"\n')
    with pytest.raises(MoteError, match=r"layout = 'youtube'"):
        load_dataset_split("x", 1, "test", config_path=cfg)
    with pytest.raises(MoteError, match="dataset config not found"):
        load_dataset_split("x", 1, "test", config_path=tmp_path / "none.toml")


def test_list_label_out_of_range(tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "list.txt").write_text("x.mp4 0\ny.mp4 2\n")
    cfg = _config(tmp_path, '[l]\nlayout = "list"\nroot = "."\ntest = "list.txt"\nlabels = "labels.txt"\n')
    with pytest.raises(MoteError, match=r"list.txt:2: label 2 outside 0..1"):
        load_dataset_split("l", 1, "test", config_path=cfg)


def test_store_path(synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "c"))
    assert store_path("synth", 2, "test", config_path=synth_dataset.config) == tmp_path / "c" / "frames" / "synth-split2-test"
    cfg = _config(tmp_path, '[l]\nlayout = "list"\nroot = "."\ntest = "x"\nlabels = "y"\nframe_store = "fs"\n')
    assert store_path("l", 1, "train", config_path=cfg) == tmp_path / "fs" / "split1-train"
