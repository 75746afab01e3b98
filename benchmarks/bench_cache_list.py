"""`mote cache list` on a cache root holding hundreds of caches (issue: well under a second).

Writes a synthetic cache root: N frame-embedding caches (small manifests, as `mote
encode-frames` writes them, each with one head cache), N/4 frame stores whose manifests
list Kinetics-400 val (19,906 items, so a scanner that parsed them would pay for it), N/2
text caches (real HDF5 files, read for their attributes), then times the command end to
end in a subprocess (median of several runs) with store cards and without them.

    python benchmarks/bench_cache_list.py --caches 300 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from motecli.cachecard import CARD, write_card  # noqa: E402


def populate(root: Path, n: int, *, cards: bool) -> None:
    items = [[f"class_{i % 400}/video_{i:06d}.mp4", i % 400] for i in range(19906)]
    store_manifest = json.dumps(dict(schema_version=1, key="k", count=len(items), shard_size=64, items=items,
                                     class_names=[f"class {c}" for c in range(400)]))
    for i in range(n):
        folder = root / "frames" / "embeddings" / f"k400_test-{i:016x}"
        (folder / "heads" / f"{i:016x}").mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(dict(
            kind="frame-cache", schema_version=2, key=f"{i:064x}", shard_size=64, clips=3, crops=1, num_frames=8,
            dim=512, collection="k400/test", dataset="k400", checkpoint=f"/ckpt/{i}.safetensors",
            checkpoint_id=f"{i:010x}", fingerprint=dict(encoder=dict(model="ViT-B-16", visual_sha256=f"{i:064x}")))))
        (folder / "heads" / f"{i:016x}" / "manifest.json").write_text(json.dumps(dict(
            kind="head-cache", schema_version=1, key=f"{i:064x}",
            checkpoint=dict(path=f"/ckpt/{i}.safetensors", sha256=f"{i:064x}", head_sha256=f"{i:064x}"))))
        for s in range(3):
            (folder / f"shard-{s:016x}.h5").write_bytes(b"\0" * 4096)
        (folder / "heads" / f"{i:016x}" / "shard-0000000000000000.h5").write_bytes(b"\0" * 4096)
    for i in range(n // 4):
        folder = root / "frames" / f"k400-split{i}-train"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(store_manifest)
        if cards:
            write_card(folder, kind="frame-store", source="k400", videos=len(items), shard_size=64)
    (root / "text").mkdir(parents=True)
    for i in range(n // 2):
        with h5py.File(root / "text" / f"ViT-B-16-{i:016x}.h5", "w") as f:
            f.create_dataset("embeddings", data=np.zeros((400, 512), np.float32))
            f.create_dataset("classes", data=[f"c{c}" for c in range(400)], dtype=h5py.string_dtype())
            f.attrs.update(kind="mote-text-embeddings", complete=True, model="ViT-B-16", weights_id="x")


def time_list(root: Path, repeats: int) -> tuple[float, int]:
    env = dict(os.environ, MOTE_CACHE=str(root), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "motecli", "cache", "list", "--json"], env=env, check=True,
                             capture_output=True, text=True).stdout
        times.append(time.perf_counter() - start)
        count = len(json.loads(out)["entries"])
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--caches", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for cards in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "cache"
            populate(root, args.caches, cards=cards)
            if not cards:
                assert not list(root.rglob(CARD))
            median, count = time_list(root, args.repeats)
            print(f"{'store cards' if cards else 'store manifests only (stores written before cards)'}: {count} caches listed, "
                  f"median {median:.3f} s over {args.repeats} runs of `mote cache list --json`")


if __name__ == "__main__":
    main()
