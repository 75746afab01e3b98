"""The hard guard against reads stuck in C (decord #373, #269), with real processes.

A hang is simulated in a subprocess: the reader's `get_batch` blocks SIGALRM in
the calling thread and sleeps for an hour, so the SIGALRM time limit cannot
interrupt it, exactly like a call stuck inside C. Only that simulated hang gets a
tight limit (TIMEOUT_S, through a patched `read_video`, so the watchdog, the registry
and its retry rule all see it); every real read keeps mote's normal time limit, so a
loaded machine cannot push a good read over it. $MOTE_HANG_GRACE_S is small for all.
Subprocesses run in their own session and are killed as a group if the guard
ever fails, so a broken guard fails the test instead of hanging the suite.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motecli.data.dataset import ClipDataset
from motecli.data.registry import load_dataset_split
from motecli.data.store import FAILURES, FrameStore
from motecli.data.video import HUNG_EXIT_CODE, VideoReadError, read_frames
from motecli.env import hang_grace_s
from motecli.errors import MoteError

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S, GRACE_S = 0.5, 0.3  # the simulated hang's time limit: its watchdog fires after 0.8 s
SAFETY_S = 120  # only reached if the guard is broken

# Prepended to every subprocess script: reading $TEST_HANG_TARGET gets stuck.
HANG_PATCH = '''
import os, signal, sys, time
from motecli.data import video

TARGET = os.path.realpath(os.environ["TEST_HANG_TARGET"])
STUCK_TIMEOUT_S = float(os.environ["TEST_STUCK_TIMEOUT_S"])
_real_open = video._open
_real_read_video = video.read_video


class _StuckReader:
    """A decord VideoReader whose get_batch never returns and cannot be alarmed."""

    def __init__(self, vr):
        self.vr = vr

    def __len__(self):
        return len(self.vr)

    def get_batch(self, indices):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)


def _open(path):
    vr = _real_open(path)
    return _StuckReader(vr) if os.path.realpath(path) == TARGET else vr


def _read_video(path, pick, *, timeout_s=30.0, **kwargs):
    """The tight limit applies to the stuck video alone; real reads keep theirs."""
    if timeout_s and os.path.realpath(path) == TARGET:
        timeout_s = STUCK_TIMEOUT_S
    return _real_read_video(path, pick, timeout_s=timeout_s, **kwargs)


video._open = _open
video.read_video = _read_video  # read_frames and the modules imported after this call it
'''

# The parent reads a good video (starting its watchdog and caching the registry), then
# a forked child reads the stuck one: the child needs a watchdog of its own.
READ_SCRIPT = HANG_PATCH + '''
import json
import numpy as np
from motecli.data.video import VideoReadError, read_frames

pick = lambda n: np.arange(min(n, 4))
good, stuck = sys.argv[1], sys.argv[2]
report = dict(good_frames=len(read_frames(good, pick)[0]))
pid = os.fork()
if pid == 0:
    read_frames(stuck, pick)
    os._exit(0)
report["child_exit"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
try:
    read_frames(stuck, pick)
    report["parent_reread"] = "returned"
except VideoReadError as err:
    report["parent_reread"] = err.reason
print(json.dumps(report), flush=True)
'''

CLI_SCRIPT = HANG_PATCH + '''
from motecli.cli import main

sys.argv = ["mote", *sys.argv[1:]]
main()
'''


def _run(script: str, args: list[str], env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    file = tmp_path / "script.py"
    file.write_text(script)
    proc = subprocess.Popen([sys.executable, str(file), *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=SAFETY_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the process hung: the watchdog did not end it")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _env(tmp_path: Path, registry: Path, target: Path, **extra) -> dict:
    env = dict(os.environ, MOTE_CACHE=str(tmp_path / "cache"), MOTE_HUNG_VIDEOS=str(registry),
               MOTE_HANG_GRACE_S=str(GRACE_S), TEST_HANG_TARGET=str(target), TEST_STUCK_TIMEOUT_S=str(TIMEOUT_S),
               **extra)
    env.pop("MOTE_DECODE_TIMEOUT_S", None)  # mote's own time limit for every real read
    return env


def _registry_paths(registry: Path) -> list[str]:
    return [line.split("\t")[0] for line in registry.read_text().splitlines()]


def _same_file_in(synth_dataset, name: str, video: Path):
    """(video list, index) of `video` as named by dataset `name`."""
    for subset in ("train", "test"):
        videos = load_dataset_split(name, 1, subset, config_path=synth_dataset.config)
        for i in range(len(videos)):
            if os.path.realpath(videos.path(i)) == os.path.realpath(video):
                return videos, i
    raise AssertionError(f"{video} is not in {name}")


@pytest.fixture(scope="module")
def hung_read(synth_dataset, tmp_path_factory):
    """One real watchdog kill: (registry, stuck video, good video, script result)."""
    tmp = tmp_path_factory.mktemp("hung")
    videos = synth_dataset.root / "videos"
    good, stuck = videos / synth_dataset.videos[0].rel, videos / synth_dataset.videos[1].rel
    registry = tmp / "hung-videos.tsv"
    registry.write_text("/elsewhere/other.mp4\tdecoding hung for more than 9 s\t2020-01-01T00:00:00Z\n")
    result = _run(READ_SCRIPT, [str(good), str(stuck)], _env(tmp, registry, stuck), tmp)
    return registry, stuck, good, result


def test_watchdog_ends_a_stuck_read_and_registers_the_video(hung_read):
    registry, stuck, _, result = hung_read
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["good_frames"] == 4  # the guard leaves normal reads alone
    assert report["child_exit"] == HUNG_EXIT_CODE
    assert _registry_paths(registry) == ["/elsewhere/other.mp4", os.path.realpath(stuck)]
    assert f"mote: watchdog: {stuck}: decoding hung for more than 0.8 s" in result.stderr
    # The parent had cached the registry before the child appended to it, and re-read it.
    assert report["parent_reread"].startswith("decoding hung for more than 0.8 s in an earlier run; skipped")


def test_registered_video_fails_fast_with_the_hung_reason(hung_read, synth_dataset, monkeypatch):
    registry, stuck, good, _ = hung_read
    monkeypatch.setenv("MOTE_HUNG_VIDEOS", str(registry))
    monkeypatch.setenv("MOTE_HANG_GRACE_S", str(GRACE_S))  # reads under the limit it hung under
    with pytest.raises(VideoReadError, match=r"hung for more than 0\.8 s in an earlier run; skipped"):
        read_frames(str(stuck), lambda n: np.arange(n), timeout_s=TIMEOUT_S)
    assert len(read_frames(str(good), lambda n: np.arange(2))[0]) == 2
    # The same file under another layout (UCF-101 names are symlinks) is skipped too,
    # by a read whose limit is not larger than the one it hung under.
    ucf, index = _same_file_in(synth_dataset, "synth_ucf", stuck)
    assert ucf.path(index).is_symlink()
    item = ClipDataset(ucf, mode="test", num_frames=2, read_timeout_s=TIMEOUT_S)[index]
    assert item["frames"] is None and "earlier run; skipped" in item["error"]


def test_decode_survives_a_hanging_video(synth_dataset, tmp_path):
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    stuck_index = 5  # in shard 1 of 4 (shard size 4), decoded by one of two workers
    stuck = videos.path(stuck_index)
    registry, out = tmp_path / "hung-videos.tsv", tmp_path / "store"
    env = _env(tmp_path, registry, stuck, MOTE_DATASETS=str(synth_dataset.config))
    args = ["decode", "--dataset", "synth", "--split", "1", "--subset", "test", "--out", str(out), "--shard-size", "4",
            "--max-frames", "4", "--short-side", "32", "--format", "raw", "--workers", "2", "--no-progress"]
    result = _run(CLI_SCRIPT, args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"decoded {len(videos)} in" in result.stdout and "; 1 failed" in result.stdout
    assert f"mote: watchdog: {stuck}: decoding hung" in result.stderr
    assert _registry_paths(registry) == [os.path.realpath(stuck)]
    rows = [r.split("\t") for r in (out / FAILURES).read_text().splitlines()[1:]]
    assert [(int(i), p) for i, p, _ in rows] == [(stuck_index, videos.items[stuck_index][0])]
    assert "decoding hung for more than 0.8 s in an earlier run; skipped" in rows[0][2]
    store = FrameStore(out)
    assert [store.num_frames(i) > 0 for i in range(len(videos))] == [i != stuck_index for i in range(len(videos))]
    assert not list(out.glob(".shard-*"))  # the dead worker's partial shard is gone


def test_decode_gives_up_on_a_shard_that_keeps_killing_its_worker(synth_dataset, tmp_path):
    videos = load_dataset_split("synth", 1, "test", config_path=synth_dataset.config)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    # An unwritable registry: the hang is never recorded, so every re-run hangs again.
    env = _env(tmp_path, blocker / "hung-videos.tsv", videos.path(1), MOTE_DATASETS=str(synth_dataset.config))
    args = ["decode", "--dataset", "synth", "--split", "1", "--subset", "test", "--out", str(tmp_path / "store"),
            "--shard-size", "4", "--max-frames", "4", "--short-side", "32", "--format", "raw", "--no-progress"]
    result = _run(CLI_SCRIPT, args, env, tmp_path)
    assert result.returncode == MoteError.exit_code, result.stderr
    assert result.stderr.count("NOT recorded in the hung-videos registry") == 3
    error = [line for line in result.stderr.splitlines() if line.startswith("mote: error:")]
    assert len(error) == 1 and "shard-00000.h5: its decoding worker died 3 times" in error[0]


def test_hang_grace_setting(monkeypatch):
    monkeypatch.setenv("MOTE_HANG_GRACE_S", "off")
    assert hang_grace_s() is None
    monkeypatch.setenv("MOTE_HANG_GRACE_S", "soon")
    with pytest.raises(MoteError, match="MOTE_HANG_GRACE_S='soon'"):
        hang_grace_s()
