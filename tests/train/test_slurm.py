"""srun without torchrun: two processes with only SLURM's variables join one gloo group."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from motecli.env import SLURM_PORT_BASE, SLURM_PORT_SPAN

ROOT = Path(__file__).resolve().parents[2]
WORKER = ("from motecli.train.distributed import init_distributed, all_reduce_sum, shutdown_distributed\n"
          "ctx = init_distributed('auto')\n"
          "print(ctx.rank, ctx.world_size, ctx.device, all_reduce_sum(ctx, [ctx.rank + 1.0])[0], flush=True)\n"
          "shutdown_distributed(ctx)\n")


def free_job_id() -> int:
    """A job id whose derived port (SLURM_PORT_BASE + id % SPAN) is free right now."""
    for offset in range(SLURM_PORT_SPAN):
        port = SLURM_PORT_BASE + (os.getpid() * 7 + offset) % SLURM_PORT_SPAN
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return 3 * SLURM_PORT_SPAN + port - SLURM_PORT_BASE
    raise RuntimeError("no free port")


def test_two_srun_tasks_join_one_group(tmp_path):
    base = {k: v for k, v in os.environ.items()
            if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    base.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", SLURM_NTASKS="2", SLURM_JOB_NODELIST="localhost",
                SLURM_JOB_ID=str(free_job_id()))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], env={**base, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    # Rank and size from SLURM's variables; the sum over both processes is 1 + 2.
    assert [o.split() for o, _ in outs] == [["0", "2", "cpu", "3.0"], ["1", "2", "cpu", "3.0"]]
