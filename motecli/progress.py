"""Progress of a long stage, in one style for every stage (decode, encode-text,
encode-frames, eval from videos, training epochs).

On a terminal: a rich bar with done/total, the rate and the ETA. Otherwise (logs,
CI, sbatch output files): a plain log line every LOG_EVERY_S seconds and one at
the end. Only rank 0 of a torchrun or srun job reports. Torch-free, so every
stage may use it.

    with Progress("encode-frames", total=len(videos), unit="videos") as bar:
        for batch in loader:
            ...
            bar.advance(len(batch))
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable

from .env import world_info

log = logging.getLogger("mote")
LOG_EVERY_S = 30.0


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """`advance(n)` after each unit of work; `work=` counts a second quantity whose rate
    is shown instead (training: steps advance the bar, clips give the rate)."""

    def __init__(
        self,
        description: str,
        *,
        total: int | None,
        unit: str = "it",
        rate_unit: str | None = None,
        initial: int = 0,
        enabled: bool = True,
        transient: bool = False,
        terminal: bool | None = None,
        log_every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.rate_unit = rate_unit or unit
        self.enabled = enabled and world_info().rank == 0
        self.transient = transient  # training: the epoch's summary line replaces the bar
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.log_every_s, self.clock = log_every_s, clock
        self.done, self.initial, self.work = initial, initial, 0.0
        self.fields: dict[str, str] = {}
        self._bar = None

    def __enter__(self) -> "Progress":
        self.started = self._last_log = self.clock()
        if self.enabled and self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                                     console=Console(stderr=True), transient=self.transient)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, completed=self.done,
                                            status=self.status())
        return self

    def rate(self) -> float:
        """Units (or `work`) per second since the start of this run."""
        elapsed = max(self.clock() - self.started, 1e-9)
        return (self.work if self.rate_unit != self.unit else self.done - self.initial) / elapsed

    def eta_s(self) -> float | None:
        elapsed = self.clock() - self.started
        done_now = self.done - self.initial
        if self.total is None or done_now <= 0 or elapsed <= 0:
            return None
        return max(self.total - self.done, 0) * elapsed / done_now

    def status(self, *, final: bool = False) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        parts = [f"{count} {self.unit}", f"{self.rate():.1f} {self.rate_unit}/s"]
        eta = self.eta_s()
        if final:
            parts.append(f"in {format_duration(self.clock() - self.started)}")
        else:
            parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA ?")
        parts += [f"{k} {v}" for k, v in self.fields.items()]
        return ", ".join(parts)

    def advance(self, n: int = 1, *, work: float = 0.0, **fields: str) -> None:
        self.done += n
        self.work += work
        self.fields.update(fields)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, status=self.status())
            return
        now = self.clock()
        if now - self._last_log >= self.log_every_s:
            self._last_log = now
            log.info("%s: %s", self.description, self.status())

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and not self.transient and exc[0] is None:
            log.info("%s: done, %s", self.description, self.status(final=True))
