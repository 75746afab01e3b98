"""Commands of the evaluate stage: `encode-frames`, `eval`, `few-shot-lists`, `few-shot-head`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import app, complete_dataset, finish_skipped
from ..constants import FEW_SHOT_KS, TFM_K, TFM_SCALE, ZERO_SHOT_PATCH_ALPHA
from ..errors import MoteError

CHECKPOINT_HELP = "Merged model from `mote merge` (default: $MOTE_CHECKPOINT, else cache/checkpoints/merged.safetensors)."
_dataset = typer.Option(None, "--dataset", "-d", metavar="NAME", help="Dataset name from datasets.toml ($MOTE_DATASETS).",
                        autocompletion=complete_dataset)
_datasets = typer.Option(None, "--dataset", "-d", metavar="NAME",
                         help="Dataset name from datasets.toml ($MOTE_DATASETS); repeat for several in one call.",
                         autocompletion=complete_dataset)
_from_videos = typer.Option(False, "--from-videos", help="Decode the videos instead of using the frame cache.")
_head_cache = typer.Option(True, "--head-cache/--no-head-cache",
                           help="Score from the checkpoint's head cache (matrix products); off: the head on frame features.")
_list = typer.Option(None, "--list", metavar="FILE", help="Video list: 'relative/path LABEL' per line (instead of --dataset).")
_labels = typer.Option(None, "--labels", metavar="FILE", help="Class names for --list: one per line or CSV id,name.")
_root = typer.Option(None, "--root", metavar="DIR", help="Folder the --list paths are relative to.")
_config = typer.Option(None, "--datasets-config", metavar="FILE", help="datasets.toml to read (default $MOTE_DATASETS or ./datasets.toml).")
_store = typer.Option(None, "--store", metavar="DIR", help="Read frames from this `mote decode` frame store instead of the videos.")
_checkpoint = typer.Option(None, "--checkpoint", "-c", metavar="FILE", help=CHECKPOINT_HELP)
_frames = typer.Option(None, "--frames", "-T", metavar="T", help="Frames per clip (default: the model's, 8).")
_clips = typer.Option(None, "--clips", metavar="N", help="Clips per video (default: zero-shot 3, close-set by --views).")
_crops = typer.Option(None, "--crops", metavar="1|3", help="Crops per clip, 1 or 3 (default: zero-shot 1, close-set by --views).")
_views = typer.Option(None, "--views", metavar="1x1|4x3", help="Close-set views: 1x1 (default) or 4x3.")
_protocol = typer.Option("zero-shot", "--protocol", metavar="zero-shot|close-set", help="zero-shot (3x1 views) or close-set (--views).")
_patch = typer.Option(None, "--patch-alpha", metavar="ALPHA", help=f"Mix image-encoder weights alpha*fine-tuned + (1-alpha)*--original (release zero-shot: {ZERO_SHOT_PATCH_ALPHA}).")
_original = typer.Option(None, "--original", metavar="WEIGHTS", help="Original CLIP weights for --patch-alpha: open_clip tag or local file.")
_batch = typer.Option(None, "--batch-size", "-b", metavar="N",
                      help="Videos per batch when encoding frames (default: what --batch-frames allows).")
_batch_frames = typer.Option(None, "--batch-frames", metavar="N",
                             help="Frames per image-encoder call (default 512 on a GPU, 128 on CPU).")
_workers = typer.Option(None, "--workers", "-j", metavar="N",
                        help="DataLoader processes decoding videos (default: min(8, CPUs - 1)).")
_device = typer.Option("auto", "--device", metavar="DEVICE",
                       help="auto (a GPU when CUDA is available, else the CPU), cpu, cuda or cuda:N.")
_precision = typer.Option("auto", "--precision", metavar="auto|fp32|bf16|fp16",
                          help="Image encoder: auto (bf16 on a GPU that has it, else fp16; fp32 on CPU), fp32, bf16 or fp16.")
_shard = typer.Option(64, "--shard-size", metavar="N", help="Videos per cache shard (the unit of resume).")


def _checkpoint_path(checkpoint: Optional[Path]) -> Path:
    """The merged model, checked to be a file before torch is imported."""
    from ..env import default_checkpoint
    from ..textfile import require_file

    return require_file(checkpoint or default_checkpoint(), "merged model",
                        expected="a merged model file (written by `mote merge`)",
                        missing="pass --checkpoint FILE (written by `mote merge`) or set $MOTE_CHECKPOINT")


def _num_frames(checkpoint: Path, frames: Optional[int]) -> int:
    from ..checkpoints.merged import read_merged_metadata

    return frames or int(read_merged_metadata(checkpoint)["model_config"]["num_frames"])


@app.command("encode-frames")
def encode_frames_cmd(
    dataset: Optional[str] = _dataset,
    split: int = typer.Option(1, "--split", metavar="N", help="Split number (1-based)."),
    subset: str = typer.Option("test", "--subset", metavar="train|test", help="train or test."),
    list_file: Optional[Path] = _list, labels: Optional[Path] = _labels, root: Optional[Path] = _root,
    config: Optional[Path] = _config, store: Optional[Path] = _store, checkpoint: Optional[Path] = _checkpoint,
    frames: Optional[int] = _frames, clips: Optional[int] = _clips, crops: Optional[int] = _crops,
    views: Optional[str] = _views, protocol: str = _protocol,
    patch_alpha: Optional[float] = _patch, original: Optional[str] = _original,
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", metavar="DIR",
        help="Cache folder (default cache/frames/embeddings/<collection>-<key>, shared by the splits of a dataset)."),
    shard_size: int = _shard, batch_size: Optional[int] = _batch, batch_frames: Optional[int] = _batch_frames,
    workers: Optional[int] = _workers, device: str = _device, precision: str = _precision,
) -> None:
    """CLIP features of every frame of every view into the HDF5 cache; resumable; torchrun's or srun's ranks split the work."""
    from rich.console import Console

    from ..cache.encode import encode_frames
    from ..cache.source import resolve_source
    from ..eval.protocols import resolve_views

    checkpoint = _checkpoint_path(checkpoint)
    clips, crops = resolve_views(protocol=protocol, views=views, clips=clips, crops=crops)
    source = resolve_source(dataset=dataset, split=split, subset=subset, list_file=list_file, labels=labels,
                            root=root, config=config, store=store)
    result = encode_frames(source, checkpoint=checkpoint, num_frames=_num_frames(checkpoint, frames), clips=clips,
                           crops=crops, out=out, shard_size=shard_size, batch_size=batch_size,
                           batch_frames=batch_frames, workers=workers, device=device, precision=precision,
                           patch_alpha=patch_alpha, original=original)
    console = Console(soft_wrap=True)  # paths stay whole, to copy
    console.print(str(result.cache.path))
    where = f" on {result.device} in {result.precision}" if result.device else ""
    console.print(
        f"{result.encoded_videos} videos encoded in {result.encoded_shards} shards{where} ({result.failed_videos} "
        f"undecodable, excluded), {result.seconds:.1f} s; cache {'complete' if result.complete else 'incomplete (other ranks)'}"
        f", {result.cache.count} videos, {clips}x{crops} views"
    )
    if result.backends:
        console.print("read by: " + ", ".join(f"{k} x{v}" for k, v in sorted(result.backends.items())))
    if result.timings:
        t = result.timings
        console.print(f"time: {t['wait_for_frames_s']:.1f} s waiting for decoded frames, {t['encoder_s']:.1f} s in the "
                      f"image encoder, {t['write_s']:.1f} s writing shards")
    finish_skipped(len(result.cache.failures()) if result.complete else result.failed_videos,
                   f"the frame cache {result.cache.path}")


@app.command("eval")
def eval_cmd(
    datasets: Optional[List[str]] = _datasets,
    split: str = typer.Option("1", "--split", metavar="N|all", help="1, 2, 3 or all (mean ± std over the splits)."),
    list_file: Optional[Path] = _list, labels: Optional[Path] = _labels, root: Optional[Path] = _root,
    config: Optional[Path] = _config, store: Optional[Path] = _store,
    checkpoint: List[str] = typer.Option(
        [], "--checkpoint", "-c", metavar="FILE",
        help="Merged model(s) from `mote merge`: repeat, or a quoted glob ('runs/*/merged.safetensors'); "
             "default $MOTE_CHECKPOINT, else cache/checkpoints/merged.safetensors.",
    ),
    frames: Optional[int] = _frames, clips: Optional[int] = _clips, crops: Optional[int] = _crops,
    views: Optional[str] = _views, protocol: str = _protocol,
    modulation: bool = typer.Option(True, "--modulation/--no-modulation", help="Temporal feature modulation (on, as the release)."),
    tfm_scale: List[str] = typer.Option([], "--tfm-scale", metavar="SCALES", help=f"Modulation scale lambda (default {TFM_SCALE}); repeat or comma list to sweep."),
    tfm_k: List[str] = typer.Option([], "--tfm-k", metavar="KS", help=f"Modulation neighbours k (default {TFM_K}); repeat or comma list to sweep."),
    half_classes: bool = typer.Option(False, "--half-classes", help="Also 10 seeded halves of the classes (numpy seeds 0..9)."),
    patch_alpha: Optional[float] = _patch, original: Optional[str] = _original,
    templates: Optional[Path] = typer.Option(None, "--templates", metavar="FILE", help="Prompt templates file (default: the 28)."),
    text_pretrained: Optional[str] = typer.Option(None, "--text-pretrained", metavar="WEIGHTS", help="Text-encoder weights (tag or file) if not the checkpoint's."),
    from_videos: bool = _from_videos, head_cache: bool = _head_cache,
    results_dir: Path = typer.Option(Path("results"), "--results-dir", metavar="DIR", help="Where the results JSON goes (HM_ZS, `mote results` read it)."),
    plot: bool = typer.Option(
        False, "--plot", help="Also draw PNGs: per-class accuracy of each file; for the results folder the trade-off "
                              "beside the published results and per-dataset bars (needs matplotlib).",
    ),
    shard_size: int = _shard, batch_size: Optional[int] = _batch, batch_frames: Optional[int] = _batch_frames,
    workers: Optional[int] = _workers, device: str = _device, precision: str = _precision,
) -> None:
    """Top-1 / top-5 from the frame, head and text caches; several checkpoints and datasets per call."""
    from ..env import default_checkpoint
    from ..eval.batch import expand_checkpoints
    from ..eval.protocols import parse_ks, parse_scales, resolve_views, split_sources
    from ..text.labels import read_templates_file

    # Torch-free checks first (files, lists, options): a bad argument fails in a fraction of a second.
    checkpoints = [_checkpoint_path(path) for path in expand_checkpoints(checkpoint, default=default_checkpoint())]
    clips, crops = resolve_views(protocol=protocol, views=views, clips=clips, crops=crops)
    ks, scales, template_list = parse_ks(tfm_k), parse_scales(tfm_scale), read_templates_file(templates)
    groups = [split_sources(dataset=dataset, split=split, list_file=list_file, labels=labels, root=root,
                            config=config, store=store) for dataset in (datasets or [None])]
    if plot:
        from ..eval.plots import require_matplotlib

        require_matplotlib()  # fail before the evaluation, not after it

    from ..eval.runner import EvalSettings

    settings = EvalSettings(
        checkpoint=checkpoints[0], protocol=protocol, clips=clips, crops=crops, num_frames=0,  # T: per checkpoint
        modulation=modulation, scales=scales, k=ks[0], ks=ks, templates=template_list,
        half_classes=half_classes, patch_alpha=patch_alpha, original=original, text_pretrained=text_pretrained,
        from_videos=from_videos, head_cache=head_cache, batch_size=batch_size, workers=workers, device=device,
        shard_size=shard_size, precision=precision, batch_frames=batch_frames,
    )
    _evaluate_groups(groups, checkpoints=checkpoints, settings=settings, frames=frames, results_dir=results_dir,
                     split=split, plot=plot)


def _evaluate_groups(groups, *, checkpoints, settings, frames, results_dir: Path, split: str, plot: bool) -> None:
    """Every dataset with every checkpoint, printing as results come; exit 3 under
    --fail-on-skipped when a split excluded unreadable videos."""
    from ..eval.batch import evaluate_checkpoints

    excluded = []
    for sources in groups:  # one results file per dataset and checkpoint; the rows cover them all
        done, rows = evaluate_checkpoints(checkpoints=checkpoints, settings=settings, frames=frames, sources=sources,
                                          out_dir=results_dir, split_spec=split,
                                          on_result=lambda done: _print_result(done, plot=plot))
        excluded += [r["excluded"] for d in done for run in d.results["runs"] for r in run["splits"]]
    _print_folder(rows, results_dir=results_dir, plot=plot)
    finish_skipped(max(excluded, default=0), f"the evaluation ({results_dir})")


def _print_result(done, *, plot: bool) -> None:
    """One checkpoint's table and results file (and its per-class plot), as soon as it is evaluated."""
    from rich.console import Console

    from ..eval.report import results_table

    console = Console(soft_wrap=True)  # paths stay whole, to copy
    console.print(results_table(done.results))
    console.print(str(done.path))
    if plot:
        from ..eval.plots import plot_per_class

        console.print(str(plot_per_class(done.results, done.path.with_suffix(".per-class.png"))))


