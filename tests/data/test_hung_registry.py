"""The hung-videos registry records the limit a video hung under: a read under a larger
limit tries the video again, `mote decode --retry-hung` releases it, and `mote decode`
re-decodes the shards of such videos. (The registry lines are written with the
function the watchdog calls; test_hang_guard covers the watchdog itself.)"""

import numpy as np
import pytest
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app
from motecli.data.registry import load_dataset_split
from motecli.data.store import FrameStore
from motecli.data.video import VideoReadError, _register_hung, read_frames

PICK = lambda n: np.arange(min(n, 2))  # noqa: E731


@pytest.fixture
def registry(tmp_path, monkeypatch):
    file = tmp_path / "hung-videos.tsv"
    monkeypatch.setenv("MOTE_HUNG_VIDEOS", str(file))
    monkeypatch.setenv("MOTE_HANG_GRACE_S", "5")
    return file


def test_a_larger_limit_tries_the_video_again(synth, registry):
    video = str(synth.root / "videos" / synth.videos[0].rel)
    _register_hung(video, "decoding hung for more than 5.3 s", 5.3)  # as under --timeout 0.3
    with pytest.raises(VideoReadError, match=r"hung for more than 5\.3 s in an earlier run; skipped"):
        read_frames(video, PICK, timeout_s=0.3)
    assert len(read_frames(video, PICK, timeout_s=600)[0]) == 2  # 605 s > 5.3 s: tried again
    _register_hung(video, "decoding hung for more than 605 s", 605)  # it hung again, under 605 s
    with pytest.raises(VideoReadError, match="605 s in an earlier run"):
        read_frames(video, PICK, timeout_s=600)
    with pytest.raises(VideoReadError):
        read_frames(video, PICK, timeout_s=None)  # no limit at all: never retried on its own


def test_lines_of_earlier_versions_keep_their_limit(synth, registry, monkeypatch):
    video = str(synth.root / "videos" / synth.videos[1].rel)
    registry.write_text(f"{video}\tdecoding hung for more than 0.8 s\t2026-01-01T00:00:00Z\n")
    monkeypatch.setenv("MOTE_HANG_GRACE_S", "0.5")
    with pytest.raises(VideoReadError):
        read_frames(video, PICK, timeout_s=0.3)  # 0.3 + 0.5 s: not larger than 0.8 s
    assert len(read_frames(video, PICK, timeout_s=60)[0]) == 2


def test_decode_retries_hung_videos(synth, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTE_DATASETS", str(synth.config))
    videos = load_dataset_split("synth", 1, "test", config_path=synth.config)
    _register_hung(str(videos.path(2)), "decoding hung for more than 5.3 s", 5.3)
    _register_hung(str(videos.path(5)), "decoding hung for more than 1000 s", 1000)
    out = tmp_path / "store"
    args = ["decode", "--dataset", "synth", "--split", "1", "--subset", "test", "--out", str(out), "--shard-size", "2",
            "--max-frames", "4", "--short-side", "32", "--format", "raw", "--no-progress"]
    runner = CliRunner()

    result = runner.invoke(app, [*args, "--timeout", "0.3"])
    assert result.exit_code == 0 and "; 2 failed" in result.stdout, result.output
    # A larger limit: the video that hung under 5.3 s is decoded again, with its shard only.
    result = runner.invoke(app, [*args, "--timeout", "600"])
    assert result.exit_code == 0 and "decoded 2 in" in result.stdout and "; 1 failed" in result.stdout, result.output
    assert FrameStore(out).num_frames(2) > 0 and FrameStore(out).num_frames(5) == 0
    # --retry-hung releases both registered videos (the first is still listed: it hung once),
    # so their two shards are decoded again, and the one that hung under 1000 s is read.
    result = runner.invoke(app, [*args, "--retry-hung"])
    assert result.exit_code == 0 and "decoded 4 in" in result.stdout and "; 0 failed" in result.stdout, result.output
    assert FrameStore(out).num_frames(5) > 0
    assert registry.read_text().splitlines()[-1].split("\t")[3] == "retry"
