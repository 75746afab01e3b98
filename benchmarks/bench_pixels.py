"""Test-view resizing: the PIL path mote uses against torch tensor paths, speed and agreement.

For each frame size, side by side in one process, one torch thread, 24 frames (3 clips x 8
frames, the zero-shot views), bicubic resize of the short side to 224 (long side truncated,
as torchvision's Resize computes it):

- pil:         PIL, frame by frame (motecli.data.transforms.scale_short_side; the release's path)
- torch-aa:    torchvision.transforms.v2.functional.resize on the uint8 batch, antialias=True
               (mote's tensor path before pixel version 2)
- torch-exact: a re-implementation of PIL's fixed-point two-pass resampling in torch
               (int32 taps, rounding between the passes), to see whether exact could be fast

Agreement is against torchvision's PIL path on the same frames (uniform noise, the worst
case, and smooth content): the largest difference in grey levels and the share of values
that differ at all. The issue's tolerance: at most 2/255 on at most 0.5 % of values.

A second table does the same for the training crop's resize (a crop of the 256-scaled
frame resized to 224 x 224, bilinear), 8 frames: PIL against torch's uint8 bilinear.

Usage:  .venv/bin/python benchmarks/bench_pixels.py [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from motecli.data.transforms import resized_size, scale_short_side

SIZES = [(320, 240), (340, 256), (171, 128), (480, 270), (240, 320), (200, 150), (1920, 1080)]
FRAMES = 24
PRECISION_BITS = 22  # PIL's fixed point (libImaging/Resample.c)


def content(width: int, height: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, size=(FRAMES, height, width, 3), dtype=np.uint8)
    small = torch.from_numpy(rng.integers(0, 256, size=(FRAMES, 3, height // 8 + 1, width // 8 + 1)).astype(np.float32))
    x = torch.nn.functional.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def torch_aa(frames: np.ndarray) -> np.ndarray:
    h, w = resized_size(frames.shape[1], frames.shape[2], 224)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)
    return F.resize(x, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True).permute(0, 2, 3, 1).numpy()


def _bicubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, (1.5 * x - 2.5) * x * x + 1, np.where(x < 2, (((x - 5) * x + 8) * x - 4) * -0.5, 0.0))


def _taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL's precompute_coeffs + normalize_coeffs_8bpc for the bicubic filter: [out, k] indices and int weights."""
    scale = in_size / out_size
    support = 2.0 * max(scale, 1.0)
    k = int(math.ceil(support)) * 2 + 1
    centre = (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((centre - support + 0.5).astype(np.int64), 0)
    count = np.minimum((centre + support + 0.5).astype(np.int64), in_size) - lo
    taps = np.arange(k)
    valid = taps[None] < count[:, None]
    w = np.where(valid, _bicubic((taps[None] + lo[:, None] - centre[:, None] + 0.5) / max(scale, 1.0)), 0.0)
    w = w / w.sum(1, keepdims=True)
    fixed = np.trunc(np.where(w < 0, w * (1 << PRECISION_BITS) - 0.5, w * (1 << PRECISION_BITS) + 0.5)).astype(np.int32)
    return torch.from_numpy(np.where(valid, lo[:, None] + taps[None], lo[:, None])), torch.from_numpy(fixed)


def _pass(x: torch.Tensor, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """int32 [L, R] -> int32 [out, R]: one resampling pass along dim 0, rounded and clipped to uint8."""
    acc = torch.full((idx.shape[0], x.shape[1]), 1 << (PRECISION_BITS - 1), dtype=torch.int32)
    tmp = torch.empty_like(acc)
    for j in range(idx.shape[1]):
        torch.index_select(x, 0, idx[:, j], out=tmp)
        acc.add_(tmp.mul_(w[:, j, None]))
    return acc.bitwise_right_shift_(PRECISION_BITS).clamp_(0, 255)


def torch_exact(frames: np.ndarray) -> np.ndarray:
    n, height, width, _ = frames.shape
    h, w = resized_size(height, width, 224)
    out = []
    for frame in frames:  # one frame at a time keeps the taps in cache (measured faster than a batch)
        x = torch.from_numpy(frame).permute(1, 0, 2).reshape(width, -1).to(torch.int32)  # [W, H*3]
        if w != width:
            x = _pass(x, *_taps(width, w))
        x = x.reshape(w, height, 3).permute(1, 0, 2).reshape(height, -1)  # [H, w*3]
        if h != height:
            x = _pass(x, *_taps(height, h))
        out.append(x.reshape(h, w, 3).to(torch.uint8))
    return torch.stack(out).numpy()


def reference(frames: np.ndarray) -> np.ndarray:
    """torchvision's path: Resize(224, bicubic) on PIL images, i.e. PIL's resize with that size."""
    h, w = resized_size(frames.shape[1], frames.shape[2], 224)
    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BICUBIC)) for f in frames])


