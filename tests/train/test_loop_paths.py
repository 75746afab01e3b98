"""Training paths with no other test: a micro-batch in which every clip failed to
decode, the bf16 step on CPU, and `train()` under torchrun (rank 0 builds the data,
the other ranks wait for it)."""

import logging
import math

import pytest
import torch

from motecli.train import loop
from motecli.train.data import TrainData
from motecli.train.distributed import DistContext
from motecli.train.progress import MetricsLog
from motecli.train.recipe import recipe_from_dict

from .clips import CLASS_NAMES, MovingSquares, squares_data, tiny_recipe_dict

CPU = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


class Unreadable(MovingSquares):
    """Every clip fails, as a folder of broken files would."""

    def __getitem__(self, index: int) -> dict:
        return dict(frames=None, label=index % 2, index=index, error="not decodable: test", path=f"clip{index}")


def recipe(tmp_path, **run):
    return recipe_from_dict(tiny_recipe_dict(tmp_path, solver={"epochs": 1, "warmup_epochs": 0, "total_batch": 4,
                                                               "weight_decay": 0.0},
                                             run={"val_every": 0, **run}))


def test_a_micro_batch_of_failed_clips_changes_nothing(tmp_path):
    """Every clip failed: a zero placeholder clip at weight 0 keeps ranks in step, so
    the step counts no clip, adds no loss and leaves zero gradients (AdamW moves nothing)."""
    data = TrainData(train=Unreadable(8, num_frames=4), val=None, class_names=CLASS_NAMES, description="broken")
    r = recipe(tmp_path)
    run = loop.setup_run(r, data, ctx=CPU)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    batch = dict(frames=None, labels=torch.zeros(0, dtype=torch.long), indices=torch.zeros(0, dtype=torch.long),
                 failures=[(0, "clip0", "not decodable: test")])
    sums, n = loop._micro_step(run, batch, ctx=CPU, sync=True)
    assert n == 0.0 and torch.count_nonzero(sums) == 0
    grads = [p.grad for p in run.model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)
    run.optimizer.zero_grad(set_to_none=True)
    loader = loop._train_loader(r, data, ctx=CPU, micro_batch=run.micro_batch, epoch=0)
    stats = loop.train_one_epoch(run, loader, ctx=CPU, metrics=MetricsLog(None), log_every=1)
    assert (stats.clips, stats.failures, stats.loss) == (0, 8, 0.0)
    assert all(torch.equal(v, before[k]) for k, v in run.model.state_dict().items())


def test_bf16_training_step_on_cpu(tmp_path):
    """run.precision = 'bf16' on CPU: the forward runs under bf16 autocast, the weights stay float32 and learn."""
    r, data = recipe(tmp_path, precision="bf16"), squares_data(8, 2)
    run = loop.setup_run(r, data, ctx=CPU)
    assert run.precision.name == "bf16" and not run.precision.needs_scaler
    seen = []
    run.model.visual.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    before = {k: v.clone() for k, v in run.model.head.state_dict().items()}
    loader = loop._train_loader(r, data, ctx=CPU, micro_batch=run.micro_batch, epoch=0)
    stats = loop.train_one_epoch(run, loader, ctx=CPU, metrics=MetricsLog(None), log_every=1)
    assert seen and set(seen) == {torch.bfloat16}
    assert stats.clips == 8 and math.isfinite(stats.loss) and stats.loss > 0
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in run.model.head.state_dict().items())


@pytest.mark.parametrize("rank, expected", [
    (0, ["build", "barrier", "fit", "shutdown"]),  # rank 0 generates the data (synthetic videos) first
    (1, ["barrier", "build", "fit", "shutdown"]),  # the others read it once it is there
])
def test_train_under_torchrun_builds_the_data_on_rank_0_first(tmp_path, monkeypatch, rank, expected):
    events = []
    mote_log = logging.getLogger("mote")
    monkeypatch.setattr(mote_log, "level", mote_log.level)  # train() quiets the log of ranks > 0; restored after
    ctx = DistContext(rank=rank, world_size=2, local_rank=rank, device=torch.device("cpu"))
    monkeypatch.setattr(loop, "init_distributed", lambda device="auto": ctx)
    monkeypatch.setattr(loop, "barrier", lambda c: events.append("barrier"))
    monkeypatch.setattr(loop, "build_train_data", lambda *a, **k: events.append("build") or "data")
    monkeypatch.setattr(loop, "shutdown_distributed", lambda c: events.append("shutdown"))

    def fake_fit(recipe, data, *, ctx, resume, **kwargs):
        assert data == "data" and ctx.rank == rank
        events.append("fit")
        return "result"

    monkeypatch.setattr(loop, "fit", fake_fit)
    assert loop.train(recipe(tmp_path)) == "result"
    assert events == expected


def test_train_leaves_the_process_group_when_fit_fails(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(loop, "init_distributed", lambda device="auto": CPU)
    monkeypatch.setattr(loop, "build_train_data", lambda *a, **k: "data")
    monkeypatch.setattr(loop, "shutdown_distributed", lambda c: events.append("shutdown"))

    def broken_fit(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(loop, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="boom"):
        loop.train(recipe(tmp_path))
    assert events == ["shutdown"]
