"""What a training run reports: a rich progress bar on a terminal, log lines otherwise,
and every metric as one JSON object per line in `<output>/metrics.jsonl` (rank 0 only)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("mote")


class MetricsLog:
    """Append-only JSON lines; a no-op on ranks other than 0."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        if self.path is None:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


class EpochProgress:
    """A bar with loss, lr, clips/s and ETA when stderr is a terminal; nothing otherwise
    (the epoch summary is logged either way)."""

    def __init__(self, *, epoch: int, epochs: int, total: int, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.description = f"epoch {epoch + 1}/{epochs}"
        self.total = total
        self._progress = None

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"), console=Console(stderr=True), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, stats="")
        return self

    def update(self, *, loss: float, lr: float, clips_per_s: float) -> None:
        if self._progress is not None:
            stats = f"loss {loss:.4f}  lr {lr:.2e}  {clips_per_s:.1f} clips/s"
            self._progress.update(self._task, advance=1, stats=stats)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
