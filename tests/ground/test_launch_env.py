"""What env.py derives for launchers: default workers from the CPUs, srun's rendezvous."""

import os

import pytest

from motecli import env
from motecli.errors import MoteError

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
               "SLURM_LOCALID", "SLURM_CPUS_PER_TASK", "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_JOB_ID",
               "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)


def cpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)))


@pytest.mark.parametrize("n, expected", [(1, 0), (2, 1), (4, 3), (16, 8), (64, 8)])
def test_default_workers_leave_a_core_and_cap_at_8(monkeypatch, n, expected):
    cpus(monkeypatch, n)
    assert env.default_workers() == expected


def test_torchrun_processes_of_a_node_share_the_cpus(monkeypatch):
    cpus(monkeypatch, 32)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert env.default_workers() == 3  # 32 / 8 = 4 per process, one left to the main process


def test_srun_task_uses_its_cpus_per_task(monkeypatch):
    cpus(monkeypatch, 64)  # srun without binding: the task sees the whole node
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "6")
    assert env.cpu_count() == 6 and env.default_workers() == 5


@pytest.mark.parametrize("nodelist, first", [
    ("gpu[07-09,12],cpu1", "gpu07"), ("node1", "node1"), ("n1,n2", "n1"), ("x[003]", "x003"),
    ("rack1-n[10-12]", "rack1-n10"), ("a[1-2]-b[3-4]", "a1-b3"),
])
def test_first_host_of_a_slurm_node_list(nodelist, first):
    assert env.first_host(nodelist) == first


def test_srun_rendezvous_from_the_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[03-04]")
    monkeypatch.setenv("SLURM_JOB_ID", "4512345")
    assert env.rendezvous() == ("gpu03", 20000 + 4512345 % 10000)
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.5")
    monkeypatch.setenv("MASTER_PORT", "29400")
    assert env.rendezvous() == ("10.0.0.5", 29400)


def test_srun_rendezvous_missing_is_a_clear_error(monkeypatch):
    with pytest.raises(MoteError, match="neither MASTER_ADDR nor SLURM_JOB_NODELIST"):
        env.rendezvous()
    monkeypatch.setenv("MASTER_ADDR", "node0")
    with pytest.raises(MoteError, match="neither MASTER_PORT nor SLURM_JOB_ID"):
        env.rendezvous()
    monkeypatch.setenv("MASTER_PORT", "99999")
    with pytest.raises(MoteError, match="MASTER_PORT=99999"):
        env.rendezvous()
