"""`mote decode` and `mote synth`: option parsing only; the work is in motecli.decode and motecli.data.synth."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app
from ..errors import MoteError


@app.command("decode")
def decode(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset name in datasets.toml ($MOTE_DATASETS)."),
    split: int = typer.Option(1, "--split", help="Split number (1-based)."),
    subset: str = typer.Option("train", "--subset", help="train or test."),
    list_file: Optional[Path] = typer.Option(None, "--list", help="Generic list: 'relative/path LABEL' per line."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file for --list (one name per line or CSV id,name)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Video root for --list."),
    out: Optional[Path] = typer.Option(None, "--out", help="Store folder (default: the dataset's frame_store, else cache/frames/...)."),
    workers: int = typer.Option(1, "--workers", help="Decoding processes."),
    short_side: int = typer.Option(256, "--short-side", help="Resize so the short side has this many pixels."),
    max_frames: int = typer.Option(64, "--max-frames", help="Keep at most this many frames per video, spread uniformly."),
    fmt: str = typer.Option("jpeg", "--format", help="jpeg or raw uint8."),
    jpeg_quality: int = typer.Option(90, "--jpeg-quality", help="JPEG quality for --format jpeg."),
    shard_size: int = typer.Option(32, "--shard-size", help="Videos per shard file (the unit of resuming)."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout",
        help="Seconds one video may take (default $MOTE_DECODE_TIMEOUT_S, else 60); a video that hangs is recorded and skipped.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    retry_hung: bool = typer.Option(
        False, "--retry-hung", help="Try the videos of the hung-videos registry again (and re-decode their shards).",
    ),
) -> None:
    """Decode a dataset split or a list once into a resumable frame store."""
    from ..data.layouts import load_video_list
    from ..data.registry import load_dataset_split, store_path
    from ..decode.runner import decode_to_store
    from ..decode.shard import StoreSettings

    if (dataset is None) == (list_file is None):
        raise MoteError("give either --dataset NAME or --list FILE --labels FILE --root DIR")
    if dataset is not None:
        videos = load_dataset_split(dataset, split, subset)
        out = out or store_path(dataset, split, subset)
    else:
        if labels is None or root is None:
            raise MoteError("--list needs --labels FILE and --root DIR")
        videos = load_video_list(list_file, labels, root)
        if out is None:
            from ..env import cache_root

            out = cache_root() / "frames" / f"list-{videos.fingerprint()[:12]}"
    if timeout is not None and not timeout > 0:
        raise MoteError(f"--timeout {timeout}: expected a positive number of seconds")
    limit = {} if timeout is None else {"timeout_s": timeout}
    settings = StoreSettings(
        short_side=short_side, max_frames=max_frames, format=fmt, jpeg_quality=jpeg_quality, shard_size=shard_size,
        **limit,
    )
    summary = decode_to_store(videos, out, settings=settings, workers=workers, progress=progress, retry_hung=retry_hung)
    typer.echo(f"mote decode: {summary.line()}")


@app.command("synth")
def synth(
    out_dir: Path = typer.Argument(..., help="Folder to write the dataset into."),
    videos_per_class: int = typer.Option(6, "--videos-per-class"),
    seed: int = typer.Option(0, "--seed"),
    bad_files: bool = typer.Option(False, "--bad-files", help="Also write broken files and a synth_bad list."),
) -> None:
    """Write a small synthetic video dataset (shapes moving in four directions) in every layout."""
    from ..data.synth import make_synthetic_dataset

    ds = make_synthetic_dataset(out_dir, videos_per_class=videos_per_class, seed=seed, bad_files=bad_files)
    typer.echo(f"mote synth: {len(ds.videos)} videos, {len(ds.class_names)} classes; datasets in {ds.config}")
