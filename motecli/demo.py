"""`mote demo`: MoTE on a small world where words mean something, in a few minutes on a CPU.

One function per stage, each the library call its command makes, in one process
so torch and the models load once:

  1. pretrained tiny CLIP    `mote pretrain-tiny` (cached: about 90 s the first time)
  2. synthetic videos        trained classes (a red circle and a blue square moving closer
                             or away) and zero-shot classes (other colour-shape pairings,
                             the same motions)
  3. fine-tune and merge     MoTE and the paper's baseline (1 expert, no WMR, no MSE),
                             or with --ablation a grid of the recipe switches
  4. plain CLIP              the pretrained CLIP, mean pooling, no fine-tuning
  5. evaluate                close-set on the trained classes' test videos, zero-shot on
                             every video of the unseen classes (3 splits), each with and
                             without temporal feature modulation
  6. table and plot          close-set, zero-shot, their harmonic mean, chance levels;
                             the zero-shot vs close-set trade-off

Re-running resumes: pretraining, videos, finished training runs and frame caches
are reused.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .constants import TFM_K, TFM_SCALE, ZERO_SHOT_CLIPS
from .errors import MoteError

if TYPE_CHECKING:
    from .pretrain.loop import PretrainConfig

log = logging.getLogger("mote")

ZERO_SHOT_VIDEOS_PER_CLASS = 6  # every one is a test video: the classes are never trained
ZERO_SHOT_SPLITS = "all"  # the synthetic sets have 3 splits; each video is a test video of exactly one


@dataclass(frozen=True)
class Variant:
    """One model of the table: a fine-tuning (recipe overrides on the demo recipe) or plain CLIP."""

    slug: str  # run folder, model file and results-file stem
    label: str
    overrides: tuple[str, ...] = ()
    fine_tune: bool = True
    tfm_k: int = TFM_K  # eval-time modulation neighbours and scale
    tfm_scale: float = TFM_SCALE
    modulation: tuple[bool, ...] = (True, False)  # evaluated with and without


PLAIN_CLIP = Variant("clip", "pretrained CLIP, mean pooling, no fine-tuning", fine_tune=False, modulation=(False,))
BASELINE = Variant("baseline", "baseline: 1 expert, no WMR, no MSE",
                   ("model.experts=1", "loss.merged=0.0", "loss.mse=0.0"))
MOTE = Variant("mote", "MoTE: 4 experts, WMR, MSE")
DEMO_VARIANTS = (PLAIN_CLIP, BASELINE, MOTE)
# The paper's ablation table in miniature (tables 2 and 7): one switch at a time from MoTE,
# and the baseline built up term by term. Eval-time rows reuse MoTE's fine-tuning.
ABLATION_VARIANTS = (
    PLAIN_CLIP,
    BASELINE,
    Variant("experts", "+ 4 experts (no WMR, no MSE)", ("loss.merged=0.0", "loss.mse=0.0")),
    Variant("wmr", "+ WMR, CE only (no MSE)", ("loss.mse=0.0",)),
    MOTE,
    Variant("routing-random", "MoTE, routing random", ('model.routing="random"',)),
    Variant("routing-fixed", "MoTE, routing fixed (one expert)", ('model.routing="fixed"',)),
    Variant("tau-continuous", "MoTE, continuous tau", ('model.tau_sampling="continuous"',)),
    Variant("freeze-visual", "MoTE, image encoder frozen", ("model.freeze_visual=true",)),
    Variant("mote", "MoTE, modulation k = 1", tfm_k=1, modulation=(True,)),
    Variant("mote", "MoTE, modulation scale 0.1", tfm_scale=0.1, modulation=(True,)),
)


@dataclass
class DemoRow:
    variant: Variant
    modulation: bool
    close_set: float  # top-1 on the trained classes' test videos
    zero_shot: float  # top-1 on the unseen classes, mean over the splits
    zero_shot_std: float
    results_files: list[Path]  # close-set, zero-shot (per-class and per-video figures in CSV files beside them)
    zero_shot_results: dict = field(default_factory=dict, repr=False)  # with the per-class figures

    @property
    def harmonic_mean(self) -> float:
        from .eval.results import harmonic_mean

        return harmonic_mean([self.close_set, self.zero_shot])


@dataclass
class DemoData:
    train_config: Path  # datasets.toml of the trained classes
    zero_shot_config: Path  # datasets.toml of the unseen classes
    train_classes: list[str]
    zero_shot_classes: list[str]
    videos: dict[str, int] = field(default_factory=dict)  # test videos per protocol


@dataclass
class DemoReport:
    rows: list[DemoRow] = field(default_factory=list)
    data: DemoData | None = None
    pretraining: dict = field(default_factory=dict)  # metadata of the pretrained weights
    artefacts: dict[str, Path] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def chance(self) -> dict[str, float]:
        return {"close-set": 1 / len(self.data.train_classes), "zero-shot": 1 / len(self.data.zero_shot_classes)}


@dataclass(frozen=True)
class DemoRun:
    """Where and how this demo runs: what every fine-tuning and evaluation shares."""

    recipe_path: Path
    overrides: tuple[str, ...]
    weights: Path  # the pretrained tiny CLIP
    workdir: Path
    results_dir: Path
    device: str = "auto"
    workers: int | None = 0


class _Stage:
    """Logs a stage and records its wall time in the report."""

    def __init__(self, report: DemoReport, name: str) -> None:
        self.report, self.name = report, name

    def __enter__(self) -> None:
        log.info("demo: %s", self.name)
        self.started = time.perf_counter()

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self.started
        self.report.stage_seconds[self.name] = self.report.stage_seconds.get(self.name, 0.0) + seconds


def run_demo(*, workdir: Path, recipe_path: Path, overrides: Sequence[str] = (), plot: bool = True,
             ablation: bool = False, device: str = "auto", workers: int | None = 0,
             pretrained: Path | None = None, pretrain: "PretrainConfig | None" = None) -> DemoReport:
    """Every stage in order; see the module docstring. `pretrained`: a file `mote pretrain-tiny`
    wrote, used as it is; else `pretrain` (default: `mote pretrain-tiny`'s config) names the
    pretraining to take from the cache or run. `workers`: DataLoader processes of the
    evaluations (None = env.default_workers(); training takes the recipe's data.workers)."""
    started = time.perf_counter()
    report = DemoReport()
    if not recipe_path.is_file():
        raise MoteError(f"recipe {recipe_path}: no such file; run `mote demo` from the repository root or pass --recipe")
    with _Stage(report, "pretrained tiny CLIP"):
        weights = pretrained_clip(report, pretrain, file=pretrained)
    recipe = demo_recipe(recipe_path, overrides, weights=weights, workdir=workdir)
    with _Stage(report, "synthetic videos"):
        report.data = demo_videos(recipe)
    results_dir = workdir / ("ablation" if ablation else "results")
    run = DemoRun(recipe_path=recipe_path, overrides=tuple(overrides), weights=weights, workdir=workdir,
                  results_dir=results_dir, device=device, workers=workers)
    models: dict[str, Path] = {}
    for variant in ABLATION_VARIANTS if ablation else DEMO_VARIANTS:
        if variant.slug not in models:
            with _Stage(report, "fine-tune and merge" if variant.fine_tune else "plain CLIP"):
                models[variant.slug] = fine_tune(variant, run) if variant.fine_tune else plain_clip(recipe, report.data, run)
        with _Stage(report, "evaluate"):
            report.rows += evaluate_variant(variant, models[variant.slug], report.data, recipe=recipe, run=run)
    report.artefacts.update({
        "pretrained tiny CLIP": weights, "videos (trained classes)": report.data.train_config.parent,
        "videos (zero-shot classes)": report.data.zero_shot_config.parent, "training runs": workdir / "runs",
        "merged models": workdir / "models", "results (JSON)": results_dir,
    })
    if plot:
        with _Stage(report, "plots"):
            report.artefacts.update(draw_plots(report, results_dir))
    report.seconds = time.perf_counter() - started
    return report


def pretrained_clip(report: DemoReport, config: "PretrainConfig | None" = None, *, file: Path | None = None) -> Path:
    """Stage 1: `file`, or the cached pretrained tiny CLIP of `config` (pretrained now if the cache lacks it)."""
    from .pretrain.loop import PretrainConfig
    from .pretrain.store import ensure_pretrained, read_metadata

    if file is not None:
        meta = read_metadata(file)
        if meta is None:
            raise MoteError(f"--pretrained {file}: not a pretrained tiny-CLIP file; expected one `mote pretrain-tiny` wrote")
        report.pretraining = dict(meta, reused=True)
        return Path(file)
    weights = ensure_pretrained(config or PretrainConfig())
    report.pretraining = dict(weights.metadata, reused=weights.reused)
    return weights.path


def demo_recipe(recipe_path: Path, overrides: Sequence[str], *, weights: Path, workdir: Path, variant: Variant = MOTE):
    """The demo recipe with the pretrained weights, the user's overrides, then the variant's."""
    from .model.identity import TINY_MODEL
    from .train.recipe import load_recipe, with_output

    pretrained = f"model.pretrained={json.dumps(str(weights))}"
    recipe = load_recipe(recipe_path, [pretrained, *overrides, *variant.overrides])
    if not recipe.data.synthetic:
        raise MoteError(f"recipe {recipe_path}: the demo needs data.synthetic = true")
    if recipe.model.name != TINY_MODEL:
        raise MoteError(f"recipe {recipe_path}: model.name = {recipe.model.name!r}; the demo pretrains and uses {TINY_MODEL}")
    return with_output(recipe, workdir / "runs" / variant.slug)


def zero_shot_subjects(trained: Sequence[str]) -> tuple[str, ...]:
    """What the zero-shot classes show, never trained on. Coloured entries ("red circle"): the
    other pairings of the trained colours with the trained shapes and with the first two
    shapes of the world not trained on; plain shapes: every other shape of the world."""
    from .data.synth import parse_subject
    from .data.world import COLOUR_NAMES, SHAPES

    parsed = [parse_subject(t) for t in trained]
    shapes = list(dict.fromkeys(s for _, s in parsed))
    if all(colour is None for colour, _ in parsed):
        return tuple(s for s in SHAPES if s not in shapes)
    if any(colour is None for colour, _ in parsed):
        raise MoteError("data.synthetic_shapes: give every entry a colour (\"red circle\") or none")
    colours = sorted({c for c, _ in parsed}, key=COLOUR_NAMES.index)
    new = [s for s in SHAPES if s not in shapes][:2]
    return tuple(f"{c} {s}" for s in (*shapes, *new) for c in colours if f"{c} {s}" not in trained)


def demo_videos(recipe) -> DemoData:
    """Stage 2: the recipe's synthetic classes, and the same motions for `zero_shot_subjects`."""
    from .data.registry import load_dataset_split
    from .train.data import SYNTH_NAME, ensure_synthetic_dataset

    d = recipe.data
    unseen = zero_shot_subjects(d.synthetic_shapes)
    if not unseen:
        raise MoteError("the demo recipe trains on every shape of the world; leave some out for zero-shot classes")
    train_config = ensure_synthetic_dataset(
        videos_per_class=d.synthetic_videos_per_class, shapes=d.synthetic_shapes, directions=d.synthetic_directions)
    zero_shot_config = ensure_synthetic_dataset(
        videos_per_class=ZERO_SHOT_VIDEOS_PER_CLASS, shapes=unseen, directions=d.synthetic_directions)
    train = load_dataset_split(SYNTH_NAME, d.split, "test", config_path=train_config)
    zero = load_dataset_split(SYNTH_NAME, 1, "train", config_path=zero_shot_config)
    return DemoData(train_config=train_config, zero_shot_config=zero_shot_config,
                    train_classes=list(train.class_names), zero_shot_classes=list(zero.class_names),
                    videos={"close-set": len(train), "zero-shot": ZERO_SHOT_VIDEOS_PER_CLASS * len(zero.class_names)})


def fine_tune(variant: Variant, run: DemoRun) -> Path:
    """Stage 3: train (resuming a finished or killed run) and merge the experts."""
    from .merge.merge import merge_checkpoint
    from .train.loop import train

    recipe = demo_recipe(run.recipe_path, run.overrides, weights=run.weights, workdir=run.workdir, variant=variant)
    log.info("demo: fine-tuning %s (%s)", variant.slug, variant.label)
    trained = train(recipe, resume="auto", device=run.device)
    # The last epoch, not the best by validation: the validation videos are the close-set test videos.
    return merge_checkpoint(trained.output / "last.pt", out=run.workdir / "models" / f"{variant.slug}.safetensors").out


def plain_clip(recipe, data: DemoData, run: DemoRun) -> Path:
    """Stage 4: the pretrained CLIP as a merged model with a pass-through head (mean pooling)."""
    import torch

    from .merge.plain_clip import write_plain_clip
    from .text.encode import cached_text_embeddings
    from .text.labels import read_templates_file

    m = recipe.model
    text = cached_text_embeddings(model=m.name, pretrained=m.pretrained, quick_gelu=m.quick_gelu,
                                  class_names=data.train_classes,
                                  templates=read_templates_file(recipe.data.templates_file), device=run.device)
    return write_plain_clip(model=m.name, pretrained=m.pretrained, out=run.workdir / "models" / "clip.safetensors",
                            num_frames=m.num_frames, class_names=data.train_classes,
                            class_embeddings=torch.from_numpy(text.embeddings.embeddings)).out


def evaluate_variant(variant: Variant, checkpoint: Path, data: DemoData, *, recipe, run: DemoRun) -> list[DemoRow]:
    """Stage 5: close-set and zero-shot top-1 of one model, with and without modulation."""
    rows = []
    for modulation in variant.modulation:
        found = {protocol: _evaluate_protocol(variant, checkpoint, recipe=recipe, run=run, protocol=protocol,
                                              config=config, split=split, clips=clips, modulation=modulation)
                 for protocol, config, split, clips in (
                     ("close-set", data.train_config, str(recipe.data.split), 1),
                     ("zero-shot", data.zero_shot_config, ZERO_SHOT_SPLITS, ZERO_SHOT_CLIPS))}
        close, zero = (found[p][0]["runs"][0] for p in ("close-set", "zero-shot"))
        rows.append(DemoRow(variant=variant, modulation=modulation, close_set=close["top1_mean"],
                            zero_shot=zero["top1_mean"], zero_shot_std=zero["top1_std"],
                            results_files=[found[p][1] for p in ("close-set", "zero-shot")],
                            zero_shot_results=found["zero-shot"][0]))
    return rows


def _evaluate_protocol(variant: Variant, checkpoint: Path, *, recipe, run: DemoRun, protocol: str, config: Path,
                       split: str, clips: int, modulation: bool) -> tuple[dict, Path]:
    """One results file: (results with per-class figures in memory, its path)."""
    from .eval.report import results_path, write_eval_results
    from .eval.runner import EvalSettings, evaluate, split_sources
    from .text.labels import read_templates_file

    settings = EvalSettings(checkpoint=checkpoint, protocol=protocol, clips=clips, crops=1,
                            num_frames=recipe.model.num_frames, modulation=modulation,
                            scales=(variant.tfm_scale,), k=variant.tfm_k,
                            templates=read_templates_file(recipe.data.templates_file),
                            device=run.device, workers=run.workers)
    sources = split_sources(dataset="synth", split=split, list_file=None, labels=None, root=None,
                            config=config, store=None)
    # One column per protocol in `mote results`; the checkpoint tells the models apart.
    name = "trained-classes" if protocol == "close-set" else "unseen-classes"
    results = evaluate(sources, settings, name=name, dataset=None)
    results["settings"]["split"] = split
    eval_only = (variant.tfm_k, variant.tfm_scale) != (TFM_K, TFM_SCALE)
    # Eval-time settings go to a subfolder: the trade-off plot keeps one point per model.
    path = results_path(run.results_dir / "modulation-settings" if eval_only else run.results_dir, results, split)
    write_eval_results(path, results)
    return results, path


def trade_off_series(rows: Sequence[DemoRow]) -> dict:
    """The demo's points for eval's trade-off drawing (percent): one line per model through
    its modulation settings."""
    lines: dict[str, dict] = {}
    for row in rows:
        line = lines.setdefault(row.variant.label, dict(label=row.variant.label, points=[]))
        setting = (f"on (k={row.variant.tfm_k}, scale {row.variant.tfm_scale:g})" if row.modulation else "off")
        line["points"].append(dict(modulation=setting, x=100 * row.close_set, y=100 * row.zero_shot))
    # y "hm_zs" only picks draw_trade_off's default label, which plot_points replaces.
    return dict(y="hm_zs", lines=list(lines.values()), published=[], published_left_out=[])


def draw_plots(report: DemoReport, results_dir: Path) -> dict[str, Path]:
    """Stage 6: the trade-off of every model and MoTE's per-class zero-shot accuracy."""
    from .eval.plots import plot_per_class, plot_points

    chance = report.chance
    out = {"trade-off plot": plot_points(
        trade_off_series(report.rows), results_dir / "trade-off.png",
        xlabel=f"close-set top-1 (%): {len(report.data.train_classes)} trained classes "
               f"(chance {100 * chance['close-set']:.1f}, dotted)",
        ylabel=f"zero-shot top-1 (%): {len(report.data.zero_shot_classes)} unseen classes, mean of 3 splits "
               f"(chance {100 * chance['zero-shot']:.1f}, dotted)",
        title="mote demo: zero-shot vs close-set (filled: modulation on, hollow: off)",
        chance=(100 * chance["close-set"], 100 * chance["zero-shot"]))}
    mote = next((r for r in report.rows if r.variant == MOTE and r.modulation), None)
    if mote is not None:
        out["per-class plot (MoTE, zero-shot)"] = plot_per_class(mote.zero_shot_results,
                                                                 results_dir / "zero-shot-per-class.png")
    return out
