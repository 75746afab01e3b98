"""Something-Something v2 training: the flip swaps the labels of exactly the three left/right
pairs, found by name in the user's class names (method section 3)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from motecli.constants import CLIP_MEAN, CLIP_STD
from motecli.data.dataset import ClipDataset
from motecli.data.layouts import VideoList
from motecli.data.transforms import flip_label_swaps
from motecli.errors import MoteError
from motecli.textfile import read_labels_file
from motecli.train.data import build_train_data
from motecli.train.recipe import DataSection, recipe_from_dict

# The synthetic SSv2 layout has 8 classes; these names put the three pairs at shuffled places.
NAMES = [
    "Pushing something from right to left",  # 0 <-> 6
    "Holding something",
    "Pulling something from left to right",  # 2 <-> 4
    "Turning the camera right while filming something",  # 3 <-> 5
    "Pulling [something] from right to left",  # brackets and case as some label files write them
    "turning the camera left while filming something",
    "Pushing something from left to right",
    "Moving something up",
]
SWAPS = {0: 6, 6: 0, 2: 4, 4: 2, 3: 5, 5: 3}


def test_the_real_ssv2_labels_give_the_release_ids():
    # The 174 public SSv2 class names in the official id order (tests/data/real/SOURCES.md):
    # the names give exactly the ids the release hard-codes (86/87, 93/94, 166/167).
    names = read_labels_file(Path(__file__).parent / "real" / "ssv2" / "ssv2_labels.csv")
    assert len(names) == 174
    assert flip_label_swaps(names, origin="ssv2_labels.csv") == {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}


def test_pairs_are_found_by_name():
    assert flip_label_swaps(NAMES, origin="labels.csv") == SWAPS
    with pytest.raises(MoteError, match="'Pushing something from left to right' is 2 times in"):
        flip_label_swaps(NAMES[:1] + [NAMES[6].upper()] + NAMES[2:], origin="labels.csv")


@pytest.mark.parametrize("drop", [2, 5])
def test_a_missing_pair_is_refused(drop):
    names = NAMES[:drop] + ["Something else"] + NAMES[drop + 1:]
    with pytest.raises(MoteError, match=r"labels\.csv: the SSv2 flip .* is not among the 8 class names"):
        flip_label_swaps(names, origin="labels.csv")


def _ramp_clip(height=240, width=427, frames=4) -> np.ndarray:
    """Red rises from left to right, green constant: a flip reverses the ramp, grayscale
    would make green follow red."""
    red = np.linspace(10, 245, width).round().astype(np.uint8)
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = red, 128, 40
    return np.stack([img] * frames)


def test_flip_swaps_exactly_the_named_pairs(monkeypatch, tmp_path):
    videos = VideoList(tmp_path, [(f"{i}.webm", i % 8) for i in range(24)], NAMES, "ssv2 test")
    monkeypatch.setattr(ClipDataset, "_read", lambda self, index, rng: (_ramp_clip(), "store", None))
    ds = ClipDataset(videos, mode="train", num_frames=4, ssv2=True)
    mean, std = torch.tensor(CLIP_MEAN).view(3, 1, 1), torch.tensor(CLIP_STD).view(3, 1, 1)
    flipped = swapped = 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(videos)):
            item = ds[i]
            px = (item["frames"][0] * std + mean) * 255  # [3, 224, 224]
            assert (px[1] - px[2]).abs().min() > 50  # never grayscale under SSv2 (green 128, blue 40)
            is_flipped = bool(px[0, :, :8].mean() > px[0, :, -8:].mean())
            orig = videos.items[i][1]
            assert item["label"] == (SWAPS.get(orig, orig) if is_flipped else orig)
            flipped += is_flipped
            swapped += item["label"] != orig
    assert 20 <= flipped <= 52 and swapped > 0  # 72 clips, p = 0.5; 54 of them in a pair


def test_without_ssv2_or_flip_labels_never_change(monkeypatch, tmp_path):
    videos = VideoList(tmp_path, [(f"{i}.webm", i % 8) for i in range(16)], NAMES, "ssv2 test")
    monkeypatch.setattr(ClipDataset, "_read", lambda self, index, rng: (_ramp_clip(), "store", None))
    for kw in (dict(ssv2=False), dict(ssv2=True, flip=False)):
        ds = ClipDataset(videos, mode="train", num_frames=4, **kw)
        assert [ds[i]["label"] for i in range(16)] == [y for _, y in videos.items]


def test_training_recipe_turns_ssv2_on_for_the_layout(synth_dataset, tmp_path):
    config = str(synth_dataset.config)
    # The synthetic SSv2 classes are "Moving something left" etc.: the pairs are missing.
    with pytest.raises(MoteError, match="'Pulling something from left to right' is not among the 4 class names"):
        build_train_data(DataSection(dataset="synth_ssv2", datasets_config=config), num_frames=8, seed=0)
    no_flip = build_train_data(DataSection(dataset="synth_ssv2", datasets_config=config, flip=False), num_frames=8, seed=0)
    assert no_flip.train.fixed_size == (256, 320) and not no_flip.train.grayscale and no_flip.train.flip_swaps == {}
    plain = build_train_data(DataSection(dataset="synth_ssv2", datasets_config=config, ssv2=False), num_frames=8, seed=0)
    assert plain.train.flip_swaps == {} and plain.train.fixed_size is None and plain.train.grayscale


def test_training_recipe_ssv2_with_a_labels_file(synth_dataset, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(NAMES) + "\n")
    lists = synth_dataset.root / "lists"
    data = DataSection(list_file=str(lists / "train1.txt"), labels_file=str(labels), root=str(synth_dataset.root / "videos"),
                       ssv2=True, crop="torchvision")
    train = build_train_data(data, num_frames=8, seed=0).train
    assert train.flip_swaps == SWAPS and train.fixed_size == (256, 320) and not train.grayscale
    assert train.crop == "torchvision"
    assert build_train_data(DataSection(list_file=data.list_file, labels_file=data.labels_file, root=data.root),
                            num_frames=8, seed=0).train.fixed_size is None  # a list is not SSv2 unless said so


def test_recipe_checks_the_crop_name():
    table = dict(model=dict(name="mote-tiny"), data=dict(synthetic=True, crop="inception"),
                 solver=dict(epochs=1, warmup_epochs=0, total_batch=2), run=dict(output="x"))
    with pytest.raises(MoteError, match="data.crop: expected one of release, torchvision, got 'inception'"):
        recipe_from_dict(table)
    table["data"]["crop"] = "torchvision"
    assert recipe_from_dict(table).data.crop == "torchvision"
