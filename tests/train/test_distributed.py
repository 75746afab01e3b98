"""Two processes under torchrun (gloo on CPU) end with identical parameters and metrics."""

import os
import subprocess
import sys
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_ranks_train_to_identical_parameters(tmp_path, shared_cache):
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MOTE_CACHE": str(shared_cache)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
           "--rdzv-endpoint", "localhost:0", str(WORKER), str(out), str(dump)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = (dump / "rank0.txt").read_text(), (dump / "rank1.txt").read_text()
    assert rank0.count("\n") > 10
    assert rank0 == rank1  # every tensor hash, and the all-reduced metrics
    assert rank0.splitlines()[-1].endswith(" 6")  # each validation clip counted once over both ranks
    # Only rank 0 writes: one start record, not two.
    records = (out / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "start"' in r for r in records) == 1
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["recipe"]["solver"]["accumulation"] == 2
