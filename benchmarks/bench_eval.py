"""Evaluation from the frame-embedding cache vs from the videos, a modulation sweep,
and peak memory against N.

1. cache vs videos: a synthetic split of N real video files (default 2,016 = 8
   classes x 252), 3 views (zero-shot 3x1), T = 8, the bundled tiny CLIP. The
   cache is filled once (timed, reported), then `evaluate_split` reads it (timed:
   median of --repeats). The from-videos baseline (decode + CLIP + head, the same
   code with from_videos=True) is timed on the first --baseline-videos videos and
   extrapolated per video to N (stated in the output).
2. sweep: 4 modulation scales in one pass over the cache vs one scale.
3. memory: max RSS of a fresh process that evaluates a cache of N videos whose
   features are random float16 written straight into a cache with the real
   schema (no videos behind them), for two N.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_eval.py [--videos-per-class 252] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests" / "support")]  # mote_builders

V, T = 3, 8


def settings_for(merged, **kw):
    from motecli.constants import TFM_K
    from motecli.eval.runner import EvalSettings
    from motecli.text.labels import read_templates_file

    base = dict(checkpoint=merged, protocol="zero-shot", clips=V, crops=1, num_frames=T, modulation=True,
                scales=(0.05,), k=TFM_K, templates=read_templates_file(None), batch_size=16)
    return EvalSettings(**(base | kw))


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def speed(work: Path, videos_per_class: int, baseline_videos: int, repeats: int) -> dict:
    from mote_builders import merged_for

    from motecli.cache.encode import encode_frames
    from motecli.cache.source import resolve_source
    from motecli.data.synth import make_synthetic_dataset
    from motecli.eval.runner import evaluate_split

    start = time.perf_counter()
    ds = make_synthetic_dataset(work / "synth", videos_per_class=videos_per_class, frames_range=(24, 48), seed=0)
    synth_s = time.perf_counter() - start
    lists = ds.root / "lists"
    (lists / "all.txt").write_text((lists / "train1.txt").read_text() + (lists / "test1.txt").read_text())
    source = resolve_source(list_file=lists / "all.txt", labels=lists / "labels.csv", root=ds.root / "videos")
    merged = merged_for(work, ds.class_names)
    settings = settings_for(merged)
    start = time.perf_counter()
    enc = encode_frames(source, checkpoint=merged, num_frames=T, clips=V, crops=1, batch_size=16)
    encode_s = time.perf_counter() - start
    cold_s, _ = timed(lambda: evaluate_split(source, settings)[0], 1)  # also encodes the class names once
    cached_s, result = timed(lambda: evaluate_split(source, settings)[0], repeats)
    sweep = settings_for(merged, scales=(0.04, 0.05, 0.06, 0.07))
    sweep_s, _ = timed(lambda: evaluate_split(source, sweep), repeats)
    subset = resolve_source(list_file=lists / "all.txt", labels=lists / "labels.csv", root=ds.root / "videos")
    subset.videos.items = subset.videos.items[:baseline_videos]
    start = time.perf_counter()
    evaluate_split(subset, settings_for(merged, from_videos=True))
    videos_s = time.perf_counter() - start
    per_video = videos_s / baseline_videos
    return dict(n=len(source.videos), views=V, frames=T, synth_seconds=synth_s, encode_seconds=encode_s,
                encoded=enc.encoded_videos, cached_eval_first_seconds=cold_s, cached_eval_seconds=cached_s, top1=result["top1"],
                baseline_videos=baseline_videos, baseline_seconds=videos_s,
                from_videos_extrapolated_seconds=per_video * len(source.videos),
                speedup=per_video * len(source.videos) / cached_s, sweep4_seconds=sweep_s)


def write_random_cache(work: Path, n: int) -> Path:
    """A cache of n fake videos with random float16 features, at the path eval looks in."""
    import numpy as np

    from mote_builders import merged_for

    from motecli.cache.encode import open_frame_cache
    from motecli.cache.source import VideoSource
    from motecli.data.layouts import VideoList

    work.mkdir(parents=True, exist_ok=True)
    names = [f"class {i}" for i in range(8)]
    merged = merged_for(work, names)
    items = [(f"fake/{i:07d}.mp4", i % len(names)) for i in range(n)]
    source = VideoSource(videos=VideoList(work, items, names, f"random {n}"), name=f"random{n}", dataset=None, split=None)
    cache = open_frame_cache(source, checkpoint=merged, num_frames=T, clips=V, crops=1, shard_size=256)
    keys = source.video_keys()  # rows are per video (cache/frames.py)
    rng = np.random.default_rng(0)
    for start in range(0, n, 256):
        rows = keys[start : start + 256]
        cache.write_videos(rows, rng.standard_normal((len(rows), V, T, cache.view_shape[2]), dtype=np.float32)
                           .astype(np.float16), np.ones(len(rows), np.uint8), [""] * len(rows))
    return merged


def peak_rss_mib() -> float:
    """VmHWM of this process: the peak resident set since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(work: Path, n: int) -> None:
    """Runs in a fresh process: evaluate the random cache of n videos; report the peak
    RSS before and during evaluation (the peak is reset in between, Linux clear_refs 5)."""
    import torch  # noqa: F401  (imported before the reset: its footprint is not evaluation's)

    from motecli.cache.source import VideoSource
    from motecli.data.layouts import VideoList
    from motecli.eval.runner import evaluate_split

    names = [f"class {i}" for i in range(8)]
    items = [(f"fake/{i:07d}.mp4", i % len(names)) for i in range(n)]
    source = VideoSource(videos=VideoList(work, items, names, f"random {n}"), name=f"random{n}", dataset=None, split=None)
    settings = settings_for(work / "merged.safetensors")
    before = peak_rss_mib()
    Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    result = evaluate_split(source, settings)[0]
    seconds = time.perf_counter() - start
    assert result["frame_cache"]["encoded_videos_now"] == 0 and result["videos"] == n
    print(json.dumps(dict(n=n, cache_mib=sum(p.stat().st_size for p in Path(result["frame_cache"]["path"]).iterdir()) / 2**20,
                          seconds=seconds, peak_rss_mib_before_eval=before, peak_rss_mib_during_eval=peak_rss_mib())))


def memory(work: Path, sizes: list[int]) -> list[dict]:
    out = []
    for n in sizes:
        write_random_cache(work / f"mem{n}", n)
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(work / f"mem{n}"), str(n)],
                              capture_output=True, text=True, env=dict(os.environ), check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos-per-class", type=int, default=252)
    parser.add_argument("--baseline-videos", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-sizes", default="2000,100000")
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(Path(args.memory_child[0]), int(args.memory_child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["MOTE_CACHE"] = str(work / "cache")
        figures = dict(machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
                       torch_threads=__import__("torch").get_num_threads(), date=time.strftime("%Y-%m-%d"),
                       speed=speed(work, args.videos_per_class, args.baseline_videos, args.repeats),
                       memory=memory(work, [int(s) for s in args.memory_sizes.split(",")]))
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
