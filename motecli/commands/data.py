"""`mote decode` and `mote synth`: option parsing only; the work is in motecli.decode and motecli.data.synth."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app, complete_dataset, finish_skipped
from ..errors import MoteError


@app.command("decode")
def decode(
    dataset: Optional[str] = typer.Option(None, "--dataset", metavar="NAME", help="Dataset name in datasets.toml ($MOTE_DATASETS).",
                                          autocompletion=complete_dataset),
    split: int = typer.Option(1, "--split", metavar="N", help="Split number (1-based)."),
    subset: str = typer.Option("train", "--subset", metavar="train|test", help="train or test."),
    list_file: Optional[Path] = typer.Option(None, "--list", metavar="FILE", help="Generic list: 'relative/path LABEL' per line."),
    labels: Optional[Path] = typer.Option(None, "--labels", metavar="FILE", help="Labels file for --list (one name per line or CSV id,name)."),
    root: Optional[Path] = typer.Option(None, "--root", metavar="DIR", help="Video root for --list."),
    config: Optional[Path] = typer.Option(None, "--datasets-config", metavar="FILE", help="datasets.toml to read (default $MOTE_DATASETS or ./datasets.toml)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Store folder (default: the dataset's frame_store, else cache/frames/...)."),
    workers: Optional[int] = typer.Option(None, "--workers", metavar="N", help="Decoding processes (default: one per CPU)."),
    short_side: int = typer.Option(256, "--short-side", metavar="PIXELS", help="Resize so the short side has this many pixels."),
    max_frames: int = typer.Option(64, "--max-frames", metavar="N", help="Keep at most this many frames per video, spread uniformly."),
    fmt: str = typer.Option("jpeg", "--format", metavar="jpeg|raw", help="jpeg or raw uint8."),
    jpeg_quality: int = typer.Option(90, "--jpeg-quality", metavar="1-100", help="JPEG quality for --format jpeg."),
    shard_size: int = typer.Option(32, "--shard-size", metavar="N", help="Videos per shard file (the unit of resuming)."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", metavar="SECONDS",
        help="Seconds one video may take (default $MOTE_DECODE_TIMEOUT_S, else 60); a video that hangs is recorded and skipped.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    retry_hung: bool = typer.Option(
        False, "--retry-hung", help="Try the videos of the hung-videos registry again (and re-decode their shards).",
    ),
) -> None:
    """Decode a dataset split or a list once into a resumable frame store."""
    from ..data.registry import select_videos
    from ..decode.runner import decode_to_store
    from ..decode.shard import StoreSettings

    chosen = select_videos(dataset=dataset, split=split, subset=subset, list_file=list_file, labels=labels, root=root,
                           config=config)
    if timeout is not None and not timeout > 0:
        raise MoteError(f"--timeout {timeout}: expected a positive number of seconds")
    limit = {} if timeout is None else {"timeout_s": timeout}
    settings = StoreSettings(
        short_side=short_side, max_frames=max_frames, format=fmt, jpeg_quality=jpeg_quality, shard_size=shard_size,
        **limit,
    )
    if workers is None:
        from ..env import cpu_count

        workers = cpu_count()  # the supervising process only waits
    summary = decode_to_store(chosen.videos, out or chosen.default_store(), settings=settings, workers=workers, progress=progress,
                              retry_hung=retry_hung)
    typer.echo(f"mote decode: {summary.line()}")
    finish_skipped(summary.failed, f"the frame store {summary.store}")


@app.command("synth")
def synth(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Folder to write the dataset into."),
    videos_per_class: int = typer.Option(6, "--videos-per-class", metavar="N", help="Videos per class."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of the generated videos."),
    bad_files: bool = typer.Option(False, "--bad-files", help="Also write broken files and a synth_bad list."),
    shapes: str = typer.Option("circle,square", "--shapes", metavar="SHAPE,...",
                               help="Comma list of circle, square, triangle, diamond, cross, ring."),
) -> None:
    """Write a small synthetic video dataset (shapes moving in four directions) in every layout."""
    from ..data.synth import make_synthetic_dataset
    from ..data.world import SHAPES
    from ..errors import MoteError

    chosen = tuple(s.strip() for s in shapes.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SHAPES]
    if unknown or not chosen:
        raise MoteError(f"--shapes {shapes!r}: expected a comma list of {', '.join(SHAPES)}")
    ds = make_synthetic_dataset(out_dir, videos_per_class=videos_per_class, seed=seed, bad_files=bad_files,
                                shapes=chosen)
    typer.echo(f"mote synth: {len(ds.videos)} videos, {len(ds.class_names)} classes; datasets in {ds.config}")
