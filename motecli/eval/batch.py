"""Several checkpoints in one `mote eval` call.

One process pays the start-up (imports, text encoder) once. The text cache is shared:
checkpoints with the same frozen text encoder read the class embeddings the first one
wrote. Each checkpoint gets its own frame cache, because the cache is keyed by the
image-encoder weights (`visual_sha256`); two checkpoints that share an image encoder
share its cache, which is right, since their frame features are the same.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..errors import MoteError

log = logging.getLogger("mote")
GLOB_CHARS = set("*?[")


def expand_checkpoints(patterns: list[str], *, default: Path) -> list[Path]:
    """--checkpoint values in order, globs expanded (sorted), duplicates dropped; `default` when none."""
    out: list[Path] = []
    for pattern in patterns:
        if GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise MoteError(f"--checkpoint {pattern!r}: no file matches the pattern")
            out += [Path(m) for m in matches]
        else:
            out.append(Path(pattern))
    seen, unique = set(), []
    for path in out or [default]:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


@dataclass
class CheckpointResult:
    checkpoint: Path
    results: dict
    path: Path


def evaluate_checkpoints(*, checkpoints: list[Path], settings, frames: int | None, sources: list, out_dir: str | Path,
                         split_spec: str, on_result: Callable[[CheckpointResult], None] | None = None
                         ) -> tuple[list[CheckpointResult], list]:
    """Evaluate `sources` with every checkpoint (each with its own T unless `frames`),
    one results file each; then the summary rows of these checkpoints from the folder."""
    from ..checkpoints.merged import read_merged_metadata
    from .results import summary_rows
    from .runner import run_eval

    metas = {path: read_merged_metadata(path) for path in checkpoints}  # every bad file fails before any work
    done = []
    for i, path in enumerate(checkpoints, start=1):
        if len(checkpoints) > 1:
            log.info("checkpoint %d/%d: %s", i, len(checkpoints), path)
        num_frames = frames or int(metas[path]["model_config"]["num_frames"])
        results, file, _ = run_eval(sources=sources, settings=replace(settings, checkpoint=path, num_frames=num_frames),
                                    out_dir=out_dir, split_spec=split_spec)
        done.append(CheckpointResult(path, results, file))
        if on_result is not None:
            on_result(done[-1])
    ids = {d.results["checkpoint"]["id"] for d in done}
    return done, summary_rows(out_dir, ids)
