"""Cost of reading one video for evaluation (3 clips x 8 frames) by backend.

Side by side in one process, one torch thread, on videos written here with PyAV at
320x240, 250 frames (10 s at 25 fps, Kinetics-like), with per-frame grain so decoding
costs roughly what camera footage does:

- h264.mp4   H.264 with B-frames: `auto` gives it to decord
- xvid.avi   MPEG-4 part 2 with B-frames in AVI (as UCF-101/HMDB-51): `auto` gives it
             to PyAV (decord returns wrong frames, decord #195)
- mpeg4.avi  MPEG-4 part 2 in AVI without B-frames: `auto` probes the header, then decord

For each: median ms per video over --repeats reads of every video, backends decord,
pyav and auto.

Usage:  .venv/bin/python benchmarks/bench_video_backends.py [--videos 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch  # before decord (decord #251)
import av
import numpy as np

from motecli.data.sampling import eval_indices
from motecli.data.video import read_video

FRAMES, H, W = 250, 240, 320


def write(path: Path, codec: str, options: dict, tag: str | None, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if tag:
            stream.codec_context.codec_tag = tag
        yy, xx = np.mgrid[0:H, 0:W]
        for i in range(FRAMES):
            img = ((xx + 3 * i) % 256)[..., None] * np.array([1.0, 0.6, 0.3]) + rng.normal(0, 30, (H, W, 3))
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


KINDS = {
    "h264.mp4": ("libx264", {"bf": "3", "g": "50", "crf": "23"}, None),
    "xvid.avi": ("mpeg4", {"bf": "2", "qscale": "4"}, "XVID"),
    "mpeg4.avi": ("mpeg4", {"qscale": "4"}, "XVID"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pick = lambda n: eval_indices(n, num_frames=8, num_clips=3)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        print(f"| video | backend | ms per video (median of {args.repeats}) | read by (auto) |")
        print("|---|---|---|---|")
        for kind, (codec, options, tag) in KINDS.items():
            paths = [write(Path(tmp) / f"{i}-{kind}", codec, options, tag, i) for i in range(args.videos)]
            for backend in ("decord", "pyav", "auto"):
                read_video(str(paths[0]), pick, timeout_s=None, backend=backend)  # warm-up
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    reads = [read_video(str(p), pick, timeout_s=None, backend=backend) for p in paths]
                    times.append((time.perf_counter() - start) / len(paths) * 1000)
                who = reads[0].backend if backend == "auto" else ""
                print(f"| {kind} | {backend} | {statistics.median(times):.1f} | {who} |", flush=True)


if __name__ == "__main__":
    main()
