"""A seeded synthetic video dataset, written as real video files in every supported layout.

Each video shows one shape moving in one direction on a plain background. The
classes are "<shape> moving <direction>" (e.g. "square moving left"): shape and
colour distributions are the same for every direction, so telling "square moving
left" from "square moving right" needs motion, while the shape needs appearance.

Written with PyAV (mpeg4 in .mp4 and .avi, alternating); one file per video under
`videos/`, then the annotation files of each layout, pointing at those files
(the UCF-101 and SSv2 layouts, which need their own file names, use relative
symlinks), and a `datasets.toml` naming them all:

    synth (list)  synth_ucf (ucf101)  synth_hmdb (hmdb51)  synth_kinetics (kinetics)  synth_ssv2 (ssv2)

and, with `bad_files=True`, `synth_bad` (list): two good videos, a zero-byte file,
a truncated file, a text file named .mp4, a missing file and a 3-frame video.
Three splits: video j of a class is a test video of split s when (j + s) % 3 == 0.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("mote")

SHAPES = ("circle", "square")
DIRECTIONS = ("down", "left", "right", "up")
STEP = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # (dy, dx) per unit of speed
NUM_SPLITS = 3
# The bad entries of `synth_bad`, in list order after the two good videos.
BAD_ENTRIES = ("zero-byte", "truncated", "not-a-video", "missing", "short")


@dataclass
class SynthVideo:
    rel: str  # relative to videos/
    label: int
    index_in_class: int
    num_frames: int

    def subset(self, split: int) -> str:
        return "test" if (self.index_in_class + split) % NUM_SPLITS == 0 else "train"


@dataclass
class SynthDataset:
    root: Path
    config: Path  # datasets.toml
    class_names: list[str]
    videos: list[SynthVideo]
    size: tuple[int, int]  # (height, width)
    bad: dict[str, str] = field(default_factory=dict)  # entry kind -> path relative to root

    def items(self, split: int, subset: str) -> list[tuple[str, int]]:
        """Ground truth (path relative to videos/, label) of a split, in writing order."""
        return [(v.rel, v.label) for v in self.videos if v.subset(split) == subset]


def render_clip(
    *, shape: str, direction: str, num_frames: int, height: int, width: int, rng: np.random.Generator, grain: int = 0
) -> np.ndarray:
    """uint8 [T, H, W, 3]: one shape of random size/colour crossing a plain background.
    `grain` > 0 adds fresh uniform noise of that amplitude to every frame, which makes
    decoding cost per frame closer to camera footage (used by the loader benchmark)."""
    background = rng.integers(0, 100, size=3, dtype=np.uint8)
    colour = rng.integers(130, 256, size=3, dtype=np.uint8)
    radius = int(rng.integers(max(4, min(height, width) // 10), max(5, min(height, width) // 6) + 1))
    dy, dx = STEP[direction]
    # Slow enough that the whole path stays inside the frame: the shape is visible in every frame.
    room = (height if dy else width) - 2 * radius - 2
    speed = min(float(rng.uniform(1.5, 3.0)), room / max(num_frames - 1, 1))
    travel = speed * (num_frames - 1)

    def start(size: int, d: int) -> float:
        lo, hi = radius + (travel if d < 0 else 0), size - radius - 1 - (travel if d > 0 else 0)
        return float(rng.uniform(lo, hi)) if hi > lo else size / 2

    cy0, cx0 = start(height, dy), start(width, dx)
    t = np.arange(num_frames, dtype=np.float32)[:, None, None]
    cy, cx = cy0 + dy * speed * t, cx0 + dx * speed * t  # [T, 1, 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if shape == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    else:
        mask = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
    frames = np.broadcast_to(background, (num_frames, height, width, 3)).copy()
    frames[mask] = colour  # mask [T, H, W] selects pixels of every frame
    if grain:
        noise = rng.integers(0, grain + 1, size=frames.shape, dtype=np.uint8)
        frames = np.minimum(frames.astype(np.uint16) + noise, 255).astype(np.uint8)
    return frames


def write_video(path: Path, frames: np.ndarray, *, fps: int = 8) -> None:
    """Write uint8 [T, H, W, 3] with mpeg4 (the container follows the extension)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _camel(name: str) -> str:
    return "".join(w.capitalize() for w in name.split())


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.relpath(target, link.parent), link)


