"""Start-up time of `mote --help` against a bare Python start, side by side, and
`mote encode-text` on a cache miss (first call) against a cache hit.

    .venv/bin/python benchmarks/bench_cli.py --repeats 15
"""

from __future__ import annotations

import argparse
import statistics
import os
import subprocess
import sys
import tempfile
import time


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "mote --help": [sys.executable, "-m", "motecli", "--help"],
        "python -c 'import torch' (what --help avoids)": [sys.executable, "-c", "import torch"],
    }
    # Interleave the cases so machine noise hits them alike.
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, cmd in cases.items():
            times[name].append(wall(cmd))
    base = statistics.median(times["python -c pass (baseline)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:48s} median {med * 1000:7.0f} ms  (x{med / base:.1f} of bare python, n={len(ts)})")

    encode = [sys.executable, "-m", "motecli", "encode-text", "examples/labels.csv", "--model", "mote-tiny"]
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MOTE_CACHE"] = cache
        misses, hits = [], []
        for i in range(max(3, args.repeats // 3)):
            os.environ["MOTE_CACHE"] = os.path.join(cache, str(i))  # a fresh cache: a miss
            misses.append(wall(encode))
            hits.append(wall(encode))  # same cache again: a hit
    miss, hit = statistics.median(misses), statistics.median(hits)
    print(f"{'encode-text, 5 classes, mote-tiny: miss':48s} median {miss * 1000:7.0f} ms  (n={len(misses)})")
    print(f"{'encode-text, same call again: cache hit':48s} median {hit * 1000:7.0f} ms  (x{miss / hit:.0f} faster)")


if __name__ == "__main__":
    main()
