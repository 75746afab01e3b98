"""`mote demo`: the whole pipeline on generated videos, in a few minutes on a CPU.

synthetic videos -> class text embeddings -> train the tiny recipe -> merge the
experts -> frame-embedding cache -> close-set and zero-shot evaluation, each with
and without temporal feature modulation -> results table and plots.

Every stage is the library function its command calls, run in one process so
torch and the models load once. Re-running resumes: finished training, caches
and data are reused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .constants import TFM_K, TFM_SCALE, ZERO_SHOT_CLIPS
from .errors import MoteError

log = logging.getLogger("mote")

# Zero-shot classes for the demo: shapes moving in directions the recipe never trained on.
ZERO_SHOT_VIDEOS_PER_CLASS = 6


@dataclass
class DemoRow:
    protocol: str
    modulation: bool
    videos: int
    excluded: int
    top1: float
    top5: float | None  # None with 5 classes or fewer
    results_file: Path


@dataclass
class DemoReport:
    rows: list[DemoRow] = field(default_factory=list)
    artefacts: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def _zero_shot_directions(trained: Sequence[str]) -> tuple[str, ...]:
    from .data.synth import DIRECTIONS

    unseen = tuple(d for d in DIRECTIONS if d not in trained)
    if not unseen:
        raise MoteError("the demo recipe trains on every synthetic direction; leave some out for zero-shot classes")
    return unseen


def run_demo(*, workdir: Path, recipe_path: Path, overrides: Sequence[str] = (), plot: bool = True,
             device: str = "auto", workers: int | None = 0) -> DemoReport:
    """`workers`: DataLoader processes of the evaluations (None = env.default_workers();
    training takes the recipe's data.workers)."""
    from .eval.runner import EvalSettings, run_eval, split_sources
    from .merge.merge import merge_checkpoint
    from .text.labels import read_templates_file
    from .train.data import ensure_synthetic_dataset
    from .train.loop import train
    from .train.recipe import load_recipe, with_output

    started = time.perf_counter()
    if not recipe_path.is_file():
        raise MoteError(f"recipe {recipe_path}: no such file; run `mote demo` from the repository root or pass --recipe")
    recipe = with_output(load_recipe(recipe_path, overrides), workdir / "run")
    if not recipe.data.synthetic:
        raise MoteError(f"recipe {recipe_path}: the demo needs data.synthetic = true")
    report = DemoReport()

    log.info("[1/5] synthetic videos and training (%s)", recipe_path)
    d = recipe.data
    train_config = ensure_synthetic_dataset(
        videos_per_class=d.synthetic_videos_per_class, shapes=d.synthetic_shapes, directions=d.synthetic_directions,
    )
    zero_shot_config = ensure_synthetic_dataset(
        videos_per_class=ZERO_SHOT_VIDEOS_PER_CLASS, shapes=d.synthetic_shapes,
        directions=_zero_shot_directions(d.synthetic_directions),
    )
    trained = train(recipe, resume="auto", device=device)
    checkpoint = trained.output / ("best.pt" if (trained.output / "best.pt").is_file() else "last.pt")

    log.info("[2/5] merging the experts of %s", checkpoint)
    merged = merge_checkpoint(checkpoint, out=workdir / "merged.safetensors")

    results_dir = workdir / "results"
    evaluations = (
        ("close-set", train_config, 1, 1),
        ("zero-shot", zero_shot_config, ZERO_SHOT_CLIPS, 1),
    )
    for step, (protocol, config, clips, crops) in enumerate(evaluations, start=3):
        log.info("[%d/5] %s evaluation (frame cache, then with and without modulation)", step, protocol)
        sources = split_sources(dataset="synth", split="1", list_file=None, labels=None, root=None,
                                config=config, store=None)
        for modulation in (True, False):
            settings = EvalSettings(
                checkpoint=merged.out, protocol=protocol, clips=clips, crops=crops,
                num_frames=recipe.model.num_frames, modulation=modulation, scales=(TFM_SCALE,), k=TFM_K,
                templates=read_templates_file(None), device=device, workers=workers,
            )
            results, path, _ = run_eval(sources=sources, settings=settings, out_dir=results_dir, split_spec="1")
            if protocol == "zero-shot" and modulation:
                zero_shot_results = results  # per-class accuracy is in memory (on disk it is a CSV beside the JSON)
            split = results["runs"][0]["splits"][0]
            report.rows.append(DemoRow(protocol=protocol, modulation=modulation,
                                       videos=split["videos"], excluded=split["excluded"], top1=split["top1"],
                                       top5=split["top5"], results_file=path))
            report.artefacts.setdefault(f"frame cache ({protocol})", Path(split["frame_cache"]["path"]))

    log.info("[5/5] plots")
    report.artefacts.update({
        "synthetic videos (training)": train_config.parent,
        "synthetic videos (zero-shot classes)": zero_shot_config.parent,
        "training run (checkpoints, metrics.jsonl)": trained.output,
        "merged model": merged.out,
        "results (JSON)": results_dir,
    })
    if plot:
        from .eval.plots import plot_per_class, plot_results

        report.artefacts["per-class plot"] = plot_per_class(zero_shot_results, results_dir / "zero-shot-per-class.png")
        for png in plot_results(results_dir, results_dir):  # the folder's pictures, as `mote eval --plot` draws them
            report.artefacts[f"plot {png.name}"] = png
    report.seconds = time.perf_counter() - started
    return report