def _print_folder(rows, *, results_dir: Path, plot: bool) -> None:
    """The results folder across checkpoints: its table, where each HM_ZS comes from, its plots."""
    from rich.console import Console

    from ..eval.results import to_text

    console = Console(soft_wrap=True)
    console.print(to_text(rows, title=f"{results_dir}: the evaluated checkpoints across the folder's results files"), markup=False)
    for row in rows:
        if row.hm_zs is not None:
            console.print(f"HM_ZS of {row.checkpoint} ({row.modulation}) from: {', '.join(row.files)}")
    if plot:
        from ..eval.plots import plot_results

        for png in plot_results(results_dir, Path(results_dir)):
            console.print(str(png))


@app.command("few-shot-lists")
def few_shot_lists_cmd(
    dataset: Optional[str] = _dataset,
    split: int = typer.Option(1, "--split", metavar="N", help="Split whose train subset is drawn from."),
    list_file: Optional[Path] = _list, labels: Optional[Path] = _labels, root: Optional[Path] = _root,
    config: Optional[Path] = _config,
    shots: str = typer.Option(",".join(map(str, FEW_SHOT_KS)), "--shots", metavar="KS", help="K values, comma separated."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of the draw."),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Folder for the list files."),
) -> None:
    """Draw K training videos per class (seeded), repeated to the size of the full train split."""
    from rich.console import Console

    from ..cache.source import resolve_source
    from ..eval.fewshot import parse_shots, write_few_shot_lists

    ks = parse_shots(shots)
    source = resolve_source(dataset=dataset, split=split, subset="train", list_file=list_file, labels=labels,
                            root=root, config=config)
    written = write_few_shot_lists(source, shots=ks, seed=seed, out_dir=out)
    console = Console(soft_wrap=True)  # paths stay whole, to copy
    for item in written:
        console.print(f"{item.path}  K={item.k}: {item.unique} videos drawn, {item.total} lines")


