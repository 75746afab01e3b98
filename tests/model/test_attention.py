"""The head's attention runs through F.scaled_dot_product_attention and is today's
nn.MultiheadAttention head: same initialisation from a seed, same keys, same numbers."""

import pytest
import torch
from torch import nn

from motecli.model import temporal
from motecli.model.temporal import HeadConfig, MoTEHead


class MultiheadSelfAttention(nn.MultiheadAttention):
    """The attention the head used before SDPA: torch's module, called as self-attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__(width, heads, batch_first=True)

    def forward(self, x):
        return super().forward(x, x, x, need_weights=False)[0]


def mha_head(config: HeadConfig, monkeypatch) -> MoTEHead:
    """A head built exactly as before the switch: nn.MultiheadAttention in every block."""
    with monkeypatch.context() as m:
        m.setattr(temporal, "SelfAttention", MultiheadSelfAttention)
        head = MoTEHead(config)
    assert isinstance(head.blocks[0].attn, nn.MultiheadAttention)
    return head


CONFIG = HeadConfig(width=64, heads=4, layers=3, num_experts=4)


def test_same_seed_same_parameters_and_keys(monkeypatch):
    torch.manual_seed(7)
    ref = mha_head(CONFIG, monkeypatch)
    torch.manual_seed(7)
    head = MoTEHead(CONFIG)
    ref_state, state = ref.state_dict(), head.state_dict()
    assert list(state) == list(ref_state)  # the release's attn.in_proj_weight / out_proj keys
    assert "transformer.resblocks.0.attn.in_proj_weight" in state
    for key in state:
        assert torch.equal(state[key], ref_state[key]), key


@pytest.mark.parametrize("mode", ["inference", "routed", "merged"])
def test_sdpa_head_equals_multihead_attention_head(monkeypatch, mode):
    torch.manual_seed(0)
    ref = mha_head(CONFIG, monkeypatch)
    head = MoTEHead(CONFIG)
    head.load_state_dict(ref.state_dict())  # loads MHA's keys unchanged
    x = torch.randn(5, 8, 64)
    kwargs = dict(inference={}, routed=dict(expert_indices=[3, 0, 2]),
                  merged=dict(merge_weights=torch.softmax(torch.randn(3, 4), dim=-1)))[mode]
    if mode == "inference":
        ref.eval(), head.eval()
    x_ref, x_new = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out = ref(x_ref, **kwargs), head(x_new, **kwargs)
    assert (out - out_ref).abs().max().item() <= 1e-6
    # Training sees the same gradients too.
    (out_ref ** 2).sum().backward()
    (out ** 2).sum().backward()
    torch.testing.assert_close(x_new.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    grads_ref = dict(ref.named_parameters())
    for name, p in head.named_parameters():
        if p.grad is not None or grads_ref[name].grad is not None:
            torch.testing.assert_close(p.grad, grads_ref[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_width_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        temporal.SelfAttention(30, 4)
