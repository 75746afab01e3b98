"""`mote train` killed with SIGKILL between or inside its checkpoint saves, then resumed:
last.pt and best.pt stay a consistent pair, and the killed save's temporary is removed.
And a run is never started over another run's checkpoints by accident."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
import motecli.train.loop as loop
from motecli.atomic import process_alive
from motecli.cli_app import app
from motecli.errors import MoteError
from motecli.train.distributed import init_distributed
from motecli.train.recipe import recipe_from_dict

from .clips import squares_data, tiny_recipe_dict

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3

# The subprocess trains with lr = 0: every epoch scores the same, so only epoch 1
# "improves", and a best.pt lost at epoch 1 would never be written again.
TRAIN = '''
import os, signal, sys
from pathlib import Path
import torch
import motecli.train.loop as loop
from motecli.train.distributed import init_distributed
from motecli.train.recipe import recipe_from_dict
from tests.train.clips import squares_data, tiny_recipe_dict

out, kill_at = Path(sys.argv[1]), sys.argv[2]
real_save = torch.save


def save(obj, f, *args, **kwargs):
    real_save(obj, f, *args, **kwargs)
    name = Path(f).name
    if kill_at == "inside best.pt" and name.startswith(".best.pt.tmp-"):
        os.kill(os.getpid(), signal.SIGKILL)  # written in full, not yet renamed into place
    if kill_at == "after last.pt" and name.startswith(".last.pt.tmp-"):
        os.replace(f, out / "last.pt")  # renamed into place, best.pt not yet written
        os.kill(os.getpid(), signal.SIGKILL)


torch.save = save
recipe = recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": %d, "lr": 0.0}))
loop.fit(recipe, squares_data(8, 4), ctx=init_distributed())
''' % EPOCHS


def _recipe(out, **solver):
    return recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": EPOCHS, "lr": 0.0, **solver}))


@pytest.mark.parametrize("kill_at", ["after last.pt", "inside best.pt"])
def test_kill_between_last_and_best_then_resume_keeps_the_pair(tmp_path, shared_cache, kill_at):
    out = tmp_path / "run"
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = dict(os.environ, MOTE_CACHE=str(shared_cache), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), str(out), kill_at], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = torch.load(out / "last.pt", weights_only=True)
    assert killed["epoch"] == 1 and killed["best_epoch"] == 1 and not (out / "best.pt").exists()
    dead = list(out.glob(".*.tmp-*"))
    assert len(dead) == (kill_at == "inside best.pt")  # the killed save's temporary, if any
    live = subprocess.Popen(["sleep", "60"])  # a live writer's temporary must survive
    try:
        (out / f".last.pt.tmp-{live.pid}").write_bytes(b"being written")
        result = loop.fit(_recipe(out), squares_data(8, 4), ctx=init_distributed(), resume="auto")
        assert process_alive(live.pid) and (out / f".last.pt.tmp-{live.pid}").exists()
    finally:
        live.kill()
        live.wait()
    assert not any(p.exists() for p in dead)

    assert [r["epoch"] for r in result.history] == [2, 3]
    best = torch.load(out / "best.pt", weights_only=True)
    last = torch.load(out / "last.pt", weights_only=True)
    assert best["epoch"] == last["best_epoch"] == 1 and best["best_top1"] == last["best_top1"]
    for key, value in killed["model"].items():  # best.pt is epoch 1's own state
        assert torch.equal(best["model"][key], value), key


def test_a_folder_holding_a_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    loop.fit(_recipe(out, epochs=1), squares_data(8, 4), ctx=init_distributed())
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {"last.pt", "best.pt"} <= set(stamps)
    with pytest.raises(MoteError, match=r"already holds a training run \(last.pt, best.pt\); use --resume auto .* -o DIR .* --overwrite"):
        loop.fit(_recipe(out, epochs=1), squares_data(8, 4), ctx=init_distributed())
    other = tmp_path / "other.pt"
    other.write_bytes((out / "last.pt").read_bytes())
    with pytest.raises(MoteError, match="would overwrite"):
        loop.fit(_recipe(out, epochs=2), squares_data(8, 4), ctx=init_distributed(), resume=str(other))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    # --overwrite replaces the run: no file of the old one is left to be taken for the new one's.
    recipe = recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": 1}, run={"val_every": 0}))
    loop.fit(recipe, squares_data(8, 4), ctx=init_distributed(), overwrite=True)
    assert not (out / "best.pt").exists()
    starts = [line for line in (out / "metrics.jsonl").read_text().splitlines() if '"kind": "start"' in line]
    assert len(starts) == 1


def test_cli_refuses_an_occupied_folder_before_importing_torch(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"an earlier run")
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nname = "mote-tiny"\n[data]\nsynthetic = true\n[solver]\nepochs = 2\nwarmup_epochs = 1\ntotal_batch = 4\n'
                      f'[run]\noutput = "{out}"\n')
    code = ("import sys\nfrom motecli.cli import main\nsys.argv = ['mote', *sys.argv[1:]]\n"
            "try:\n    main()\nfinally:\n    print('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code, "train", str(recipe)], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert proc.returncode == MoteError.exit_code and proc.stdout.strip() == "False", proc.stderr
    assert proc.stderr.startswith("mote: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "already holds a training run (last.pt)" in proc.stderr and "--overwrite" in proc.stderr
    assert (out / "last.pt").read_bytes() == b"an earlier run"

    result = CliRunner().invoke(app, ["train", str(recipe), "--resume", str(out)])
    assert_one_line_error(result, f"--resume {out}: is a directory")
