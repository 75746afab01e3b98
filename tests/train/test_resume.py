"""A run that dies after some epochs and is resumed ends bit-identical to one that did not."""

import pytest
import torch

import motecli.train.loop as loop
from motecli.train.distributed import init_distributed
from motecli.train.recipe import recipe_from_dict

from .clips import squares_data, tiny_recipe_dict

EPOCHS, CRASH_IN_EPOCH = 3, 3


def _data():
    return squares_data(16, 8)


def _recipe(out):
    # accumulation 2: micro-batches of 4, so the no-sync path and per-micro routing draws are covered too.
    return recipe_from_dict(tiny_recipe_dict(out, solver={"epochs": EPOCHS, "accumulation": 2}))


class Crash(Exception):
    pass


def test_resume_matches_uninterrupted_run(tmp_path, monkeypatch):
    reference = loop.fit(_recipe(tmp_path / "a"), _data(), ctx=init_distributed())

    real_epoch = loop.train_one_epoch
    calls = []

    def dying_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == CRASH_IN_EPOCH:
            raise Crash  # as if the job were killed during this epoch
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_epoch", dying_epoch)
    with pytest.raises(Crash):
        loop.fit(_recipe(tmp_path / "b"), _data(), ctx=init_distributed())
    monkeypatch.setattr(loop, "train_one_epoch", real_epoch)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["epoch"] == CRASH_IN_EPOCH - 1

    resumed = loop.fit(_recipe(tmp_path / "b"), _data(), ctx=init_distributed(), resume="auto")
    assert [r["epoch"] for r in resumed.history] == list(range(CRASH_IN_EPOCH, EPOCHS + 1))

    ref_state, res_state = reference.model.state_dict(), resumed.model.state_dict()
    assert ref_state.keys() == res_state.keys()
    for key in ref_state:
        assert torch.equal(ref_state[key], res_state[key]), key
    ref_ckpt = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    res_ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for a, b in zip(ref_ckpt["optimizer"]["state"].values(), res_ckpt["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(ref_ckpt["rng"]["routing"], res_ckpt["rng"]["routing"])
    assert ref_ckpt["best_top1"] == res_ckpt["best_top1"]


def test_resume_refuses_a_different_model(tmp_path):
    loop.fit(recipe_from_dict(tiny_recipe_dict(tmp_path, solver={"epochs": 1})), _data(), ctx=init_distributed())
    other = recipe_from_dict(tiny_recipe_dict(tmp_path, model={"layers": 3}, solver={"epochs": 2}))
    with pytest.raises(loop.MoteError, match="different model"):
        loop.fit(other, _data(), ctx=init_distributed(), resume="auto")
