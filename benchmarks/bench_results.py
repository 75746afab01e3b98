"""`mote results` on a folder of 500 results files: wall time of the command, the
aggregation alone, and whether torch was imported.

The files have the real schema (format_version 2) and realistic sizes: 50 checkpoints x
(UCF, HMDB, K600 zero-shot with --split all and a 4-scale sweep; K400 1x1 and 4x3) x
(modulation on, off) = 500 files (per-class accuracy for 101 / 51 / 160 / 400
classes in the per-class CSV beside each), half-classes and excluded-video records as
`mote eval` writes them. Side measurement: one K600 file with its per-class accuracy and
per-video predictions inline, as format_version 1 had them, against the file as written now.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_results.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASETS = {"ucf101": (101, "zero-shot", (3, 1), 3), "hmdb51": (51, "zero-shot", (3, 1), 3),
            "k600": (160, "zero-shot", (3, 1), 3), "k400": (400, "close-set", (1, 1), 1),
            "kinetics400": (400, "close-set", (4, 3), 1)}
SCALES = (0.04, 0.05, 0.06, 0.07)


def split_record(rng: random.Random, classes: int, split: int, videos: int) -> dict:
    top1 = rng.uniform(0.4, 0.9)
    return dict(
        split=split, videos=videos, listed_videos=videos + 3, excluded=3, top1=top1, top5=min(1.0, top1 + 0.15),
        mean_class_top1=top1, source=f"/data/lists/test{split}.txt", list_fingerprint="f" * 64,
        excluded_videos=[dict(index=i, path=f"class/v{i}.mp4", reason="undecodable: truncated") for i in range(3)],
        half_classes=dict(top1=[rng.random() for _ in range(10)], mean=0.8, std=0.02, classes=[classes // 2] * 10,
                          videos=[videos // 2] * 10, top5=[rng.random() for _ in range(10)], top5_mean=0.9, top5_std=0.01),
        text_weights_id="t" * 64, text_cache_hit=True, seconds=1.0,
        frame_cache=dict(path="/cache/frames/embeddings/x", key="k" * 16, encoded_videos_now=0),
    )


def results_file(rng: random.Random, ckpt: int, dataset: str, modulation: bool) -> dict:
    classes, protocol, (clips, crops), splits = DATASETS[dataset]
    scales = SCALES if modulation else (None,)
    runs = []
    for scale in scales:
        per_split = [split_record(rng, classes, s, 3700) for s in range(1, splits + 1)]
        top1 = [s["top1"] for s in per_split]
        runs.append(dict(tfm_k=5 if scale else None, tfm_scale=scale, top1_mean=sum(top1) / len(top1), top1_std=0.01,
                         top5_mean=0.9, top5_std=0.01, splits_evaluated=list(range(1, splits + 1)), splits=per_split))
    sha = f"{ckpt:04d}" + "a" * 60
    return dict(
        format="mote-eval", format_version=2, name=dataset, dataset=dataset, created=f"2026-11-{1 + ckpt % 28:02d}T00:00:00",
        mote_version="0.1.0", checkpoint=dict(id=sha[:10], sha256=sha, path=f"/runs/r{ckpt}/merged.safetensors",
                                              model="ViT-B-16", visual_sha256="v" * 64, finetune_classes=400,
                                              training_run=dict(path=f"/runs/r{ckpt}/best.pt", epoch=29),
                                              recipe=dict(model=dict(name="ViT-B-16"), solver=dict(epochs=30))),
        settings=dict(protocol=protocol, clips=clips, crops=crops, views=clips * crops, num_frames=8,
                      modulation=modulation, tfm_scales=list(SCALES), tfm_k=5, tfm_ks=[5], half_classes=True,
                      patch_alpha=None, original=None, num_templates=28, templates_sha256="s" * 64,
                      text_pretrained=None, from_videos=False, split="all"),
        test_classes_are_finetune_classes=protocol == "close-set", wall_seconds=12.0,
        caches=dict(frames="hit", frames_encoded_now=0, text="hit"), runs=runs,
        detail_files=dict(predictions="x.predictions.csv", per_class="x.per-class.csv"),
    )


def write_folder(folder: Path, checkpoints: int) -> int:
    rng = random.Random(0)
    total = 0
    for ckpt in range(checkpoints):
        for dataset in DATASETS:
            for modulation in (True, False):
                path = folder / f"{dataset}-{ckpt}-{'mod' if modulation else 'nomod'}.json"
                text = json.dumps(results_file(rng, ckpt, dataset, modulation), indent=1)
                path.write_text(text + "\n")
                total += len(text)
    return total


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def inline_details_file(folder: Path) -> tuple[int, float, int, float]:
    """The same K600 file with its details inline, as format_version 1 had them: per-class
    accuracy of each run and split, and the 3 x 14.8k per-video predictions of one run."""
    rng = random.Random(1)
    data = results_file(rng, 0, "k600", True)
    for run in data["runs"]:
        for split in run["splits"]:
            split["per_class"] = {f"class name {c}": dict(top1=rng.random(), videos=92) for c in range(160)}
    with_per_class = folder / "per-class.json"
    with_per_class.write_text(json.dumps(data, indent=1))
    for split in data["runs"][0]["splits"]:
        n = 14_830
        split["predictions"] = dict(index=list(range(n)), label=[i % 160 for i in range(n)],
                                    top5=[[rng.randrange(160) for _ in range(5)] for _ in range(n)],
                                    video=[f"k600/val/class_{i % 160}/{i:011d}.mp4" for i in range(n)])
    with_all = folder / "inline.json"
    with_all.write_text(json.dumps(data, indent=1))
    out = []
    for path in (with_per_class, with_all):
        start = time.perf_counter()
        json.loads(path.read_text())
        out += [path.stat().st_size, time.perf_counter() - start]
    return tuple(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        folder.mkdir()
        size = write_folder(folder, args.checkpoints)
        files = len(list(folder.glob("*.json")))
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "mote --help": [sys.executable, "-m", "motecli", "--help"],
            f"mote results DIR --format csv ({files} files)": [sys.executable, "-m", "motecli", "results", str(folder),
                                                               "--format", "csv"],
            f"mote results DIR ({files} files, table)": [sys.executable, "-m", "motecli", "results", str(folder)],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):  # interleaved, so machine noise hits every case alike
            for name, cmd in cases.items():
                times[name].append(wall(cmd))
        probe = subprocess.run([sys.executable, "-X", "importtime", "-m", "motecli", "results", str(folder), "--format", "csv"],
                               capture_output=True, text=True, check=True)
        imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if line.startswith("import time:")}
        heavy = sorted({m.split(".")[0] for m in imported} & {"torch", "numpy", "h5py", "open_clip", "decord"})

        from motecli.eval.results import build_rows, read_results_dir

        agg = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            rows = build_rows(read_results_dir(folder)[0], best_scale=True)
            agg.append(time.perf_counter() - start)
        slim = (folder / "k600-0-mod.json").stat().st_size
        start = time.perf_counter()
        json.loads((folder / "k600-0-mod.json").read_text())
        slim_s = time.perf_counter() - start
        pc_size, pc_s, all_size, all_s = inline_details_file(Path(tmp))

    print(f"{files} results files, {size / files / 1024:.0f} KiB each on average, {len(rows)} table rows; "
          f"median of {args.repeats}")
    base = statistics.median(times["python -c pass (baseline)"])
    print("| case | median | all runs |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {1000 * statistics.median(ts):.0f} ms | {' '.join(f'{1000 * t:.0f}' for t in ts)} |")
    print(f"| aggregation in-process (read + group + best-scale rows) | {1000 * statistics.median(agg):.0f} ms | "
          f"{' '.join(f'{1000 * t:.0f}' for t in agg)} |")
    print(f"heavy modules imported by `mote results`: {heavy or 'none'} (baseline python -c pass: {1000 * base:.0f} ms)")
    print(f"one K600 --split all file with a 4-scale sweep: {slim / 1024:.0f} KiB, json.loads {1000 * slim_s:.1f} ms; "
          f"with per-class accuracy inline {pc_size / 1024:.0f} KiB, {1000 * pc_s:.1f} ms; "
          f"and the predictions of one run inline too {all_size / 2**20:.1f} MiB, {1000 * all_s:.0f} ms")


if __name__ == "__main__":
    main()
