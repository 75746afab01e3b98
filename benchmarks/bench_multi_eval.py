"""Three checkpoints on one cached split: one `mote eval -c a -c b -c c` call against
three `mote eval -c x` calls, side by side (interleaved), caches already filled.

Workload: the synthetic videos (8 classes, --videos-per-class each, split 1's test list),
three merged tiny checkpoints (the bundled random-init CLIP with different heads),
zero-shot views 3x1, T = 8. A first one-call run fills the frame and text caches, so the
timed runs are what a researcher re-evaluating checkpoints pays: process start-up,
imports, reading caches, scoring, writing results.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_multi_eval.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))


def wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--videos-per-class", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["MOTE_CACHE"] = str(work / "cache")
        from mote_builders import merged_for

        from motecli.data.synth import make_synthetic_dataset

        ds = make_synthetic_dataset(work / "synth", videos_per_class=args.videos_per_class, frames_range=(24, 48), seed=0)
        checkpoints = []
        for seed in range(3):
            (work / f"ckpt{seed}").mkdir()
            checkpoints.append(merged_for(work / f"ckpt{seed}", ds.class_names, seed=seed, name=f"m{seed}"))
        env = dict(os.environ, MOTE_DATASETS=str(ds.config), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        base = [sys.executable, "-m", "motecli", "eval", "--dataset", "synth", "--split", "1", "--results-dir", str(work / "res")]
        one_call = base + [arg for c in checkpoints for arg in ("-c", str(c))]
        fill = wall(one_call, env)  # fills the frame caches (one per checkpoint) and the text cache
        times: dict[str, list[float]] = {"one call, 3 checkpoints": [], "three calls, 1 checkpoint each": []}
        for _ in range(args.repeats):
            times["one call, 3 checkpoints"].append(wall(one_call, env))
            times["three calls, 1 checkpoint each"].append(sum(wall(base + ["-c", str(c)], env) for c in checkpoints))
        videos = len((ds.root / "lists" / "test1.txt").read_text().splitlines())
    print(f"{videos} test videos, 3 views, T=8, 3 checkpoints; first call (fills the caches) {fill:.2f} s; "
          f"median of {args.repeats}, interleaved")
    print("| case | median | all runs | ratio |\n|---|---|---|---|")
    ref = statistics.median(times["three calls, 1 checkpoint each"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} s | {' '.join(f'{t:.2f}' for t in ts)} | {ref / med:.2f}x |")


if __name__ == "__main__":
    main()
