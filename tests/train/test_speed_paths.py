"""The training step's speed choices: fused AdamW only on CUDA, the same two parameter
groups; no host synchronisation per step; run.compile keeps checkpoint keys."""

import sys

import pytest
import torch

import motecli.train.loop as loop
from motecli.model.clip import resolve_clip
from motecli.model.video_clip import VideoModelConfig
from motecli.train.distributed import init_distributed
from motecli.train.progress import MetricsLog
from motecli.train.recipe import recipe_from_dict

from .clips import squares_data, tiny_recipe_dict

OPT = dict(lr=1e-3, clip_lr_ratio=0.07, weight_decay=0.2, betas=(0.9, 0.999), eps=1e-8)


def tiny_model(**kw):
    spec = resolve_clip("mote-tiny", None)
    config = VideoModelConfig.for_clip(spec, layers=2, num_frames=4)
    return loop.build_model(spec, config, seed=0, grad_checkpointing=False, device=torch.device("cpu"), **kw)


def test_fused_adamw_is_chosen_on_cuda_only():
    assert loop.use_fused_adamw(torch.device("cuda", 0))
    assert loop.use_fused_adamw(torch.device("cuda", 3))
    assert not loop.use_fused_adamw(torch.device("cpu"))
    assert not loop.use_fused_adamw(torch.device("meta"))


def test_optimizer_groups_and_the_fused_switch(monkeypatch):
    model = tiny_model()
    opt = loop.build_optimizer(model, **OPT)
    assert not opt.defaults["fused"]  # CPU parameters: the plain implementation
    clip, head = opt.param_groups
    assert clip["name"] == "clip" and head["name"] == "head"
    assert {id(p) for p in clip["params"]} == {id(p) for p in [*model.visual.parameters(), model.logit_scale]}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert clip["lr"] == pytest.approx(1e-3 * 0.07) and head["lr"] == 1e-3
    assert clip["weight_decay"] == head["weight_decay"] == 0.2
    # The decision is what build_optimizer follows (torch has a CPU fused kernel too).
    monkeypatch.setattr(loop, "use_fused_adamw", lambda device: True)
    assert loop.build_optimizer(model, **OPT).defaults["fused"] is True


def test_compiled_image_encoder_keeps_its_checkpoint_keys():
    eager, compiled = tiny_model(), tiny_model(compile_visual=True)
    assert compiled.visual._compiled_call_impl is not None
    assert eager.visual._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no `_orig_mod.` prefixes
    assert recipe_from_dict(tiny_recipe_dict("x", run={"compile": True})).run.compile


class SyncCounter:
    """Counts the training loop's own reads of tensor values into Python (tolist, item,
    float(), bool(), .cpu(), ...): on a GPU each waits for every queued kernel. Reads
    elsewhere are host-side by design (routing draws from a CPU generator, the CPU
    optimizer's step counters), so only calls made from train/loop.py count."""

    READS = ("tolist", "item", "__float__", "__int__", "__bool__", "cpu", "numpy")

    def __init__(self, monkeypatch) -> None:
        self.calls = []
        for name in self.READS:
            real = getattr(torch.Tensor, name)

            def counted(tensor, *args, _real=real, _name=name, **kwargs):
                caller = sys._getframe(1).f_code
                if caller.co_filename == loop.__file__:
                    self.calls.append((_name, caller.co_name))
                return _real(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.mark.parametrize("log_every, expected", [(100, 1), (2, 4)])
def test_no_host_sync_per_step_with_the_bar_shown(tmp_path, monkeypatch, log_every, expected):
    """6 steps: the device is read only every log_every steps and once at the end of the epoch."""
    recipe = recipe_from_dict(tiny_recipe_dict(tmp_path, solver={"epochs": 1}))
    data = squares_data(48, 8)
    ctx = init_distributed("cpu")
    run = loop.setup_run(recipe, data, ctx=ctx)
    loader = loop._train_loader(recipe, data, ctx=ctx, micro_batch=run.micro_batch, epoch=0)
    batches = list(loader)  # decode first: the dataset itself may read tensors
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # the bar is shown
    counter = SyncCounter(monkeypatch)
    stats = loop.train_one_epoch(run, batches, ctx=ctx, metrics=MetricsLog(None), log_every=log_every)
    monkeypatch.undo()
    assert run.steps_per_epoch == 6 and stats.clips == 48
    assert len(counter.calls) == expected, counter.calls
