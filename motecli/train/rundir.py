"""The run folder (`run.output`): what it holds, and what a new run may do to it.

Torch-free, so `mote train` refuses a wrong `--resume` or an occupied folder in
a fraction of a second, before torch is imported or any data is built.

    last.pt        every epoch; the commit point of a run (it records best_epoch)
    best.pt        written after last.pt when validation top-1 improves
    metrics.jsonl  one JSON object per line
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..atomic import remove_stale_temporaries_of
from ..errors import MoteError

log = logging.getLogger("mote")
LAST, BEST, METRICS = "last.pt", "best.pt", "metrics.jsonl"


def resolve_resume(resume: str | None, output: Path) -> Path | None:
    """The checkpoint to continue from: None (fresh start), `<output>/last.pt` for
    'auto' when it exists, or the given file."""
    if resume is None:
        return None
    if resume == "auto":
        path = output / LAST
        return path if path.is_file() else None
    path = Path(resume)
    if path.is_dir():
        raise MoteError(f"--resume {path}: is a directory, expected a checkpoint file such as {path / LAST}")
    if not path.is_file():
        raise MoteError(f"--resume {path}: no such file")
    return path


def run_files(output: Path) -> list[str]:
    """The checkpoints of an earlier run in `output`."""
    return [name for name in (LAST, BEST) if (output / name).exists()]


def continues_run(resume: Path | None, output: Path) -> bool:
    """Whether `resume` is the last.pt of `output` itself."""
    try:
        return resume is not None and os.path.samefile(resume, output / LAST)
    except OSError:
        return False


def check_output(output: Path, *, resume: Path | None, overwrite: bool) -> None:
    """Refuse to start a run that would replace another run's checkpoints, unless it
    continues that run (`--resume auto` or its own last.pt) or `overwrite` is set."""
    if output.exists() and not output.is_dir():
        raise MoteError(f"run.output {output}: is a file, expected a folder for the run's checkpoints")
    found = run_files(output)
    if not found or overwrite or continues_run(resume, output):
        return
    what = f"{output} already holds a training run ({', '.join(found)})"
    if resume is not None:
        raise MoteError(f"--resume {resume}: {what} that this run would overwrite; use --resume auto to continue "
                        "that run, -o DIR for a new folder, or --overwrite to replace it")
    raise MoteError(f"{what}; use --resume auto to continue it, -o DIR for a new run, or --overwrite to replace it")


def clear_run(output: Path) -> None:
    """`--overwrite`: remove the earlier run's checkpoints and metrics before the new one
    writes, so that no file of the old run is taken for one of the new."""
    for name in (LAST, BEST, METRICS):
        if (output / name).exists():
            log.warning("--overwrite: removing %s of the earlier run", output / name)
            (output / name).unlink()


def remove_checkpoint_temporaries(output: Path) -> None:
    """Temporaries of checkpoint saves that were killed (`.last.pt.tmp-PID`, gigabytes each
    for ViT-L), removed when a run starts in the folder again."""
    for name in (LAST, BEST):
        for tmp in remove_stale_temporaries_of(output / name):
            log.info("removed %s, left by a killed checkpoint save", tmp)
