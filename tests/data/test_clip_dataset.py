import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from motecli.constants import CLIP_STD
from motecli.data.dataset import ClipDataset, collate_clips
from motecli.data.registry import load_dataset_split
from motecli.data.sampling import eval_indices
from motecli.data.synth import BAD_ENTRIES
from motecli.data.transforms import eval_views
from motecli.data.video import read_frames
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings


@pytest.fixture(scope="module")
def bad_list(synth_dataset):
    return load_dataset_split("synth_bad", 1, "test", config_path=synth_dataset.config)


def test_bad_videos_are_reported_not_dropped(bad_list):
    # Entries: 2 good videos, then BAD_ENTRIES in order; "short" (3 frames) is readable.
    ds = ClipDataset(bad_list, mode="train", num_frames=8)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_clips)
    seen, failures = [], []
    for batch in loader:
        if batch["frames"] is not None:
            assert batch["frames"].shape[1:] == (8, 3, 224, 224)
            assert len(batch["labels"]) == len(batch["frames"])
        seen += batch["indices"].tolist()
        failures += batch["failures"]
    bad_index = {kind: 2 + i for i, kind in enumerate(BAD_ENTRIES)}
    assert sorted(seen) == [0, 1, bad_index["short"]]
    assert sorted(i for i, _, _ in failures) == sorted(bad_index[k] for k in ("zero-byte", "truncated", "not-a-video", "missing"))
    reasons = {i: reason for i, _, reason in failures}
    assert reasons[bad_index["missing"]] == "file not found"
    assert reasons[bad_index["zero-byte"]].startswith("empty file")
    assert all(path.endswith(bad_list.items[i][0]) for i, path, _ in failures)
    assert len(seen) + len(failures) == len(bad_list)  # every video counted exactly once


def test_all_failed_batch(bad_list):
    ds = ClipDataset(bad_list, mode="test")
    batch = collate_clips([ds[2], ds[5]])
    assert batch["frames"] is None and len(batch["failures"]) == 2 and batch["labels"].numel() == 0


def test_test_views_are_clip_major(synth_dataset):
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    ds = ClipDataset(videos, mode="test", num_frames=8, num_clips=3, num_crops=3)
    item = ds[1]
    assert item["frames"].shape == (9, 8, 3, 224, 224) and item["label"] == videos.items[1][1]
    # Independent route: read each clip's frames on their own, crop, compare view clip*3+crop.
    path = str(videos.path(1))
    n = read_frames(path, lambda n: np.arange(n))[2]
    for clip, idx in enumerate(eval_indices(n, num_frames=8, num_clips=3)):
        frames = read_frames(path, lambda _: idx)[0]
        crops = eval_views(frames, num_crops=3)
        for crop in range(3):
            assert torch.equal(item["frames"][clip * 3 + crop], crops[crop])


def test_train_augmentation_varies_by_epoch_and_repeats(synth_dataset):
    videos = load_dataset_split("synth", 1, "train", config_path=synth_dataset.config)
    torch.manual_seed(0)  # fixes torch.initial_seed(), which the item generator mixes in
    ds = ClipDataset(videos, mode="train")
    first = [ds[i]["frames"] for i in range(6)]
    assert all(torch.equal(a, ds[i]["frames"]) for i, a in enumerate(first))
    ds.set_epoch(1)
    # Two small crops of the flat background can coincide, so look at several videos.
    assert not all(torch.equal(a, ds[i]["frames"]) for i, a in enumerate(first))


def grey_levels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| of two normalised clips [..., 3, H, W] in 0-255 grey levels."""
    return ((a - b) * torch.tensor(CLIP_STD).view(3, 1, 1) * 255).abs()


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_store_and_videos_give_the_same_pixels(synth_dataset, tmp_path, fmt):
    """docs/frame-store.md: training clips from a store are the video's pixels (raw: exactly,
    same resize and same random draw; JPEG: mean error under 2 grey levels); test views are
    resized twice from a store (its short side, then 224), mean error under 2 grey levels."""
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    decode_to_store(videos, tmp_path / "s", settings=StoreSettings(shard_size=8, format=fmt), progress=False)
    for mode, kw in (("train", {}), ("test", dict(num_clips=2, num_crops=3))):
        from_video = ClipDataset(videos, mode=mode, **kw)
        from_store = ClipDataset(store=tmp_path / "s", mode=mode, **kw)
        assert len(from_store) == len(from_video)
        for i in (0, 5, len(videos) - 1):
            a, b = from_video[i], from_store[i]
            assert a["frames"].shape == b["frames"].shape and a["label"] == b["label"] and b["error"] is None
            diff = grey_levels(a["frames"], b["frames"])
            if mode == "train" and fmt == "raw":
                assert diff.max() < 1e-3, (i, diff.max())
            else:
                assert diff.mean() < 2.0, (mode, i, diff.mean())
    loader = DataLoader(ClipDataset(store=tmp_path / "s"), batch_size=4, num_workers=2, collate_fn=collate_clips)
    labels = torch.cat([b["labels"] for b in loader])
    assert labels.tolist() == [y for _, y in videos.items]
