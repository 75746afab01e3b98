"""Worker processes that end when their parent dies.

A decode shard worker or a DataLoader worker whose parent is killed (SIGKILL,
the OOM killer, a cluster's job cancel) would otherwise run on: a worker busy
with a long or hung video keeps decoding, holding memory and files, until it
finishes, and torch's own check of the parent runs only between batches.

On Linux the kernel does it: `prctl(PR_SET_PDEATHSIG, SIGKILL)` makes the
worker receive SIGKILL when the thread that forked it ends (mote forks its
workers from the main thread). Elsewhere a daemon thread polls the parent pid
and ends the process when the parent is gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.5  # the fallback's check interval


def _set_pdeathsig() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(1)


def exit_with_parent(parent: int | None = None) -> str:
    """Make this process end when its parent dies; call first thing in a forked worker.

    `parent` is the pid the worker was started by (default: the current parent);
    if it is already gone, the process ends at once. Returns the mechanism used:
    "pdeathsig" or "watchdog".
    """
    parent = os.getppid() if parent is None else parent
    how = "pdeathsig" if sys.platform.startswith("linux") and _set_pdeathsig() else "watchdog"
    if how == "watchdog":
        threading.Thread(target=_watch_parent, args=(parent,), name="mote-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    return how


def _worker_init(worker_id: int, *, parent: int) -> None:
    exit_with_parent(parent)


def worker_init_fn(parent: int | None = None):
    """A DataLoader `worker_init_fn` (picklable) tying each worker to `parent`,
    default this process: build it where the DataLoader is made."""
    return functools.partial(_worker_init, parent=os.getpid() if parent is None else parent)
