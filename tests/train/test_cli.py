"""`mote train` end to end on real (synthetic) video files: checkpoints, metrics,
resume=auto, and unreadable videos skipped with a warning and counted."""

import json

import torch
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app
from motecli.data.synth import make_synthetic_dataset

TINY = """
[model]
name = "mote-tiny"
num_frames = 4
layers = 1
experts = 2

[data]
{data}
workers = 0
flip = false

[solver]
epochs = {epochs}
warmup_epochs = 1
total_batch = {batch}
lr = 1e-3
clip_lr_ratio = 1.0

[run]
output = "{output}"
precision = "fp32"
log_every = 1
"""


def _invoke(*args):
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def _records(output):
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def test_synthetic_recipe_trains_and_resumes_from_the_command_line(tmp_path):
    recipe = tmp_path / "tiny.toml"
    data = 'synthetic = true\nsynthetic_videos_per_class = 3\nsynthetic_shapes = ["square"]\nsynthetic_directions = ["left", "right"]'
    recipe.write_text(TINY.format(data=data, epochs=2, batch=4, output=tmp_path / "ignored"))
    out = tmp_path / "run"
    code, output = _invoke(recipe, "--output", out, "--set", "solver.epochs=1")
    assert code == 0, output
    first = torch.load(out / "last.pt", weights_only=True)
    assert first["epoch"] == 1 and first["class_names"] == ["square moving left", "square moving right"]
    assert first["recipe"]["solver"]["epochs"] == 1 and first["recipe"]["run"]["output"] == str(out)

    code, output = _invoke(recipe, "--output", out, "--resume", "auto")
    assert code == 0, output
    second = torch.load(out / "last.pt", weights_only=True)
    assert second["epoch"] == 2 and second["step"] == 2 * first["step"]
    epochs = [r for r in _records(out) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(r["failures"] == 0 and r["clips"] == 4 for r in epochs)
    assert "val_top1" in epochs[-1]


def test_unreadable_videos_are_skipped_and_counted(tmp_path):
    ds = make_synthetic_dataset(tmp_path / "synth", videos_per_class=1, shapes=("square",),
                                directions=("left", "right"), bad_files=True)
    # lists/bad.txt: 2 good videos, 4 unreadable entries and a 3-frame video (padded, readable).
    recipe = tmp_path / "bad.toml"
    data = (f'list_file = "{ds.root / "lists" / "bad.txt"}"\nlabels_file = "{ds.root / "lists" / "labels.csv"}"\n'
            f'root = "{ds.root}"')
    recipe.write_text(TINY.format(data=data, epochs=1, batch=7, output=tmp_path / "run"))
    code, output = _invoke(recipe)
    assert code == 0, output
    (epoch,) = [r for r in _records(tmp_path / "run") if r["kind"] == "epoch"]
    assert epoch["failures"] == 4 and epoch["clips"] == 3
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 1


def test_resume_from_a_missing_file_is_one_line(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY.format(data="synthetic = true", epochs=1, batch=4, output=tmp_path / "run"))
    code, output = _invoke(recipe, "--resume", tmp_path / "nope.pt")
    assert code != 0 and "no such file" in output and "Traceback" not in output
