"""Recipes: typed loading, overrides, errors that name the key, the shipped files."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli import constants as C
from motecli.cli_app import app
from motecli.errors import MoteError
from motecli.train.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

MINIMAL = """
[model]
name = "mote-tiny"
[data]
synthetic = true
[solver]
epochs = 10
total_batch = 8
[run]
output = "out"
"""


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def _cli(*args):
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_defaults_are_the_methods_constants(tmp_path):
    r = load_recipe(_write(tmp_path, MINIMAL))
    assert (r.solver.lr, r.solver.clip_lr_ratio, r.solver.weight_decay) == (C.HEAD_LR, C.CLIP_LR_RATIO, C.WEIGHT_DECAY)
    assert (r.solver.betas, r.solver.eps, r.solver.warmup_epochs) == (C.ADAM_BETAS, C.ADAM_EPS, C.WARMUP_EPOCHS)
    assert (r.loss.expert, r.loss.merged, r.loss.mse) == (C.LOSS_WEIGHT_EXPERT, C.LOSS_WEIGHT_MERGED, C.LOSS_WEIGHT_MSE)
    assert r.run.seed == C.SEED and r.run.precision == "auto"
    m = r.model
    assert (m.routing, m.routing_temperature, m.tau_sampling, m.freeze_visual) == (
        "multinomial", C.ROUTING_TEMPERATURE, "discrete", False)


def test_overrides_are_toml_literals_with_string_fallback(tmp_path):
    r = load_recipe(_write(tmp_path, MINIMAL), ["solver.lr=1e-4", "solver.epochs=7", "run.output=runs/x y",
                                                 "solver.betas=[0.8, 0.9]", "model.quick_gelu=false"])
    assert r.solver.lr == 1e-4 and r.solver.epochs == 7 and r.run.output == "runs/x y"
    assert r.solver.betas == (0.8, 0.9) and r.model.quick_gelu is False
    assert load_recipe(_write(tmp_path, MINIMAL)).to_dict()["solver"]["epochs"] == 10  # the file is untouched


@pytest.mark.parametrize(
    "text, overrides, key, what",
    [
        (MINIMAL.replace("epochs = 10", "epochs = 10\nlrr = 1.0"), [], "solver.lrr", "unknown key"),
        (MINIMAL.replace("[run]", "[runn]\n[run]"), [], "runn", "unknown key"),
        (MINIMAL, ["solver.lr=abc"], "solver.lr", "expected a float, got 'abc'"),
        (MINIMAL.replace("epochs = 10", "epochs = 10.5"), [], "solver.epochs", "expected an integer, got 10.5"),
        (MINIMAL, ["run.grad_checkpointing=1"], "run.grad_checkpointing", "expected a boolean"),
        (MINIMAL.replace("total_batch = 8", ""), [], "solver.total_batch", "missing required value"),
        (MINIMAL.replace('output = "out"', ""), [], "run.output", "missing required value"),
        (MINIMAL, ["run.precision=fp8"], "run.precision", "expected one of"),
        (MINIMAL, ["model.layers=0"], "model.layers", "expected a positive integer"),
        (MINIMAL, ["model.num_frames=78"], "model.num_frames", "do not fit the head's 77-row position table"),
        (MINIMAL, ["model.routing=topk"], "model.routing", "expected one of multinomial, random, fixed"),
        (MINIMAL, ["model.tau_sampling=beta"], "model.tau_sampling", "expected one of discrete, continuous"),
        (MINIMAL, ["model.routing_temperature=0"], "model.routing_temperature", "expected a positive number"),
        (MINIMAL, ['data.synthetic_shapes=["hexagon"]'], "data.synthetic_shapes", "shape 'hexagon': expected one of"),
        (MINIMAL, ['data.synthetic_shapes=["pink circle"]'], "data.synthetic_shapes", "optionally after a colour"),
        (MINIMAL, ['data.synthetic_directions=["sideways"]'], "data.synthetic_directions", "unknown 'sideways'"),
        (MINIMAL, ['data.synthetic_directions=["up", "up"]'], "data.synthetic_directions", "repeated values"),
        (MINIMAL, ["data.synthetic_directions=[]"], "data.synthetic_directions", "empty"),
        (MINIMAL, ['data.synthetic_shapes=["square", "square"]'], "data.synthetic_shapes", "repeated values"),
    ],
)
def test_errors_name_the_key_on_the_command_line(tmp_path, text, overrides, key, what):
    path = _write(tmp_path, text)
    with pytest.raises(MoteError, match=key):
        load_recipe(path, overrides)
    args = [a for o in overrides for a in ("--set", o)]
    code, output = _cli(path, *args)
    assert code != 0
    assert f"recipe {path}: {key}" in output and what in output
    assert "Traceback" not in output


def test_missing_recipe_file_is_one_line(tmp_path):
    code, output = _cli(tmp_path / "nope.toml")
    assert code != 0 and "no such file" in output and "Traceback" not in output


def test_shipped_recipes_carry_the_papers_settings():
    b16 = load_recipe(RECIPES / "k400.toml")
    assert (b16.model.name, b16.model.pretrained, b16.model.num_frames, b16.model.layers, b16.model.experts) == (
        "ViT-B-16", "openai", C.DEFAULT_NUM_FRAMES, 4, C.DEFAULT_NUM_EXPERTS)
    assert (b16.solver.epochs, b16.solver.total_batch, b16.solver.lr, b16.solver.clip_lr_ratio) == (30, 144, C.HEAD_LR, C.CLIP_LR_RATIO)
    assert (b16.solver.warmup_epochs, b16.solver.weight_decay, b16.solver.betas, b16.solver.eps) == (
        C.WARMUP_EPOCHS, C.WEIGHT_DECAY, C.ADAM_BETAS, C.ADAM_EPS)
    assert (b16.run.seed, b16.run.precision) == (C.SEED, "bf16")
    l14 = load_recipe(RECIPES / "k400-vitl14.toml")
    assert (l14.model.name, l14.model.layers, l14.solver.epochs, l14.run.grad_checkpointing) == ("ViT-L-14", 6, 20, True)
    tiny = load_recipe(RECIPES / "tiny.toml")
    assert tiny.model.name == "mote-tiny" and tiny.data.synthetic and not tiny.data.flip


def test_the_cli_does_not_import_torch_until_training():
    code = "import sys, motecli.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_largest_frame_count_the_head_holds_is_accepted(tmp_path):
    assert load_recipe(_write(tmp_path, MINIMAL), [f"model.num_frames={C.POSITION_TABLE_ROWS}"]).model.num_frames == 77
