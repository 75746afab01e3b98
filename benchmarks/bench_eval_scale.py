"""The full zero-shot table at the real sizes: the head cache (matrix products) against
the head path (the head on frame features), wall time and peak memory.

Workload (written once, straight into the caches, no videos behind them):
  * UCF-101: 3 splits x 3,783 test videos, disjoint (11,349 distinct), 101 classes;
  * HMDB-51: 3 splits x 1,530 (30 per class), each drawn per class from 6,766 videos
    (133 per class), so the splits overlap as the official ones do;
  * K600 zero-shot: 20,350 videos of 220 classes (92 or 93 per class); split s lists all
    videos of its 160 classes (about 14.8k), so the three lists share most videos.
  3 views (3 clips x 1 crop), T = 8, D = 512; random float16 frame features in one frame
  cache per dataset (keyed per video), random unit class embeddings written into the
  text cache (the text encoder is not what is measured), and a merged checkpoint holding
  a random-init ViT-B/16 head (4 layers, width 512, 8 heads) and 400 fine-tuning classes.

Measured, each in a fresh process (peak RSS = VmHWM, reset after imports):
  * first: the first evaluation of the full table, modulation on with 4 scales and
    half-classes, 3 datasets x 3 splits: fills the head cache (one head pass over the
    distinct videos) and scores;
  * second: a later full table = that call again plus the same with --no-modulation;
  * head path: the same full table with head_cache=False (the head runs on every listed
    view, per split, as before the head cache);
  * memory flatness: `second` at a fraction of the sizes (--sizes) against the full size.
On a shared machine the head path at full size takes an hour: --head-path-size 0.1 times
both paths side by side on a tenth of every list (the head path's cost is linear in the
listed views, the head cache's first pass in the distinct ones).

Usage: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_eval_scale.py [--work DIR] [--out FILE]
       [--sizes 1,0.25] [--head-path-size 0.1 | --skip-head-path]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

V, T, D = 3, 8, 512
SCALES = (0.04, 0.05, 0.06, 0.07)
FINETUNE_CLASSES = 400


def datasets(fraction: float = 1.0) -> dict[str, dict]:
    """name -> classes, per-split lists of (relative path, label), at `fraction` of the real sizes."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    # UCF-101: 25 groups, split s tests 7 of them: disjoint test lists of 3,783 videos.
    n = round(3 * 3783 * fraction)
    labels = np.sort(rng.integers(0, 101, n))
    videos = [(f"ucf/c{y:03d}/v{i:06d}.avi", int(y)) for i, y in enumerate(labels)]
    out["ucf101"] = dict(classes=[f"ucf class {c}" for c in range(101)], splits=[videos[s::3] for s in range(3)])
    # HMDB-51: 30 test videos per class and split, drawn from the class's 133.
    per_class, test = max(2, round(133 * fraction)), max(1, round(30 * fraction))
    pool = [[(f"hmdb/c{c:02d}/v{c:02d}_{j:04d}.avi", c) for j in range(per_class)] for c in range(51)]
    splits = [[pool[c][j] for c in range(51) for j in np.sort(rng.choice(per_class, test, replace=False))]
              for _ in range(3)]
    out["hmdb51"] = dict(classes=[f"hmdb class {c}" for c in range(51)], splits=splits)
    # K600 zero-shot: 220 classes, split s = 160 of them with all their videos.
    total = round(20350 * fraction)
    k600_labels = np.arange(total) % 220
    k600 = [(f"k600/c{y:03d}/v{i:07d}.mp4", int(y)) for i, y in enumerate(k600_labels)]
    chosen = [np.sort(rng.choice(220, 160, replace=False)) for _ in range(3)]
    splits = []
    for classes in chosen:
        index = {int(c): i for i, c in enumerate(classes)}
        splits.append([(rel, index[y]) for rel, y in k600 if y in index])
    out["k600"] = dict(classes=[f"k600 class {c}" for c in range(220)], splits=splits, split_classes=chosen)
    return out


