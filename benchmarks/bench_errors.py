"""Time and peak memory of a one-line argument error, this tree against an older one,
side by side (cases interleaved so that machine noise hits both alike).

    git archive 83bee36 | tar -x -C /tmp/mote-before     # the code before the change
    .venv/bin/python benchmarks/bench_errors.py --before /tmp/mote-before --repeats 7

Each case runs `python -m motecli ...` in a fresh process with PYTHONPATH set to the
tree; peak RSS is the child's `ru_maxrss` from wait4.
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

REPO = Path(__file__).resolve().parents[1]
RECIPE = ('[model]\nname = "mote-tiny"\n[data]\nlist_file = "gone.txt"\nlabels_file = "labels.txt"\nroot = "."\n'
          '[solver]\nepochs = 2\nwarmup_epochs = 1\ntotal_batch = 4\n[run]\noutput = "run"\n')
CASES = {
    "mote merge x.pt --out o.txt": ["merge", "x.pt", "--out", "o.txt"],
    "mote eval -c x.pt --list gone.txt ...": ["eval", "-c", "x.pt", "--list", "gone.txt", "--labels", "labels.txt",
                                              "--root", "."],
    "mote eval -c gone.safetensors --list list.txt ...": ["eval", "-c", "gone.safetensors", "--list", "list.txt",
                                                          "--labels", "labels.txt", "--root", "."],
    "mote train r.toml (data.list_file missing)": ["train", "r.toml"],
}


def run(tree: Path, args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, last stderr line) of one `mote` process."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MOTE_CACHE=str(cwd / "cache"))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "motecli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 2:
        raise SystemExit(f"{args}: expected exit code 2, got {proc.returncode}: {err}")
    return wall, usage.ru_maxrss / 1024, err.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a tree of the code to compare with")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": REPO}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "x.pt").write_bytes(b"a checkpoint")
        (cwd / "labels.txt").write_text("a\nb\n")
        (cwd / "list.txt").write_text("v.mp4 0\n")
        (cwd / "r.toml").write_text(RECIPE)
        samples = {(case, tree): [] for case in CASES for tree in trees}
        for _ in range(args.repeats):
            for case, case_args in CASES.items():
                for tree, path in trees.items():
                    samples[(case, tree)].append(run(path, case_args, cwd))
    print("| command | before: median s | before: peak RSS MiB | after: median s | after: peak RSS MiB | time ratio |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        before, after = samples[(case, "before")], samples[(case, "after")]
        tb, ta = statistics.median(s[0] for s in before), statistics.median(s[0] for s in after)
        mb, ma = statistics.median(s[1] for s in before), statistics.median(s[1] for s in after)
        print(f"| `{case}` | {tb:.2f} | {mb:.0f} | {ta:.2f} | {ma:.0f} | {tb / ta:.1f}x |")
    for case in CASES:
        print(f"{case}\n  before: {samples[(case, 'before')][0][2]}\n  after:  {samples[(case, 'after')][0][2]}")


if __name__ == "__main__":
    main()
