"""Every metric of a training run as one JSON object per line in `<output>/metrics.jsonl`
(rank 0 only). The bar within an epoch is motecli.progress.Progress, as for every stage."""

from __future__ import annotations

import json
import time
from pathlib import Path


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
