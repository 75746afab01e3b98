import torch
import torch.nn.functional as F

from motecli.model.loss import mote_loss


def test_three_term_loss_weights():
    torch.manual_seed(0)
    le, lm = torch.randn(4, 6), torch.randn(4, 6)
    z, x = torch.randn(4, 8, 16), torch.randn(4, 8, 16)
    y = torch.tensor([0, 5, 2, 2])
    total, parts = mote_loss(logits_expert=le, logits_merged=lm, z_merged=z, x=x, labels=y)
    # Independent: log-softmax picked by hand, squared error averaged by hand.
    ce = lambda l: -(l - l.logsumexp(-1, keepdim=True))[torch.arange(4), y].mean()
    expected = ce(le) + 0.5 * ce(lm) + 0.1 * ((z - x) ** 2).mean()
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(parts["mse"], F.mse_loss(z, x))
