"""Paths of the wrong kind and damaged files are one `mote: error:` line naming them, and
a check that needs no torch fails before torch is imported (real processes, so that
warnings and imports are what a user gets)."""

import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app

REPO = Path(__file__).resolve().parents[2]
# Runs `mote ARGS...` and prints, last, whether torch was imported.
PROBE = ("import sys\nfrom motecli.cli import main\nsys.argv = ['mote', *sys.argv[1:]]\n"
         "try:\n    main()\nfinally:\n    print('torch imported' if 'torch' in sys.modules else 'no torch')\n")


def _mote(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), MOTE_CACHE=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "list.txt").write_text("v.mp4 0\n")
    (tmp_path / "ckpt.pt").write_bytes(b"exists")
    (tmp_path / "folder").mkdir()
    recipe = ('[model]\nname = "mote-tiny"\n[data]\nlist_file = "gone.txt"\nlabels_file = "labels.txt"\nroot = "."\n'
              '[solver]\nepochs = 2\nwarmup_epochs = 1\ntotal_batch = 4\n[run]\noutput = "run"\n')
    (tmp_path / "r.toml").write_text(recipe)
    return tmp_path


@pytest.mark.parametrize("args,message", [
    (["merge", "ckpt.pt", "--out", "o.txt"], "--out o.txt: expected a .safetensors or .pt file name"),
    (["merge", "folder", "--out", "o.safetensors"], "folder: is a directory"),
    (["merge", "ckpt.pt", "--out", "o.pt", "--patch-alpha", "0.5"], "--patch-alpha needs --original"),
    (["eval", "-c", "folder"], "merged model folder: is a directory"),
    (["eval", "-c", "ckpt.pt", "--list", "gone.txt", "--labels", "labels.txt", "--root", "."], "video list gone.txt: no such file"),
    (["eval", "-c", "ckpt.pt", "--list", "list.txt", "--labels", "folder", "--root", "."], "labels file folder: is a directory"),
    (["encode-frames", "-c", "gone.safetensors", "--list", "list.txt"], "merged model gone.safetensors: no such file"),
    (["train", "r.toml"], "video list gone.txt: no such file"),
    (["encode-text", "labels.txt", "--pretrained", "folder"], "--pretrained folder: is a directory"),
], ids=["merge-suffix", "merge-folder", "merge-alpha", "eval-folder", "eval-list", "eval-labels", "encode-frames-missing",
        "train-list", "pretrained-folder"])
def test_argument_errors_come_before_torch(files, args, message):
    proc = _mote(files, *args)
    assert proc.returncode == 1, proc.stderr  # a MoteError (README, "Exit codes"); 2 is a usage error
    assert proc.stdout.strip() == "no torch", "the check needs no torch, so it must come before torch is imported"
    assert proc.stderr.startswith("mote: error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr


def _damaged_torchscript(path: Path) -> Path:
    """A TorchScript archive (OpenAI's CLIP format) whose pickled data is cut short."""
    good = path.with_name("good.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(good))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[: len(data) // 2] if name.endswith("/data.pkl") else data)
    return path


def test_damaged_torchscript_weights_are_one_line_without_warnings(tmp_path):
    bad = _damaged_torchscript(tmp_path / "ViT-B-16.pt")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    proc = _mote(tmp_path, "encode-text", "labels.txt", "--model", "mote-tiny", "--pretrained", bad)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], "one line, no torch warnings"
    assert proc.stderr.startswith(f"mote: error: {bad}: damaged TorchScript archive"), proc.stderr


def test_cut_short_archive_and_directories_in_process(tmp_path):
    cut = tmp_path / "cut.pt"
    torch.save({"w": torch.zeros(1000)}, tmp_path / "whole.pt")
    cut.write_bytes((tmp_path / "whole.pt").read_bytes()[:2000])
    runner = CliRunner()
    assert_one_line_error(runner.invoke(app, ["merge", str(cut), "--out", str(tmp_path / "m.safetensors")]),
                          f"{cut}: a torch archive cut short")
    assert_one_line_error(runner.invoke(app, ["merge", str(tmp_path), "--out", str(tmp_path / "m.safetensors")]),
                          f"{tmp_path}: is a directory")