@app.command("few-shot-head")
def few_shot_head_cmd(
    train_list: Path = typer.Option(..., "--train-list", metavar="FILE", help="K-shot list from `mote few-shot-lists`."),
    labels: Path = typer.Option(..., "--labels", metavar="FILE", help="Class names of the list."),
    root: Path = typer.Option(..., "--root", metavar="DIR", help="Folder the list paths are relative to."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", metavar="NAME", help="Test split from datasets.toml ...",
                                          autocompletion=complete_dataset),
    split: int = typer.Option(1, "--split", metavar="N", help="... its split number."),
    test_list: Optional[Path] = typer.Option(None, "--test-list", metavar="FILE", help="... or a test list (same --labels, --root)."),
    config: Optional[Path] = _config, checkpoint: Optional[Path] = _checkpoint, frames: Optional[int] = _frames,
    epochs: int = typer.Option(10, "--epochs", metavar="N", help="Passes over the (repeated) K-shot list."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of head training."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", metavar="DIR", help="Where the results JSON goes."),
    batch_size: Optional[int] = _batch, workers: Optional[int] = _workers, device: str = _device,
    precision: str = _precision,
) -> None:
    """Train only the temporal head on cached frame features (CLIP frozen), then evaluate with one view."""
    from rich.console import Console

    from ..cache.source import resolve_source
    from ..eval.fewshot import few_shot_head
    from ..text.labels import read_templates_file

    checkpoint = _checkpoint_path(checkpoint)
    train = resolve_source(list_file=train_list, labels=labels, root=root)
    if (dataset is None) == (test_list is None):
        raise MoteError("few-shot-head: pass the test split as --dataset NAME or as --test-list FILE (one of them)")
    test = (resolve_source(dataset=dataset, split=split, config=config) if dataset
            else resolve_source(list_file=test_list, labels=labels, root=root))
    out = few_shot_head(train=train, test=test, checkpoint=checkpoint, num_frames=_num_frames(checkpoint, frames),
                        epochs=epochs, seed=seed, templates=read_templates_file(None), results_dir=results_dir,
                        batch_size=batch_size, workers=workers, device=device, precision=precision)
    top5 = "-" if out["top5"] is None else f"{100 * out['top5']:.2f}"  # None with 5 classes or fewer
    Console(soft_wrap=True).print(f"few-shot head: top-1 {100 * out['top1']:.2f}, top-5 {top5} on {out['videos']} "
                    f"videos ({out['excluded']} excluded), {out['train_seconds']:.1f} s training; {out['results_file']}")
