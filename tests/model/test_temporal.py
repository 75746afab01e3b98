"""The temporal head against independent implementations."""

import torch
from torch import nn

from motecli.model.experts import quick_gelu
from motecli.model.temporal import HeadConfig, MoTEHead, head_parameter_count


def reference_transformer(head: MoTEHead) -> nn.TransformerEncoder:
    """torch's own pre-norm encoder, holding the weights of a one-expert head."""
    cfg = head.config
    layer = nn.TransformerEncoderLayer(
        cfg.width, cfg.heads, dim_feedforward=4 * cfg.width, dropout=0.0, activation=quick_gelu,
        layer_norm_eps=1e-12, batch_first=True, norm_first=True,
    )
    ref = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
    for src, dst in zip(head.blocks, ref.layers):
        dst.self_attn.load_state_dict(src.attn.state_dict())
        dst.norm1.load_state_dict(src.ln_1.state_dict())
        dst.norm2.load_state_dict(src.ln_2.state_dict())
        dst.linear1.load_state_dict(src.mlp.fc_up[0].state_dict())
        dst.linear2.load_state_dict(src.mlp.fc_dn[0].state_dict())
    return ref.eval()


def test_single_expert_head_is_a_plain_temporal_transformer():
    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=32, heads=4, layers=3, num_experts=1)).eval()
    x = torch.randn(2, 8, 32)
    pos = head.frame_position_embeddings.weight[:8]
    with torch.no_grad():
        expected = reference_transformer(head)(x + pos) + x
        torch.testing.assert_close(head(x), expected, atol=1e-5, rtol=1e-5)
        # Routing and merging are the identity with one expert.
        torch.testing.assert_close(head(x, expert_indices=[0, 0, 0]), expected, atol=1e-5, rtol=1e-5)


def test_collapsed_head_equals_unmerged_head_with_uniform_weights():
    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=32, heads=4, layers=3, num_experts=4)).eval()
    x = torch.randn(4, 8, 32)
    uniform = torch.full((3, 4), 0.25)
    with torch.no_grad():
        unmerged = head(x, merge_weights=uniform)
        collapsed = head.collapsed().eval()
        assert collapsed.config.num_experts == 1
        torch.testing.assert_close(collapsed(x), unmerged, atol=1e-5, rtol=0)
        # ... and the collapsed head is itself the plain transformer of those weights.
        pos = collapsed.frame_position_embeddings.weight[:8]
        torch.testing.assert_close(reference_transformer(collapsed)(x + pos) + x, unmerged, atol=1e-5, rtol=0)


def test_routed_pass_uses_only_the_chosen_expert():
    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=16, heads=2, layers=2, num_experts=4))
    x = torch.randn(2, 4, 16)
    head(x, expert_indices=[3, 1]).sum().backward()
    used = {(0, 3), (1, 1)}
    for layer, block in enumerate(head.blocks):
        for i in range(4):
            grad = block.mlp.fc_up[i].weight.grad
            assert (grad is not None and grad.abs().sum() > 0) == ((layer, i) in used)


def test_alpha_scales_the_temporal_branch_only():
    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=16, heads=2, layers=2, num_experts=2)).eval()
    x = torch.randn(3, 4, 16)
    alpha = torch.tensor([0.0, 0.5, 1.0])
    with torch.no_grad():
        t = head.temporal(x)
        out = head(x, alpha=alpha)
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1], 0.5 * t[1] + x[1])
    torch.testing.assert_close(out[2], t[2] + x[2])


def test_initialisation_follows_the_method():
    torch.manual_seed(0)
    head = MoTEHead(HeadConfig(width=64, heads=1, layers=2, num_experts=4))
    fc = head.blocks[0].mlp.fc_up[0]
    assert abs(fc.weight.std().item() - 0.02) < 0.002 and fc.bias.abs().max() == 0
    assert abs(head.frame_position_embeddings.weight.std().item() - 0.02) < 0.002
    assert torch.equal(head.blocks[0].ln_1.weight, torch.ones(64)) and head.blocks[0].ln_1.eps == 1e-12
    assert head.frame_position_embeddings.num_embeddings == 77


def test_vit_l14_head_parameter_counts_match_the_paper():
    # Counted tensors: the frame position table (77 x D) and, per block, attention
    # in/out projections with biases, both LayerNorms and the FFN weights and biases
    # (all experts before merging, one after). The release's `mote_fusion_weight`
    # is a buffer of N zeros, not a learned parameter, and is not counted.
    with torch.device("meta"):
        head = MoTEHead(HeadConfig.for_clip(embed_dim=768, text_width=768, layers=6, num_experts=4))
        merged = MoTEHead(HeadConfig.for_clip(embed_dim=768, text_width=768, layers=6, num_experts=1))
    assert head.config.heads == 12
    assert round(head_parameter_count(head) / 1e6, 1) == 127.6
    assert round(head_parameter_count(merged) / 1e6, 1) == 42.6