def split_class_names(spec: dict, split: int) -> list[str]:
    if "split_classes" in spec:
        return [spec["classes"][int(c)] for c in spec["split_classes"][split]]
    return list(spec["classes"])


def sources(work: Path, fraction: float):
    from motecli.cache.source import VideoSource
    from motecli.data.layouts import VideoList

    out = {}
    for name, spec in datasets(fraction).items():
        out[name] = [VideoSource(videos=VideoList(work / "videos", items, split_class_names(spec, s), f"{name} {s + 1}"),
                                 name=f"{name}-split{s + 1}-test", dataset=name, split=s + 1, collection=f"{name}/test")
                     for s, items in enumerate(spec["splits"])]
    return out


def write_checkpoint(path: Path) -> None:
    """A merged file with a random-init ViT-B/16 head and no image encoder (never loaded here)."""
    import torch

    from motecli.checkpoints.merged import MERGED_FORMAT, MERGED_VERSION
    from motecli.merge.merge import write_merged
    from motecli.model.temporal import HeadConfig, MoTEHead

    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=D, heads=8, layers=4, num_experts=1))
    tensors = {f"head.{k}": v.contiguous() for k, v in head.state_dict().items()}
    tensors["logit_scale"] = torch.tensor(4.6052)
    tensors["class_embeddings"] = torch.nn.functional.normalize(torch.randn(FINETUNE_CLASSES, D), dim=-1)
    config = dict(clip_model="ViT-B-16", quick_gelu=False, embed_dim=D, heads=8, layers=4, num_experts=1, num_frames=T)
    meta = dict(format=MERGED_FORMAT, format_version=MERGED_VERSION, model_config=config,
                clip=dict(model="ViT-B-16", pretrained="none", quick_gelu=False, weights_id="bench"),
                class_names=[f"k400 class {c}" for c in range(FINETUNE_CLASSES)], source=dict(format="bench"),
                patch=None, visual_sha256="bench-no-image-encoder")
    write_merged(path, tensors, meta)


def write_text_caches(names: list[list[str]]) -> None:
    import numpy as np

    from motecli.constants import PROMPT_TEMPLATES
    from motecli.text.cache import write_text_cache
    from motecli.text.encode import text_request

    rng = np.random.default_rng(1)
    for classes in names:
        request = text_request(model="ViT-B-16", pretrained="none", quick_gelu=None, class_names=classes,
                               templates=PROMPT_TEMPLATES)
        emb = rng.standard_normal((len(classes), D)).astype(np.float32)
        write_text_cache(request.default_path(), request, emb / np.linalg.norm(emb, axis=1, keepdims=True),
                         pretrained=None, seconds=0.0)


def write_frame_caches(work: Path, fraction: float, checkpoint: Path) -> dict:
    """Every distinct video of each dataset once, 64 to a shard, random float16 features."""
    import numpy as np

    from motecli.cache.encode import open_frame_cache

    rng = np.random.default_rng(2)
    counts = {}
    for name, splits in sources(work, fraction).items():
        cache = open_frame_cache(splits[0], checkpoint=checkpoint, num_frames=T, clips=V, crops=1)
        distinct = list(dict.fromkeys(k for s in splits for k in s.video_keys()))
        for start in range(0, len(distinct), 64):
            keys = distinct[start : start + 64]
            feats = (0.5 * rng.standard_normal((len(keys), V, T, D), dtype=np.float32)).astype(np.float16)
            cache.write_videos(keys, feats, np.ones(len(keys), np.uint8), [""] * len(keys))
        counts[name] = dict(listed=sum(len(s.videos) for s in splits), distinct=len(distinct))
    return counts


