"""Temporaries `.NAME.tmp-PID` of writers that are gone are removed; a live writer's never."""

import os
import signal
import subprocess
import sys
import time

from motecli.atomic import atomic_path, process_alive, remove_stale_temporaries, remove_stale_temporaries_of, writer_pid


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def test_only_the_temporaries_of_gone_writers_are_removed(tmp_path):
    dead, live = _dead_pid(), subprocess.Popen(["sleep", "60"])
    try:
        files = {
            "dead": tmp_path / f".text.h5.tmp-{dead}",
            "dead_dir": tmp_path / f".synth-1.tmp-{dead}",
            "mine": tmp_path / f".text.h5.tmp-{os.getpid()}",  # this process is not writing it now
            "live": tmp_path / f".text.h5.tmp-{live.pid}",
            "other_file": tmp_path / f".other.h5.tmp-{dead}",
            "not_a_temporary": tmp_path / "text.h5.tmp-12",
            "no_pid": tmp_path / ".text.h5.tmp-x",
        }
        for name, path in files.items():
            if name == "dead_dir":
                (path / "videos").mkdir(parents=True)
            else:
                path.write_bytes(b"partial")
        assert not process_alive(dead) and process_alive(live.pid) and process_alive(os.getpid())
        removed = remove_stale_temporaries_of(tmp_path / "text.h5")
        assert sorted(removed) == sorted([files["dead"], files["mine"]])
        assert [n for n, p in files.items() if p.exists()] == ["dead_dir", "live", "other_file", "not_a_temporary", "no_pid"]
        assert sorted(remove_stale_temporaries(tmp_path)) == sorted([files["dead_dir"], files["other_file"]])
        assert files["live"].exists()
    finally:
        live.kill()
        live.wait()


def test_atomic_path_names_its_temporary_after_the_writer(tmp_path):
    with atomic_path(tmp_path / "x.bin") as tmp:
        assert tmp.name == f".x.bin.tmp-{os.getpid()}" and writer_pid(tmp) == os.getpid()
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.bin").read_bytes() == b"1" and not tmp.exists()


def test_a_killed_but_unreaped_writer_counts_as_gone():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _state(proc.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(proc.pid) == "Z"  # a zombie: kill(pid, 0) still succeeds
        assert not process_alive(proc.pid)
    finally:
        proc.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]
