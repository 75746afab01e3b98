"""A frame store that was damaged, or whose videos changed on disk after `mote decode`:
a re-run of `mote decode` re-decodes exactly those shards, and every reader names the
file instead of failing inside HDF5 or reading stale frames."""

import os
import shutil

import numpy as np
import pytest
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app
from motecli.data.layouts import load_video_list
from motecli.data.store import FrameStore, shard_name
from motecli.data.synth import make_synthetic_dataset
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings
from motecli.errors import MoteError

SETTINGS = StoreSettings(short_side=32, max_frames=6, format="raw", shard_size=2)


@pytest.fixture(scope="module")
def videos_dir(tmp_path_factory):
    """Six small videos (three shards of two) and a list naming all of them."""
    ds = make_synthetic_dataset(tmp_path_factory.mktemp("v"), videos_per_class=3, shapes=("square",),
                                directions=("left", "right"), frames_range=(8, 12), height=48, width=64)
    (ds.root / "all.txt").write_text("".join(f"{v.rel} {v.label}\n" for v in ds.videos))
    return ds.root


@pytest.fixture
def copy(videos_dir, tmp_path):
    """A private copy of the videos, free to damage: (root, VideoList)."""
    root = tmp_path / "videos"
    shutil.copytree(videos_dir / "videos", root)
    return root, load_video_list(videos_dir / "all.txt", videos_dir / "lists" / "labels.csv", root)


def _frames(store: FrameStore, index: int) -> np.ndarray:
    return np.asarray(store.read(index, lambda n: np.arange(n))[0])


def _inodes(store_dir):
    return {p.name: p.stat().st_ino for p in store_dir.glob("shard-*.h5")}


def test_truncated_shard_is_named_and_decoded_again(copy, tmp_path, caplog):
    _, videos = copy
    out = tmp_path / "store"
    decode_to_store(videos, out, settings=SETTINGS, progress=False)
    clean = [_frames(FrameStore(out), i) for i in range(len(videos))]
    damaged = out / shard_name(1)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    before = _inodes(out)

    with pytest.raises(MoteError, match=f"{damaged}: damaged frame store shard .*truncated.*run `mote decode` again"):
        FrameStore(out)
    summary = decode_to_store(videos, out, settings=SETTINGS, progress=False)
    assert summary.decoded_now == 2  # the two videos of the damaged shard, nothing else
    assert f"{damaged}: cannot be read" in caplog.text
    after = _inodes(out)
    assert after[shard_name(1)] != before[shard_name(1)]
    assert {k: v for k, v in after.items() if k != shard_name(1)} == {k: v for k, v in before.items() if k != shard_name(1)}
    store = FrameStore(out)
    for i in range(len(videos)):
        np.testing.assert_array_equal(_frames(store, i), clean[i])


def test_damaged_store_is_a_one_line_error_naming_the_shard(synth, merged, tmp_path, monkeypatch):
    """`mote encode-frames --store` used to stop with `internal error: OSError ... truncated file`."""
    monkeypatch.setenv("MOTE_DATASETS", str(synth.config))
    out = tmp_path / "store"
    runner = CliRunner()
    args = ["--dataset", "synth", "--split", "1", "--subset", "test"]
    result = runner.invoke(app, ["decode", *args, "--out", str(out), "--shard-size", "4", "--max-frames", "8",
                                 "--short-side", "32", "--no-progress"])
    assert result.exit_code == 0, result.output
    damaged = out / shard_name(1)
    damaged.write_bytes(damaged.read_bytes()[:4096])
    result = runner.invoke(app, ["encode-frames", *args, "--store", str(out), "-c", str(merged),
                                 "--out", str(tmp_path / "cache")])
    assert_one_line_error(result, f"{damaged}: damaged frame store shard", "mote decode")


def test_video_replaced_in_place_is_decoded_again(copy, tmp_path, caplog):
    root, videos = copy
    out = tmp_path / "store"
    decode_to_store(videos, out, settings=SETTINGS, progress=False)
    new_frames = _frames(FrameStore(out), 5)
    before = _inodes(out)
    # Video 0 (shard 0) replaced by another file's content: same path, same label.
    shutil.copyfile(videos.path(5), videos.path(0))
    assert FrameStore(out).changed_videos(videos) == [0]
    with pytest.raises(MoteError, match=f"older than 1 of its videos .*{videos.items[0][0]}"):
        FrameStore(out).require_fresh(videos)  # what training from the store checks

    summary = decode_to_store(videos, out, settings=SETTINGS, progress=False)
    assert summary.decoded_now == 2
    assert "1 of its videos changed on disk since" in caplog.text
    after = _inodes(out)
    assert after[shard_name(0)] != before[shard_name(0)]
    assert after[shard_name(1)] == before[shard_name(1)] and after[shard_name(2)] == before[shard_name(2)]
    store = FrameStore(out)
    np.testing.assert_array_equal(_frames(store, 0), new_frames)
    store.require_fresh(videos)

    # Only the modification time changes (e.g. re-downloaded): decoded again too.
    os.utime(videos.path(3), ns=(1, 1))
    assert decode_to_store(videos, out, settings=SETTINGS, progress=False).decoded_now == 2
    # Nothing changed: nothing to do.
    assert decode_to_store(videos, out, settings=SETTINGS, progress=False).decoded_now == 0


def test_a_store_outlives_its_videos(copy, tmp_path):
    """Videos deleted after decoding are not 'changed': the store is still read."""
    root, videos = copy
    out = tmp_path / "store"
    decode_to_store(videos, out, settings=SETTINGS, progress=False)
    shutil.rmtree(root)
    FrameStore(out).require_fresh(videos)
    assert decode_to_store(videos, out, settings=SETTINGS, progress=False).decoded_now == 0
