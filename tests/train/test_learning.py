"""A short run on clips that need temporal order lowers the loss and beats chance clearly."""

import json
import math

import pytest

from motecli.train.distributed import init_distributed
from motecli.train.loop import fit
from motecli.train.recipe import recipe_from_dict

from .clips import CLASS_NAMES, squares_data, tiny_recipe_dict

CLIPS, EPOCHS = 96, 20


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_cache):
    out = tmp_path_factory.mktemp("learn")
    recipe = recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": EPOCHS, "lr": 2e-3}, run={"val_every": EPOCHS}))
    data = squares_data(CLIPS, 32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(shared_cache))
        return recipe, fit(recipe, data, ctx=init_distributed())


def test_loss_falls_and_accuracy_beats_chance(run):
    _, result = run
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < first["loss"]
    chance = 1 / len(CLASS_NAMES)
    assert last["train_top1"] >= chance + 0.3
    assert result.best_top1 >= chance + 0.3  # held-out clips, uniformly merged head


def test_logged_learning_rates_follow_warmup_then_cosine(run):
    recipe, result = run
    s = recipe.solver
    steps = [json.loads(line) for line in (result.output / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if r["kind"] == "step"]
    per_epoch = CLIPS // s.total_batch
    assert len(steps) == s.epochs * per_epoch
    for record in steps:
        e = (record["step"] - 1) / per_epoch  # the rate of step k is set at epoch (k - 1) / steps_per_epoch
        if e < s.warmup_epochs:
            expected = s.lr * e / s.warmup_epochs
        else:
            expected = s.lr * 0.5 * (1 + math.cos(math.pi * (e - s.warmup_epochs) / (s.epochs - s.warmup_epochs)))
        assert record["lr_head"] == pytest.approx(expected, rel=1e-9, abs=1e-15)
        assert record["lr_clip"] == pytest.approx(expected * s.clip_lr_ratio, rel=1e-9, abs=1e-15)