def _write_layouts(ds: SynthDataset) -> None:
    root = ds.root
    lists = root / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    names = ds.class_names
    with open(lists / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name"])
        w.writerows(enumerate(names))
    (lists / "labels.txt").write_text("".join(f"{n}\n" for n in names))
    ucf = root / "ucf"
    (ucf / "ucfTrainTestlist").mkdir(parents=True, exist_ok=True)
    (ucf / "ucfTrainTestlist" / "classInd.txt").write_text("".join(f"{i + 1} {_camel(n)}\n" for i, n in enumerate(names)))
    ucf_rel = {}
    for v in ds.videos:
        camel = _camel(names[v.label])
        ucf_rel[v.rel] = f"{camel}/v_{camel}_g{v.index_in_class + 1:02d}_c01.avi"
        _symlink(ucf / "videos" / ucf_rel[v.rel], root / "videos" / v.rel)
    for s in range(1, NUM_SPLITS + 1):
        for subset in ("train", "test"):
            items = ds.items(s, subset)
            (lists / f"{subset}{s}.txt").write_text("".join(f"{p} {y}\n" for p, y in items))
            (ucf / "ucfTrainTestlist" / f"{subset}list{s:02d}.txt").write_text(
                "".join(f"{ucf_rel[p]} {y + 1}\n" if subset == "train" else f"{ucf_rel[p]}\n" for p, y in items)
            )
        hmdb = root / "hmdb" / "splits"
        hmdb.mkdir(parents=True, exist_ok=True)
        for label, name in enumerate(names):
            rows = [f"{Path(v.rel).name} {2 if v.subset(s) == 'test' else 1}\n" for v in ds.videos if v.label == label]
            (hmdb / f"{name.replace(' ', '_')}_test_split{s}.txt").write_text("".join(rows))
    kin = root / "kinetics"
    kin.mkdir(parents=True, exist_ok=True)
    for subset, fname in (("train", "train.csv"), ("test", "val.csv")):
        with open(kin / fname, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            for rel, label in ds.items(1, subset):
                ytid, t0, t1 = Path(rel).stem.rsplit("_", 2)
                w.writerow([names[label], ytid, int(t0), int(t1), "train" if subset == "train" else "val"])
    ssv2 = root / "ssv2"
    templates = [f"Moving something {d}" for d in DIRECTIONS]
    (ssv2 / "videos").mkdir(parents=True, exist_ok=True)
    (ssv2 / "labels.json").write_text(json.dumps({t: str(i) for i, t in enumerate(templates)}))
    for subset, fname in (("train", "train.json"), ("test", "validation.json")):
        entries = []
        for i, v in enumerate(ds.videos):
            if v.subset(1) == subset:
                direction = names[v.label].split()[-1]
                template = templates[DIRECTIONS.index(direction)].replace("something", "[something]")
                entries.append({"id": str(i), "label": names[v.label], "template": template, "placeholders": ["shape"]})
                _symlink(ssv2 / "videos" / f"{i}.webm", root / "videos" / v.rel)
        (ssv2 / fname).write_text(json.dumps(entries))


def _write_bad(ds: SynthDataset, rng: np.random.Generator, fps: int) -> None:
    bad = ds.root / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    good = ds.videos[:2]
    (bad / "zero.mp4").write_bytes(b"")
    data = (ds.root / "videos" / good[0].rel).read_bytes()
    (bad / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (bad / "notavideo.mp4").write_text("this is not a video\n")
    h, w = ds.size
    write_video(bad / "short.avi", render_clip(shape=SHAPES[0], direction=DIRECTIONS[0], num_frames=3, height=h, width=w, rng=rng), fps=fps)
    ds.bad = {
        "zero-byte": "bad/zero.mp4", "truncated": "bad/truncated.mp4", "not-a-video": "bad/notavideo.mp4",
        "missing": "bad/missing.mp4", "short": "bad/short.avi",
    }
    lines = [f"videos/{v.rel} {v.label}\n" for v in good] + [f"{ds.bad[k]} 0\n" for k in BAD_ENTRIES]
    (ds.root / "lists" / "bad.txt").write_text("".join(lines))


def _write_config(ds: SynthDataset, with_bad: bool) -> None:
    splits = lambda stem: "[" + ", ".join(f'"lists/{stem}{s}.txt"' for s in range(1, NUM_SPLITS + 1)) + "]"
    text = f"""# Written by `mote synth`; paths are relative to this file.
[synth]
layout = "list"
root = "videos"
train = {splits("train")}
test = {splits("test")}
labels = "lists/labels.csv"

[synth_ucf]
layout = "ucf101"
root = "ucf/videos"
splits_dir = "ucf/ucfTrainTestlist"

[synth_hmdb]
layout = "hmdb51"
root = "videos"
splits_dir = "hmdb/splits"

[synth_kinetics]
layout = "kinetics"
root = "videos"
train_csv = "kinetics/train.csv"
test_csv = "kinetics/val.csv"

[synth_ssv2]
layout = "ssv2"
root = "ssv2/videos"
labels_json = "ssv2/labels.json"
train_json = "ssv2/train.json"
test_json = "ssv2/validation.json"
"""
    if with_bad:
        text += '\n[synth_bad]\nlayout = "list"\nroot = "."\ntest = "lists/bad.txt"\nlabels = "lists/labels.csv"\n'
    ds.config.write_text(text)


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    videos_per_class: int = 6,
    shapes: tuple[str, ...] = SHAPES,
    directions: tuple[str, ...] = DIRECTIONS,
    frames_range: tuple[int, int] = (16, 32),
    height: int = 96,
    width: int = 128,
    fps: int = 8,
    seed: int = 0,
    grain: int = 0,
    bad_files: bool = False,
) -> SynthDataset:
    """Write the dataset under `out_dir` (deterministic for a given seed) and return its description."""
    for s in shapes:
        if s not in ("circle", "square"):
            raise ValueError(f"shape {s!r}: expected circle or square")
    root = Path(out_dir)
    rng = np.random.default_rng(seed)
    names = sorted(f"{s} moving {d}" for s in shapes for d in directions)
    videos = []
    for label, name in enumerate(names):
        shape, _, direction = name.split()
        for j in range(videos_per_class):
            gid = label * videos_per_class + j
            t = int(rng.integers(frames_range[0], frames_range[1] + 1))
            ext = "mp4" if gid % 2 == 0 else "avi"
            # Kinetics-style name <youtube_id>_<start:06d>_<end:06d>; folder with underscores.
            rel = f"{name.replace(' ', '_')}/syn{gid:08d}_{0:06d}_{t // fps:06d}.{ext}"
            write_video(root / "videos" / rel, render_clip(
                shape=shape, direction=direction, num_frames=t, height=height, width=width, rng=rng, grain=grain
            ), fps=fps)
            videos.append(SynthVideo(rel, label, j, t))
    ds = SynthDataset(root, root / "datasets.toml", names, videos, (height, width))
    _write_layouts(ds)
    if bad_files:
        _write_bad(ds, rng, fps)
    _write_config(ds, bad_files)
    log.info("synth: %d videos, %d classes in %s", len(videos), len(names), root)
    return ds
