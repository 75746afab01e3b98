"""Workers end when their parent is killed: a `mote decode` shard worker and a DataLoader
worker, each stuck in a read that never returns, with the main process SIGKILLed alone.

The stuck read is simulated as in test_hang_guard: `get_batch` blocks SIGALRM and
sleeps for an hour; `MOTE_HANG_GRACE_S=off` turns the hang watchdog off, so only the
parent's death can end the worker. The worker writes its pid to a file first.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from motecli.atomic import process_alive
from motecli.data.registry import load_dataset_split

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60  # for the worker to get stuck (imports on a loaded machine)
GONE_S = 10  # for the orphan to end once its parent is killed

STUCK_PATCH = '''
import os, signal, sys, time
from motecli.data import video

TARGET = os.path.realpath(os.environ["TEST_STUCK_TARGET"])
_real_open = video._open


class _Stuck:
    def __init__(self, vr):
        self.vr = vr

    def __len__(self):
        return len(self.vr)

    def get_batch(self, indices):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        with open(os.environ["TEST_STUCK_PID"] + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(os.environ["TEST_STUCK_PID"] + ".tmp", os.environ["TEST_STUCK_PID"])
        time.sleep(3600)


def _open(path):
    vr = _real_open(path)
    return _Stuck(vr) if os.path.realpath(path) == TARGET else vr


video._open = _open
'''

DECODE = STUCK_PATCH + '''
from motecli.cli import main

sys.argv = ["mote", *sys.argv[1:]]
main()
'''

LOADER = STUCK_PATCH + '''
from motecli.data.dataset import ClipDataset
from motecli.data.registry import load_dataset_split
from motecli.train.data import train_loader

videos = load_dataset_split("synth", 1, "test")
dataset = ClipDataset(videos, mode="train", num_frames=2)
for batch in train_loader(dataset, batch_size=len(videos), workers=1, seed=0, epoch=0, rank=0, world_size=1):
    pass
'''


def _orphan_after_killing_parent(script: str, args: list[str], env: dict, tmp_path: Path) -> bool:
    """Run `script`, wait for its worker to get stuck, SIGKILL the main process only;
    True if the worker is still alive GONE_S seconds later."""
    file = tmp_path / "script.py"
    file.write_text(script)
    pid_file = tmp_path / "stuck.pid"
    env = dict(env, TEST_STUCK_PID=str(pid_file), MOTE_HANG_GRACE_S="off", MOTE_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, str(file), *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), f"the worker never got stuck: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        worker = int(pid_file.read_text())
        assert worker != proc.pid
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait()
        deadline = time.monotonic() + GONE_S
        while process_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        return process_alive(worker)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the session
        except ProcessLookupError:
            pass
        proc.wait()


def _stuck_video(synth_dataset) -> Path:
    return load_dataset_split("synth", 1, "test", config_path=synth_dataset.config).path(1)


def test_decode_worker_ends_with_the_killed_decode(synth_dataset, tmp_path):
    env = dict(os.environ, MOTE_DATASETS=str(synth_dataset.config), TEST_STUCK_TARGET=str(_stuck_video(synth_dataset)))
    args = ["decode", "--dataset", "synth", "--split", "1", "--subset", "test", "--out", str(tmp_path / "store"),
            "--shard-size", "4", "--max-frames", "4", "--short-side", "32", "--format", "raw", "--no-progress"]
    assert not _orphan_after_killing_parent(DECODE, args, env, tmp_path), "the shard worker outlived mote decode"


def test_dataloader_worker_ends_with_the_killed_trainer(synth_dataset, tmp_path):
    env = dict(os.environ, MOTE_DATASETS=str(synth_dataset.config), TEST_STUCK_TARGET=str(_stuck_video(synth_dataset)))
    assert not _orphan_after_killing_parent(LOADER, [], env, tmp_path), "the DataLoader worker outlived its parent"


@pytest.mark.parametrize("mechanism", ["pdeathsig", "watchdog"])
def test_exit_with_parent_mechanisms(tmp_path, mechanism):
    """Both mechanisms, including the pid watchdog used where prctl is not available."""
    script = f'''
import os, sys, time
from motecli import lifeline
if {mechanism!r} == "watchdog":
    lifeline._set_pdeathsig = lambda: False
parent = os.getpid()
pid = os.fork()
if pid == 0:
    how = lifeline.exit_with_parent(parent)
    with open(sys.argv[1] + ".tmp", "w") as fh:
        fh.write(f"{{os.getpid()}} {{how}}")
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(3600)
    os._exit(0)
time.sleep(3600)
'''
    file, out = tmp_path / "fork.py", tmp_path / "child"
    file.write_text(script)
    proc = subprocess.Popen([sys.executable, str(file), str(out)], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        child, how = out.read_text().split()
        assert how == mechanism
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + GONE_S
        while process_alive(int(child)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(int(child))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
