"""Checkpoints load with weights_only=True and hold what `mote merge` reads."""

import pytest
import torch

from motecli.errors import MoteError
from motecli.text.encode import cached_text_embeddings
from motecli.text.labels import read_templates_file
from motecli.checkpoints.training import KEYS, load_training_checkpoint
from motecli.train.distributed import init_distributed
from motecli.train.loop import fit
from motecli.train.recipe import recipe_from_dict

from .clips import CLASS_NAMES, squares_data, tiny_recipe_dict


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_cache):
    out = tmp_path_factory.mktemp("ckpt")
    recipe = recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": 2}))
    data = squares_data(8, 4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(shared_cache))
        return recipe, fit(recipe, data, ctx=init_distributed())


def test_last_and_best_load_with_weights_only_and_hold_every_key(trained):
    recipe, result = trained
    for name in ("last.pt", "best.pt"):
        state = torch.load(result.output / name, weights_only=True)
        assert set(KEYS) <= set(state)
        assert state["format"] == "mote-train" and state["format_version"] == 1
    last = torch.load(result.output / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and last["step"] == 2 * (8 // recipe.solver.total_batch)
    assert last["model_config"]["layers"] == 2 and last["model_config"]["num_frames"] == 4
    assert last["clip"]["model"] == "mote-tiny" and last["clip"]["pretrained"] is None
    assert set(last["clip"]) == {"model", "pretrained", "quick_gelu", "weights_id"}
    assert {k.split(".")[0] for k in last["model"]} == {"visual", "head", "logit_scale"}
    assert set(last["rng"]) == {"torch", "cuda", "numpy", "python", "routing"}
    assert last["recipe"]["solver"]["epochs"] == 2 and last["class_names"] == CLASS_NAMES


def test_checkpoint_model_is_the_trained_model_and_embeddings_the_text_cache(trained):
    recipe, result = trained
    last = load_training_checkpoint(result.output / "last.pt")
    for key, value in result.model.state_dict().items():
        assert torch.equal(last["model"][key], value), key
    text = cached_text_embeddings(model="mote-tiny", pretrained=None, class_names=CLASS_NAMES,
                                  templates=read_templates_file(None)).embeddings.embeddings
    assert last["class_embeddings"].dtype == torch.float32
    assert torch.equal(last["class_embeddings"], torch.from_numpy(text))


def test_best_holds_the_highest_validation_top1(trained):
    _, result = trained
    tops = [r["val_top1"] for r in result.history]
    best = load_training_checkpoint(result.output / "best.pt")
    assert best["best_top1"] == max(tops)
    assert best["epoch"] == 1 + tops.index(max(tops))


def test_other_files_are_refused_in_one_line(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(MoteError, match="not a mote training checkpoint"):
        load_training_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model_state_dict": {}}, foreign)
    with pytest.raises(MoteError, match="not a mote training checkpoint"):
        load_training_checkpoint(foreign)
    with pytest.raises(MoteError, match="no such file"):
        load_training_checkpoint(tmp_path / "missing.pt")