def prepare(work: Path, fraction: float) -> dict:
    checkpoint = work / "merged.safetensors"
    if not checkpoint.exists():
        write_checkpoint(checkpoint)
    done = work / "prepared.json"
    if done.exists():
        return json.loads(done.read_text())
    started = time.perf_counter()
    specs = datasets(fraction)
    write_text_caches([split_class_names(spec, s) for spec in specs.values() for s in range(3)])
    counts = write_frame_caches(work, fraction, checkpoint)
    info = dict(counts=counts, seconds=time.perf_counter() - started)
    done.write_text(json.dumps(info))
    return info


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(work: Path, fraction: float, case: str) -> None:
    """One measurement in a fresh process: prints one JSON line."""
    import torch

    from motecli.constants import PROMPT_TEMPLATES
    from motecli.eval.runner import EvalSettings, evaluate

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    all_sources = sources(work, fraction)
    base = dict(checkpoint=work / "merged.safetensors", protocol="zero-shot", clips=V, crops=1, num_frames=T,
                scales=SCALES, k=5, templates=list(PROMPT_TEMPLATES), half_classes=True)
    calls = {"first": [dict(modulation=True)], "second": [dict(modulation=True), dict(modulation=False)],
             "head-path": [dict(modulation=True, head_cache=False), dict(modulation=False, head_cache=False)]}[case]
    before = peak_rss_mib()
    Path("/proc/self/clear_refs").write_text("5")
    started, cpu_started = time.perf_counter(), time.process_time()
    table, computed, per_call = {}, 0, []
    for kw in calls:
        call_start = time.perf_counter()
        settings = EvalSettings(**(base | kw))
        for name, splits in all_sources.items():
            results = evaluate(splits, settings, name=name, dataset=name)
            for run in results["runs"]:
                table[f"{name} {'mod ' + str(run['tfm_scale']) if kw['modulation'] else 'off'}"] = round(100 * run["top1_mean"], 2)
            head = results["runs"][0]["splits"][0]["head_cache"]
            computed += head["computed_videos_now"] if head else 0
        per_call.append(time.perf_counter() - call_start)
    print(json.dumps(dict(case=case, fraction=fraction, seconds=time.perf_counter() - started, per_call_seconds=per_call,
                          cpu_seconds=time.process_time() - cpu_started, threads=torch.get_num_threads(),
                          head_pass_videos=computed, peak_rss_mib=peak_rss_mib(), rss_before_mib=before,
                          top1=table)))


def run_child(work: Path, fraction: float, case: str) -> dict:
    env = dict(os.environ, MOTE_CACHE=str(work / "cache"))
    proc = subprocess.run([sys.executable, __file__, "--child", case, "--work", str(work), "--fraction", str(fraction)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mote-bench-eval-scale"))
    parser.add_argument("--sizes", default="1,0.25", help="Fractions of the real sizes for the head cache's path.")
    parser.add_argument("--head-path-size", type=float, default=1.0,
                        help="Fraction at which the head path is timed too, side by side (it is linear in listed views).")
    parser.add_argument("--skip-head-path", action="store_true", help="Do not time the head path.")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--fraction", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.work, args.fraction, args.child)
        return
    figures = dict(machine=f"{platform.machine()}, {os.cpu_count()} CPU cores", date=time.strftime("%Y-%m-%d %H:%M"),
                   threads=os.environ.get("OMP_NUM_THREADS"), load_before=os.getloadavg(), runs=[])
    fractions = [float(f) for f in args.sizes.split(",")]
    head_path = None if args.skip_head_path else args.head_path_size
    for fraction in fractions + ([head_path] if head_path is not None and head_path not in fractions else []):
        work = args.work / f"f{fraction:g}"
        os.environ["MOTE_CACHE"] = str(work / "cache")
        figures[f"prepared_{fraction:g}"] = prepare(work, fraction)
        print(json.dumps(figures[f"prepared_{fraction:g}"]), flush=True)
        for heads in (work / "cache" / "frames" / "embeddings").glob("*/heads"):
            shutil.rmtree(heads)  # `first` starts without a head cache
        cases = ["first", "second"] + (["head-path"] if fraction == head_path else [])
        for case in cases:
            figures["runs"].append(run_child(work, fraction, case))
    figures["load_after"] = os.getloadavg()
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
