"""Write-then-rename, so a reader never sees a half-written file.

A writer's temporary is `.NAME.tmp-PID` next to the final `NAME`, PID being the
writing process (other tools rely on this convention, e.g. `mote cache list`).
A writer killed before its rename (SIGKILL, power loss) leaves that temporary
behind; `remove_stale_temporaries` deletes the ones whose process is gone, and
each writer calls it when it runs again.
"""

import glob
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TMP_MARK = ".tmp-"


def temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` on success.

    On any exception the temporary file is removed and `path` is untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def writer_pid(tmp: Path) -> int | None:
    """The PID in a temporary's name `.NAME.tmp-PID`, or None if it is not one."""
    name = tmp.name
    if not name.startswith(".") or TMP_MARK not in name:
        return None
    pid = name.rsplit(TMP_MARK, 1)[1]
    return int(pid) if pid.isdigit() else None


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def remove_stale_temporaries(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """Delete the temporaries `.NAME.tmp-PID` in `folder` (NAME matching the glob `name`)
    whose writing process is gone; return what was deleted.

    A temporary named after this very process counts as stale too: callers run this
    before their own write, and in a container a killed writer's PID is often the
    PID of the next run. A live process's temporary is never touched. PIDs are
    those of this machine: two writers of one file on different machines sharing
    a file system are not told apart.
    """
    folder = Path(folder)
    removed = []
    for tmp in folder.glob(f".{name}{TMP_MARK}*"):
        pid = writer_pid(tmp)
        if pid is None or (pid != os.getpid() and process_alive(pid)):
            continue
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def remove_stale_temporaries_of(path: str | os.PathLike) -> list[Path]:
    """The stale temporaries of one final file `path` (see remove_stale_temporaries)."""
    path = Path(path)
    return remove_stale_temporaries(path.parent, glob.escape(path.name))
