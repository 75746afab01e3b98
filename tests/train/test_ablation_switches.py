"""Each ablation switch of the recipe reaches the training step, not only the recipe.

A RunState is built from a recipe with the switch set (`setup_run`, as `mote train`
does), then real micro-steps run while the step module's inputs are recorded.
The draws are checked against draws made independently with the same seed.
"""

import pytest
import torch

from motecli.constants import WMR_TAU_CANDIDATES
from motecli.model.experts import RoutingConfig, merge_weights_for_tau
from motecli.train.distributed import init_distributed
from motecli.train.loop import _micro_step, draw_routing, setup_run
from motecli.train.recipe import recipe_from_dict

from .clips import squares_data, tiny_recipe_dict

STEPS, LAYERS, EXPERTS, SEED = 4, 2, 4, 1024


def _run(tmp_path, *, model=None, loss=None):
    sections = {"model": dict(model or {}), "run": {"seed": SEED}}
    if loss is not None:
        sections["loss"] = loss
    recipe = recipe_from_dict(tiny_recipe_dict(tmp_path, **sections))
    run = setup_run(recipe, squares_data(16, 4), ctx=init_distributed())
    return recipe, run


def _record_steps(run, steps: int = STEPS) -> list[dict]:
    """Run `steps` micro-steps (with optimizer steps) and record what the step module received."""
    calls = []
    forward = run.step_module.forward

    def spy(frames, labels, text, *, expert_indices, merge_weights):
        calls.append(dict(indices=list(expert_indices), merge=merge_weights.clone()))
        return forward(frames, labels, text, expert_indices=expert_indices, merge_weights=merge_weights)

    run.step_module.forward = spy
    data = squares_data(8 * steps, 0).train
    for step in range(steps):
        items = [data[i] for i in range(8 * step, 8 * step + 8)]
        batch = dict(frames=torch.stack([it["frames"] for it in items]),
                     labels=torch.tensor([it["label"] for it in items]), failures=[])
        _micro_step(run, batch, ctx=init_distributed(), sync=True)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    return calls


def _independent_draws(config: RoutingConfig, steps: int = STEPS):
    g = torch.Generator().manual_seed(SEED)
    return [draw_routing(num_blocks=LAYERS, num_experts=EXPERTS, generator=g, config=config) for _ in range(steps)]


def test_fixed_routing_sends_every_step_to_one_expert(tmp_path):
    _, run = _run(tmp_path, model={"routing": "fixed"})
    calls = _record_steps(run)
    assert all(c["indices"] == [EXPERTS - 1] * LAYERS for c in calls)


@pytest.mark.parametrize("switch", [{"routing": "random"}, {"routing_temperature": 0.3}])
def test_routing_mode_and_temperature_are_what_the_step_draws(tmp_path, switch):
    _, run = _run(tmp_path, model=switch)
    calls = _record_steps(run, steps=8)
    config = RoutingConfig(mode=switch.get("routing", "multinomial"), temperature=switch.get("routing_temperature", 1.0))
    expected = [indices for indices, _ in _independent_draws(config, steps=8)]
    default = [indices for indices, _ in _independent_draws(RoutingConfig(), steps=8)]
    assert [c["indices"] for c in calls] == expected
    assert expected != default  # the switch changed the draws (same seed)


def test_continuous_tau_reaches_the_merged_pass(tmp_path):
    _, run = _run(tmp_path, model={"tau_sampling": "continuous"})
    calls = _record_steps(run)
    discrete = [merge_weights_for_tau(t, EXPERTS) for t in WMR_TAU_CANDIDATES]
    expected = _independent_draws(RoutingConfig(tau_sampling="continuous"))
    for call, (_, merge) in zip(calls, expected):
        torch.testing.assert_close(call["merge"], merge)
        for row in call["merge"]:
            assert not any(torch.allclose(row.double(), d, atol=1e-6) for d in discrete)


def test_freeze_visual_leaves_the_image_encoder_bit_identical(tmp_path):
    _, run = _run(tmp_path, model={"freeze_visual": True})
    visual = {k: v.clone() for k, v in run.model.visual.state_dict().items()}
    head = {k: v.clone() for k, v in run.model.head.state_dict().items()}
    _record_steps(run, steps=2)
    assert all(torch.equal(visual[k], v) for k, v in run.model.visual.state_dict().items())
    assert any(not torch.equal(head[k], v) for k, v in run.model.head.state_dict().items())
    optimised = {id(p) for group in run.optimizer.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in run.model.visual.parameters()}
    assert id(run.model.logit_scale) in optimised


def test_without_merged_and_mse_terms_the_step_skips_the_wmr_pass(tmp_path):
    _, run = _run(tmp_path, loss={"merged": 0.0, "mse": 0.0}, model={"experts": 1})
    assert all(block.mlp.num_experts == 1 for block in run.model.head.blocks)
    passes = []
    features = run.model.video_features

    def count(x, **kwargs):
        passes.append(sorted(k for k, v in kwargs.items() if v is not None))
        return features(x, **kwargs)

    run.model.video_features = count
    _record_steps(run, steps=2)
    assert passes == [["expert_indices"], ["expert_indices"]]


def test_the_method_runs_both_passes(tmp_path):
    _, run = _run(tmp_path)
    passes = []
    features = run.model.video_features
    run.model.video_features = lambda x, **kw: passes.append(sorted(k for k, v in kw.items() if v is not None)) or features(x, **kw)
    _record_steps(run, steps=1)
    assert passes == [["expert_indices"], ["merge_weights"]]

