"""A seeded synthetic video dataset, written as real video files in every supported layout.

Each video shows one shape of the captioned world (`data/world.py`: six shapes,
six named colours, two sizes) moving in one direction on a plain dark
background. The classes are "<shape> moving <direction>" (e.g. "square moving
left"); colour and size are drawn per video, the same way for every class, and
`lists/captions.txt` gives each video's caption ("a small red square moving
left"). Telling "square moving left" from "square moving right" needs motion,
while the shape needs appearance. A subject may fix the colour ("red square
moving left"); the zooms (the shape grows or shrinks in place) name the size
they start at: "small red square moving closer", "large red square moving away".

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

from .world import COLOUR_NAMES, SHAPES, SIZE_NAMES, background_colour, jittered_colour, radius_for, shape_mask

log = logging.getLogger("mote")

DEFAULT_SHAPES = ("circle", "square")  # of the world's SHAPES: the classes of a default dataset
DIRECTIONS = ("down", "left", "right", "up")  # of a default dataset
STEP = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # (dy, dx) per unit of speed
# Towards and away from the camera: the shape grows or shrinks in place.
# Part of the cache key of generated sets (train/data.py): bump when the same arguments and
# seed give other videos or class names. 2: the captioned world's shapes and colours, zooms.
SYNTH_VERSION = 2
ZOOM = {"closer": (0.08, 0.26), "away": (0.26, 0.08)}  # radius (fraction of the short side) at the first, last frame
# A zoom's class name starts with the size it starts at ("small red circle moving closer"):
# pretraining grounds size words but sees single frames, so "closer" and "away" alone name
# classes whose text embeddings are nearly the same (cosine 0.999, docs/demo.md).
ZOOM_START = {"closer": "small", "away": "large"}
MOTIONS = DIRECTIONS + tuple(ZOOM)
NUM_SPLITS = 3
# The bad entries of `synth_bad`, in list order after the two good videos.
BAD_ENTRIES = ("zero-byte", "truncated", "not-a-video", "missing", "short")


@dataclass
class SynthVideo:
    rel: str  # relative to videos/
    label: int
    index_in_class: int
    num_frames: int
    colour: str = ""
    size: str = ""  # empty for zooms, whose size changes
    caption: str = ""  # e.g. "a small red triangle moving left"

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


def parse_subject(entry: str) -> tuple[str | None, str]:
    """'red circle' -> ('red', 'circle'); 'circle' -> (None, 'circle'); anything else is a ValueError."""
    words = entry.split()
    if not 1 <= len(words) <= 2 or words[-1] not in SHAPES or (len(words) == 2 and words[0] not in COLOUR_NAMES):
        raise ValueError(f"shape {entry!r}: expected one of {', '.join(SHAPES)}, optionally after a colour "
                         f"({', '.join(COLOUR_NAMES)})")
    return (words[0] if len(words) == 2 else None), words[-1]


def render_clip(
    *, shape: str, direction: str, num_frames: int, height: int, width: int, rng: np.random.Generator, grain: int = 0,
    colour: str | None = None, size: str | None = None,
) -> np.ndarray:
    """uint8 [T, H, W, 3]: one shape of a named colour and size of the captioned world
    (`data/world.py`; drawn at random when not given) crossing a plain dark background.
    `grain` > 0 adds fresh uniform noise of that amplitude to every frame, which makes
    decoding cost per frame closer to camera footage (used by the loader benchmark)."""
    background = background_colour(rng)
    rgb = jittered_colour(colour or COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))], rng)
    if direction in ZOOM:
        return _zoom_clip(shape=shape, direction=direction, num_frames=num_frames, height=height, width=width,
                          rng=rng, background=background, rgb=rgb, grain=grain)
    radius = radius_for(size or SIZE_NAMES[int(rng.integers(len(SIZE_NAMES)))], height, width)
    dy, dx = STEP[direction]
    # Slow enough that the whole path stays inside the frame: the shape is visible in every frame.
    room = (height if dy else width) - 2 * radius - 2
    speed = min(float(rng.uniform(1.5, 3.0)), room / max(num_frames - 1, 1))
    travel = speed * (num_frames - 1)

    def start(extent: int, d: int) -> float:
        lo, hi = radius + (travel if d < 0 else 0), extent - radius - 1 - (travel if d > 0 else 0)
        return float(rng.uniform(lo, hi)) if hi > lo else extent / 2

    cy0, cx0 = start(height, dy), start(width, dx)
    t = np.arange(num_frames, dtype=np.float32)[:, None, None]
    cy, cx = cy0 + dy * speed * t, cx0 + dx * speed * t  # [T, 1, 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    mask = shape_mask(shape, yy - cy, xx - cx, radius)  # [T, H, W]
    return _paint(mask, background=background, rgb=rgb, grain=grain, rng=rng)


def _zoom_clip(*, shape: str, direction: str, num_frames: int, height: int, width: int, rng: np.random.Generator,
               background: np.ndarray, rgb: np.ndarray, grain: int) -> np.ndarray:
    """The shape grows ("closer") or shrinks ("away") in place, near the centre."""
    short = min(height, width)
    first, last = (f * short * float(rng.uniform(0.9, 1.1)) for f in ZOOM[direction])
    cy, cx = (extent / 2 + float(rng.uniform(-0.08, 0.08)) * short for extent in (height, width))
    radius = np.linspace(first, last, num_frames, dtype=np.float32)[:, None, None]  # [T, 1, 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # shape_mask takes one radius: scale the offsets instead (a shape of radius r at offset d
    # is the unit shape at offset d / r).
    mask = shape_mask(shape, (yy - cy) / radius, (xx - cx) / radius, 1.0)  # [T, H, W]
    return _paint(mask, background=background, rgb=rgb, grain=grain, rng=rng)


def _paint(mask: np.ndarray, *, background: np.ndarray, rgb: np.ndarray, grain: int,
           rng: np.random.Generator) -> np.ndarray:
    """uint8 [T, H, W, 3]: `rgb` where mask [T, H, W], else the background; optional grain."""
    frames = np.broadcast_to(background, (*mask.shape, 3)).copy()
    frames[mask] = rgb
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
    (lists / "captions.txt").write_text("".join(f"{v.rel}\t{v.caption}\n" for v in ds.videos))
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
    used = {name.split()[-1] for name in names}
    motions = [d for d in MOTIONS if d in DIRECTIONS or d in used]
    templates = [f"Moving something {d}" for d in motions]
    (ssv2 / "videos").mkdir(parents=True, exist_ok=True)
    (ssv2 / "labels.json").write_text(json.dumps({t: str(i) for i, t in enumerate(templates)}))
    for subset, fname in (("train", "train.json"), ("test", "validation.json")):
        entries = []
        for i, v in enumerate(ds.videos):
            if v.subset(1) == subset:
                direction = names[v.label].split()[-1]
                template = templates[motions.index(direction)].replace("something", "[something]")
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
    write_video(bad / "short.avi", render_clip(shape=DEFAULT_SHAPES[0], direction=DIRECTIONS[0], num_frames=3, height=h, width=w, rng=rng), fps=fps)
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


def class_name(subject: str, direction: str) -> str:
    """'red circle', 'left' -> 'red circle moving left'; a zoom names its starting size first."""
    return " ".join(w for w in (ZOOM_START.get(direction, ""), subject, "moving", direction) if w)


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    videos_per_class: int = 6,
    shapes: tuple[str, ...] = DEFAULT_SHAPES,
    directions: tuple[str, ...] = DIRECTIONS,
    frames_range: tuple[int, int] = (16, 32),
    height: int = 96,
    width: int = 128,
    fps: int = 8,
    seed: int = 0,
    grain: int = 0,
    bad_files: bool = False,
) -> SynthDataset:
    """Write the dataset under `out_dir` (deterministic for a given seed) and return its description.
    A `shapes` entry is a shape ("circle": each video's colour drawn at random) or a colour
    and a shape ("red circle": every video of its classes in that colour)."""
    for s in shapes:
        parse_subject(s)
    for d in directions:
        if d not in MOTIONS:
            raise ValueError(f"direction {d!r}: expected one of {', '.join(MOTIONS)}")
    root = Path(out_dir)
    rng = np.random.default_rng(seed)
    classes = sorted((class_name(s, d), s, d) for s in shapes for d in directions)
    names = [name for name, _, _ in classes]
    videos = []
    for label, (name, subject, direction) in enumerate(classes):
        fixed_colour, shape = parse_subject(subject)
        for j in range(videos_per_class):
            gid = label * videos_per_class + j
            t = int(rng.integers(frames_range[0], frames_range[1] + 1))
            colour = fixed_colour or COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
            size = SIZE_NAMES[int(rng.integers(len(SIZE_NAMES)))] if direction not in ZOOM else ""  # zooms change size
            ext = "mp4" if gid % 2 == 0 else "avi"
            # Kinetics-style name <youtube_id>_<start:06d>_<end:06d>; folder with underscores.
            rel = f"{name.replace(' ', '_')}/syn{gid:08d}_{0:06d}_{t // fps:06d}.{ext}"
            write_video(root / "videos" / rel, render_clip(
                shape=shape, direction=direction, num_frames=t, height=height, width=width, rng=rng, grain=grain,
                colour=colour, size=size,
            ), fps=fps)
            caption = " ".join(w for w in ("a", size or ZOOM_START.get(direction, ""), colour, shape, "moving", direction) if w)
            videos.append(SynthVideo(rel, label, j, t, colour=colour, size=size, caption=caption))
    ds = SynthDataset(root, root / "datasets.toml", names, videos, (height, width))
    _write_layouts(ds)
    if bad_files:
        _write_bad(ds, rng, fps)
    _write_config(ds, bad_files)
    log.info("synth: %d videos, %d classes in %s", len(videos), len(names), root)
    return ds