CROPS = [(341, 256), (300, 250), (256, 200), (230, 226), (200, 150), (120, 90), (90, 120)]


def crop_rows(repeats: int) -> list[str]:
    pil = lambda f: np.stack([np.asarray(Image.fromarray(x).resize((224, 224), Image.BILINEAR)) for x in f])
    tensor = lambda f: F.resize(torch.from_numpy(f).permute(0, 3, 1, 2), [224, 224], interpolation=InterpolationMode.BILINEAR,
                                antialias=True).permute(0, 2, 3, 1).numpy()
    rows = ["", "Training crop resize, 8 frames, bilinear to 224 x 224:", "",
            "| crop | pil ms | torch ms | torch vs pil: noise ; smooth |", "|---|---|---|---|"]
    for width, height in CROPS:
        noise, smooth = content(width, height, "noise", 2)[:8], content(width, height, "smooth", 3)[:8]
        parts = []
        for frames in (noise, smooth):
            diff = np.abs(tensor(frames).astype(np.int32) - pil(frames))
            parts.append(f"{diff.max()} / {(diff > 0).mean():.2%}")
        t_pil, t_torch = median_ms(pil, smooth, repeats)[0], median_ms(tensor, smooth, repeats)[0]
        rows.append(f"| {width}x{height} | {t_pil:.1f} | {t_torch:.1f} | {' ; '.join(parts)} |")
        print(rows[-1], flush=True)
    return rows


def median_ms(fn, frames: np.ndarray, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(frames)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = {"pil": lambda f: scale_short_side(f, 224), "torch-aa": torch_aa, "torch-exact": torch_exact}
    lines = [
        f"{FRAMES} frames per call, bicubic short side -> 224, 1 process, 1 torch thread; median of {args.repeats}.",
        "Agreement with torchvision's PIL path: max |difference| in grey levels / share of values that differ,",
        "on uniform noise and on smooth content.",
        "",
        "| frame | resized | " + " | ".join(f"{p} ms" for p in paths) + " | " +
        " | ".join(f"{p} noise / smooth" for p in paths) + " |",
        "|---|---|" + "---|" * (2 * len(paths)),
    ]
    for width, height in SIZES:
        noise, smooth = content(width, height, "noise", 0), content(width, height, "smooth", 1)
        refs = {"noise": reference(noise), "smooth": reference(smooth)}
        times, agree = [], []
        for name, fn in paths.items():
            times.append(f"{median_ms(fn, smooth, args.repeats)[0]:.1f}")
            parts = []
            for kind, frames in (("noise", noise), ("smooth", smooth)):
                diff = np.abs(fn(frames).astype(np.int32) - refs[kind])
                parts.append(f"{diff.max()} / {(diff > 0).mean():.2%}")
            agree.append(" ; ".join(parts))
        h, w = resized_size(height, width, 224)
        lines.append(f"| {width}x{height} | {w}x{h} | " + " | ".join(times) + " | " + " | ".join(agree) + " |")
        print(lines[-1], flush=True)
    lines += crop_rows(args.repeats)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
