import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motecli.data.registry import load_dataset_split
from motecli.data.store import FAILURES, FrameStore, shard_name
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings
from motecli.errors import MoteError

REPO = Path(__file__).resolve().parents[2]


def _pyav_reference(path: Path, *, max_frames: int, short_side: int) -> np.ndarray:
    """Independent route: PyAV decodes every frame, keep the uniform subset, then the release's
    GroupScale: torchvision's Resize(short_side, bicubic) on PIL images."""
    import av
    from PIL import Image
    from torchvision import transforms as T

    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    n = len(frames)
    keep = np.round(np.linspace(0, n - 1, max_frames)).astype(int) if n > max_frames else np.arange(n)
    scale = T.Resize(short_side, interpolation=T.InterpolationMode.BICUBIC)
    return np.stack([np.asarray(scale(Image.fromarray(f)), dtype=np.float64) for f in frames[keep]])


@pytest.mark.parametrize("fmt,mean_tol", [("raw", 0.1), ("jpeg", 2.0)])
def test_store_equals_decoding(synth_dataset, tmp_path, fmt, mean_tol):
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    settings = StoreSettings(format=fmt, short_side=120, max_frames=20, shard_size=5)
    summary = decode_to_store(videos, tmp_path / "s", settings=settings, workers=2, progress=False)
    assert summary.failed == 0 and summary.decoded_now == len(videos)
    store = FrameStore(tmp_path / "s")
    for i in range(len(videos)):
        ref = _pyav_reference(videos.path(i), max_frames=20, short_side=120)
        got, idx, n = store.read(i, lambda n: np.arange(n))
        assert n == store.num_frames(i) == len(ref)
        diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
        assert diff.mean() < mean_tol and (fmt == "jpeg" or diff.max() <= 1.5)


def test_store_counts_frames_and_failures(synth_dataset, tmp_path):
    bad = load_dataset_split("synth_bad", 1, "test", config_path=synth_dataset.config)
    summary = decode_to_store(bad, tmp_path / "b", settings=StoreSettings(max_frames=20, shard_size=3), progress=False)
    assert summary.failed == 4
    rows = (tmp_path / "b" / FAILURES).read_text().splitlines()
    assert rows[0] == "index\tpath\treason" and sorted(int(r.split("\t")[0]) for r in rows[1:]) == [2, 3, 4, 5]
    store = FrameStore(tmp_path / "b")
    by_rel = {f"videos/{v.rel}": v.num_frames for v in synth_dataset.videos}
    expected = [min(by_rel[p], 20) if p in by_rel else 0 for p, _ in bad.items]
    expected[6] = 3  # the short video
    assert [store.num_frames(i) for i in range(len(bad))] == expected
    assert "not found" in store.error(5)


def test_resume_refuses_other_settings_and_detects_incomplete(synth_dataset, tmp_path):
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    decode_to_store(videos, tmp_path / "s", settings=StoreSettings(shard_size=8), progress=False)
    with pytest.raises(MoteError, match="differs in short_side"):
        decode_to_store(videos, tmp_path / "s", settings=StoreSettings(shard_size=8, short_side=128), progress=False)
    (tmp_path / "s" / shard_name(1)).unlink()
    with pytest.raises(MoteError, match="incomplete"):
        FrameStore(tmp_path / "s")


def test_resume_after_sigkill(synth_dataset, tmp_path):
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "motecli", "decode", "--dataset", "synth", "--split", "1", "--subset", "train",
           "--out", str(out), "--shard-size", "1", "--format", "raw", "--max-frames", "16", "--no-progress"]
    env = dict(os.environ, MOTE_DATASETS=str(synth_dataset.config))
    videos = load_dataset_split("synth", 1, "train", config_path=synth_dataset.config)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while len(list(out.glob("shard-*.h5"))) < 3 and proc.poll() is None:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, like kill -9 of the job
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = {p.name: p.stat().st_ino for p in out.glob("shard-*.h5")}
    assert 3 <= len(done) < len(videos), "the kill must land mid-run"
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"decoded {len(videos) - len(done)} in" in result.stdout
    assert {name: ino for name, ino in ((p.name, p.stat().st_ino) for p in out.glob("shard-*.h5")) if name in done} == done
    assert not list(out.glob(".shard-*"))  # stale temporaries removed
    store = FrameStore(out)
    for i in range(len(videos)):
        ref = _pyav_reference(videos.path(i), max_frames=16, short_side=256)
        got = np.asarray(store.read(i, lambda n: np.arange(n))[0], dtype=np.float64)
        assert got.shape == ref.shape and np.abs(got - ref).max() <= 1.5
