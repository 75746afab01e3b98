"""Routing in the training step: one expert per block, drawn per block from
softmax([1..N]); every expert gets gradient through the merged (WMR) pass."""

import math

import torch

from motecli.model.clip import resolve_clip
from motecli.model.video_clip import VideoModelConfig
from motecli.train.loop import MoTEStep, build_model, draw_routing
from motecli.train.recipe import LossSection

from .clips import MovingSquares

LAYERS, EXPERTS = 3, 4


def _step_grads(loss_weights: LossSection, *, seed: int = 0):
    spec = resolve_clip("mote-tiny", None)
    config = VideoModelConfig.for_clip(spec, layers=LAYERS, num_experts=EXPERTS, num_frames=4)
    model = build_model(spec, config, seed=seed, grad_checkpointing=False, device=torch.device("cpu"))
    clips = MovingSquares(2, num_frames=4)
    frames = torch.stack([clips[i]["frames"] for i in range(2)])
    labels = torch.tensor([clips[i]["label"] for i in range(2)])
    text = torch.nn.functional.normalize(torch.randn(2, config.embed_dim, generator=torch.Generator().manual_seed(3)), dim=-1)
    indices, merge = draw_routing(num_blocks=LAYERS, num_experts=EXPERTS, generator=torch.Generator().manual_seed(seed))
    loss, _, _ = MoTEStep(model, loss_weights=loss_weights)(frames, labels, text, expert_indices=indices, merge_weights=merge)
    loss.backward()
    return model, indices


def _expert_grad_norms(model, block: int) -> list[float]:
    mlp = model.head.blocks[block].mlp
    return [sum(float(p.grad.abs().sum()) if p.grad is not None else 0.0
                for p in (mlp.fc_up[i].weight, mlp.fc_up[i].bias, mlp.fc_dn[i].weight, mlp.fc_dn[i].bias))
            for i in range(EXPERTS)]


def test_every_expert_of_every_block_gets_gradient_after_one_step():
    model, _ = _step_grads(LossSection())
    for block in range(LAYERS):
        assert all(g > 0 for g in _expert_grad_norms(model, block)), block


def test_without_the_merged_pass_only_the_routed_experts_learn():
    # Independent check that the gradient of the other experts comes from WMR alone.
    model, indices = _step_grads(LossSection(merged=0.0, mse=0.0))
    for block, chosen in enumerate(indices):
        norms = _expert_grad_norms(model, block)
        assert norms[chosen] > 0
        assert all(n == 0 for i, n in enumerate(norms) if i != chosen)


def test_routing_is_drawn_per_block_with_softmax_frequencies():
    g = torch.Generator().manual_seed(1)
    draws = 6000
    counts = torch.zeros(LAYERS, EXPERTS)
    mixed_steps = 0
    for _ in range(draws):
        indices, _ = draw_routing(num_blocks=LAYERS, num_experts=EXPERTS, generator=g)
        for block, i in enumerate(indices):
            counts[block, i] += 1
        mixed_steps += len(set(indices)) > 1
    z = sum(math.exp(k) for k in range(1, EXPERTS + 1))
    expected = torch.tensor([math.exp(k) / z for k in range(1, EXPERTS + 1)])
    freq = counts / draws
    # Binomial std at n=6000 is below 0.0065; 4 std of slack.
    assert torch.allclose(freq, expected.expand_as(freq), atol=0.026), freq
    # Independent blocks: P(all equal) = sum p_i^3 ~ 0.28, so most steps mix experts.
    assert 0.6 * draws < mixed_steps < 0.8 * draws


def test_merge_weights_are_softmax_over_ranks_with_the_drawn_tau():
    d = 0.6
    candidates = [m * d for m in (-16, -8, -4, -2, -1, 1, 2, 4, 8, 16)]
    allowed = [[math.exp(k / tau) for k in range(1, EXPERTS + 1)] for tau in candidates]
    allowed = [torch.tensor([w / sum(row) for w in row]) for row in allowed] + [torch.full((EXPERTS,), 1 / EXPERTS)]
    g = torch.Generator().manual_seed(2)
    seen = set()
    for _ in range(400):
        _, merge = draw_routing(num_blocks=LAYERS, num_experts=EXPERTS, generator=g)
        assert merge.shape == (LAYERS, EXPERTS)
        for row in merge:
            match = [j for j, ref in enumerate(allowed) if torch.allclose(row.double(), ref.double(), atol=1e-6)]
            assert match, row
            seen.add(match[0])
    assert seen == set(range(len(allowed)))  # every tau candidate, +inf included, occurs


def test_gradient_checkpointing_changes_memory_not_gradients():
    spec = resolve_clip("mote-tiny", None)
    config = VideoModelConfig.for_clip(spec, layers=1, num_experts=2, num_frames=4)
    clips = MovingSquares(2, num_frames=4)
    frames = torch.stack([clips[i]["frames"] for i in range(2)])
    labels = torch.tensor([0, 1])
    text = torch.nn.functional.normalize(torch.randn(2, config.embed_dim, generator=torch.Generator().manual_seed(3)), dim=-1)
    grads = []
    for checkpointing in (False, True):
        model = build_model(spec, config, seed=0, grad_checkpointing=checkpointing, device=torch.device("cpu"))
        assert model.visual.transformer.grad_checkpointing is checkpointing
        loss, _, _ = MoTEStep(model, loss_weights=LossSection())(
            frames, labels, text, expert_indices=[1], merge_weights=torch.tensor([[0.5, 0.5]]))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-6), name
