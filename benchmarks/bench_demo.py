"""Wall time, CPU time and peak memory of `mote demo`, from an empty cache and with the pretraining cached.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_demo.py --out /tmp/bench_demo.json
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_demo.py --ablation --out /tmp/bench_ablation.json
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_demo.py --ablation --pretrained-from CACHE_DIR ...

Cases, each `python -m motecli demo` in a fresh process with a fresh workdir:
  cold      empty cache: pretraining, videos, text caches, training, frame caches, everything
  warm      a new empty cache holding only the cold run's pretrained weights (`cache/pretrained/`)
  ablation  (--ablation) `mote demo --ablation` with the pretraining cached
With --pretrained-from CACHE_DIR the cold case is skipped: the warm cache gets that
cache's `pretrained/` folder (e.g. a cold run's, kept with --keep).

Memory: the peak over time of the summed PSS (proportional set size: shared pages
split between the processes that share them) of the demo process and its
children (DataLoader workers), sampled every 0.25 s from /proc; and the largest
single process's max RSS (getrusage of the waited-for children). CPU time is
user + system of the whole process tree. The load average before and after each
case is recorded, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _pss_mib(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run_case(name: str, *, cache: Path, workdir: Path, extra: list[str]) -> dict:
    env = dict(os.environ, MOTE_CACHE=str(cache))
    command = [sys.executable, "-m", "motecli", "demo", "--workdir", str(workdir), *extra]
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _pss_mib(_tree(proc.pid)))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{output[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = dict(case=name, command=" ".join(command), wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                  peak_pss_tree_mib=round(peak[0]), max_rss_largest_process_mib=round(after.ru_maxrss / 1024),
                  load_before=[round(x, 2) for x in load_before], load_after=[round(x, 2) for x in os.getloadavg()],
                  output_tail=output.strip().splitlines()[-40:])
    print(json.dumps({k: v for k, v in result.items() if k != "output_tail"}), flush=True)
    print("\n".join(result["output_tail"]), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ablation", action="store_true", help="Time `mote demo --ablation` (pretraining cached).")
    parser.add_argument("--pretrained-from", type=Path, default=None,
                        help="Skip the cold case; take the pretraining from this cache folder's pretrained/.")
    parser.add_argument("--keep", type=Path, default=None, help="Work under this folder instead of a temporary one.")
    parser.add_argument("--out", type=Path, default=None, help="Write the results JSON here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    results = []
    if args.pretrained_from is None:
        results.append(run_case("cold", cache=base / "cache-cold", workdir=base / "work-cold", extra=[]))
    warm_cache = base / "cache-warm"
    shutil.copytree((args.pretrained_from or base / "cache-cold") / "pretrained", warm_cache / "pretrained")
    if args.ablation:
        results.append(run_case("ablation", cache=warm_cache, workdir=base / "work-ablation", extra=["--ablation"]))
    else:
        results.append(run_case("warm", cache=warm_cache, workdir=base / "work-warm", extra=[]))
    report = dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
                               omp_threads=os.environ.get("OMP_NUM_THREADS")),
                  date=time.strftime("%Y-%m-%d %H:%M"), results=results)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
