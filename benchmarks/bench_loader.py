"""Training-loader throughput: decode + sample + augment, T=8, 224 crops, clips/s.

Side by side in one run, single process, one torch thread (the unit a DataLoader
worker gives you):

- naive:       decode the whole video with decord, then PIL transforms frame by frame
               (Resize 256 bicubic, the same GroupRandomSizedCrop box, bilinear resize, flip,
               grayscale, ToTensor, Normalize: the release's pipeline)
- videos:      ClipDataset over the video files (decode only the T sampled frames,
               one batched tensor transform per clip)
- store-jpeg / store-raw: ClipDataset over a frame store written by decode_to_store

Usage:  .venv/bin/python benchmarks/bench_loader.py [--videos-per-class 2] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch  # before decord (decord #251)
import decord
import numpy as np
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from motecli.constants import CLIP_MEAN, CLIP_STD
from motecli.data.dataset import ClipDataset
from motecli.data.layouts import VideoList
from motecli.data.sampling import train_indices
from motecli.data.synth import make_synthetic_dataset
from motecli.data.transforms import draw_clip_augment, resized_size
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings

NUM_FRAMES = 8


def naive_clip(path: str, rng: np.random.Generator) -> torch.Tensor:
    vr = decord.VideoReader(path, num_threads=1)
    frames = vr.get_batch(list(range(len(vr)))).asnumpy()  # the whole video
    idx = train_indices(len(frames), num_frames=NUM_FRAMES, rng=rng)
    h, w = resized_size(*frames.shape[1:3], 256)
    aug = draw_clip_augment(h, w, rng=rng)
    normalize = T.Normalize(CLIP_MEAN, CLIP_STD)
    out = []
    for i in idx:
        img = T.Resize(256, T.InterpolationMode.BICUBIC)(Image.fromarray(frames[i]))
        if aug.fallback:
            img = TF.crop(T.Resize(224)(img), aug.top, aug.left, 224, 224)
        else:
            img = TF.resized_crop(img, aug.top, aug.left, aug.height, aug.width, [224, 224])
        if aug.flip:
            img = TF.hflip(img)
        if aug.grayscale:
            img = TF.to_grayscale(img, num_output_channels=3)
        out.append(normalize(TF.to_tensor(img)))
    return torch.stack(out)


def clips_per_second(fn, count: int, repeats: int) -> tuple[float, list[float]]:
    rates = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fn(i, r)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=2)
    parser.add_argument("--frames", type=int, nargs=2, default=(250, 300))
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--grain", type=int, default=30, help="per-frame noise amplitude (0 = flat frames)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ds = make_synthetic_dataset(tmp / "d", videos_per_class=args.videos_per_class, frames_range=tuple(args.frames),
                                    height=args.size[0], width=args.size[1], grain=args.grain)
        videos = VideoList(tmp / "d/videos", [(v.rel, v.label) for v in ds.videos], ds.class_names, "bench")
        n = len(videos)
        stores, sizes, decode_s = {}, {}, {}
        for fmt in ("jpeg", "raw"):
            start = time.perf_counter()
            summary = decode_to_store(videos, tmp / fmt, settings=StoreSettings(format=fmt), workers=2, progress=False)
            decode_s[fmt] = time.perf_counter() - start
            stores[fmt], sizes[fmt] = ClipDataset(store=tmp / fmt), summary.bytes / n
        from_videos = ClipDataset(videos)
        runs = {
            "naive (whole video + PIL per frame)": lambda i, r: naive_clip(str(videos.path(i)), np.random.default_rng([r, i])),
            "ClipDataset from videos": lambda i, r: (from_videos.set_epoch(r), from_videos[i]),
            "ClipDataset from store (jpeg)": lambda i, r: (stores["jpeg"].set_epoch(r), stores["jpeg"][i]),
            "ClipDataset from store (raw)": lambda i, r: (stores["raw"].set_epoch(r), stores["raw"][i]),
        }
        results = {name: clips_per_second(fn, n, args.repeats) for name, fn in runs.items()}
    base = next(iter(results.values()))[0]
    lines = [
        f"{n} synthetic videos, {args.size[1]}x{args.size[0]}, {args.frames[0]}-{args.frames[1]} frames (mpeg4, GOP 12), "
        f"grain {args.grain}; "
        f"T={NUM_FRAMES}, 224 crops, 1 process, 1 torch thread; median of {args.repeats} passes.",
        "",
        "| loader | clips/s (median) | all passes | vs naive |",
        "|---|---|---|---|",
    ]
    for name, (median, rates) in results.items():
        lines.append(f"| {name} | {median:.1f} | {' '.join(f'{r:.1f}' for r in rates)} | {median / base:.1f}x |")
    lines += [
        "",
        "| frame store (short side 256, <= 64 frames) | size per video | decode time, 2 workers |",
        "|---|---|---|",
    ]
    for fmt in ("jpeg", "raw"):
        lines.append(f"| {fmt} | {sizes[fmt] / 2**20:.2f} MiB | {decode_s[fmt]:.1f} s for {n} videos |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
