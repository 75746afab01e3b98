"""Environment variables: read in motecli/env.py only, listed in the README, parsed
when used (a bad value is a one-line error of the command, never an import error),
rank and world size from torchrun's variables or SLURM's."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from motecli import env
from motecli.env import WorldInfo, world_info
from motecli.errors import MoteError

ROOT = Path(__file__).resolve().parents[1]
WORLD_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


def env_reads(path: Path) -> list[int]:
    """Lines of `path` that touch os.environ or call os.getenv / os.putenv."""
    tree = ast.parse(path.read_text())
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv")
            and isinstance(node.value, ast.Name) and node.value.id == "os"]


def test_only_env_py_reads_the_environment():
    found = {str(p.relative_to(ROOT)): env_reads(p) for p in sorted((ROOT / "motecli").rglob("*.py"))
             if p.name != "env.py" or p.parent.name != "motecli"}
    assert {k: v for k, v in found.items() if v} == {}


def test_readme_lists_every_variable():
    names = {node.value for node in ast.walk(ast.parse((ROOT / "motecli" / "env.py").read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|RANK", node.value)}
    assert {"MOTE_CACHE", "MOTE_DECODE_TIMEOUT_S", "RANK", "SLURM_PROCID", "HF_ENDPOINT"} <= names
    section = (ROOT / "README.md").read_text().split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    assert sorted(n for n in names if f"`{n}`" not in section) == []


@pytest.fixture
def no_world(monkeypatch):
    for name in WORLD_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_world_info_defaults_to_one_process(no_world):
    assert world_info() == WorldInfo(0, 1, 0, "none")


def test_world_info_from_torchrun(no_world):
    no_world.setenv("RANK", "5")
    no_world.setenv("WORLD_SIZE", "8")
    no_world.setenv("LOCAL_RANK", "1")
    no_world.setenv("SLURM_PROCID", "0")  # torchrun's variables win over SLURM's
    no_world.setenv("SLURM_NTASKS", "2")
    assert world_info() == WorldInfo(5, 8, 1, "torchrun")


def test_world_info_falls_back_to_slurm(no_world):
    no_world.setenv("SLURM_PROCID", "3")
    no_world.setenv("SLURM_NTASKS", "4")
    no_world.setenv("SLURM_LOCALID", "1")
    assert world_info() == WorldInfo(3, 4, 1, "slurm")


@pytest.mark.parametrize("values, fragment", [
    ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one': expected an integer"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 with WORLD_SIZE=2: expected 0 <= rank < world size"),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "0"}, "SLURM_PROCID=0 with SLURM_NTASKS=0"),
])
def test_bad_world_values_name_the_variable(no_world, values, fragment):
    for name, value in values.items():
        no_world.setenv(name, value)
    with pytest.raises(MoteError, match=re.escape(fragment)):
        world_info()


@pytest.mark.parametrize("name, value, call, fragment", [
    ("MOTE_DECODE_TIMEOUT_S", "abc", env.decode_timeout_s, "MOTE_DECODE_TIMEOUT_S='abc': expected a positive number"),
    ("MOTE_DECODE_TIMEOUT_S", "-3", env.decode_timeout_s, "MOTE_DECODE_TIMEOUT_S='-3'"),
    ("MOTE_HANG_GRACE_S", "soon", env.hang_grace_s, "MOTE_HANG_GRACE_S='soon'"),
])
def test_bad_values_are_errors_when_used(monkeypatch, name, value, call, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(MoteError, match=re.escape(fragment)):
        call()


def test_values_are_read_when_used(monkeypatch, tmp_path):
    monkeypatch.setenv("MOTE_DECODE_TIMEOUT_S", "7.5")
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "c"))
    monkeypatch.delenv("MOTE_HUNG_VIDEOS", raising=False)
    monkeypatch.delenv("MOTE_CHECKPOINT", raising=False)
    from motecli.decode.shard import StoreSettings

    assert StoreSettings().timeout_s == 7.5  # the store's default limit comes from the variable
    assert env.hung_videos_file() == tmp_path / "c" / "hung-videos.tsv"
    assert env.default_checkpoint() == tmp_path / "c" / "checkpoints" / "merged.safetensors"


def test_a_bad_value_does_not_break_import():
    """`import motecli.decode.runner` (and the CLI's --help) with a bad value set: no error until used."""
    code = "import motecli.decode.runner, motecli.data.video, motecli.cache.encode, motecli.cli; print('imported')"
    bad = {"MOTE_DECODE_TIMEOUT_S": "abc", "MOTE_HANG_GRACE_S": "soon", "RANK": "x", "WORLD_SIZE": "y"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **bad}, timeout=120)
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr
