import math

import torch
import torch.nn.functional as F

from motecli.model.modulation import modulation_alpha


def test_alpha_is_one_when_test_classes_are_the_finetuning_classes():
    torch.manual_seed(0)
    text = F.normalize(torch.randn(20, 16), dim=-1)
    x = torch.randn(5, 8, 16)
    alpha = modulation_alpha(x, finetune_text=text, test_text=text.clone(), k=5, scale=0.05)
    torch.testing.assert_close(alpha, torch.ones(5), atol=1e-5, rtol=0)


def test_alpha_on_a_hand_computed_example():
    # D = 2. One video whose mean frame feature points along e1.
    x = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    # Test classes: e1 (c.g = 1) and e2 (c.g = 0); k = 1 keeps e1.
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # Fine-tuning classes at 60 and 90 degrees from e1; k = 1 keeps the 60-degree one.
    f = torch.tensor([[0.5, math.sqrt(3) / 2], [0.0, 1.0]])
    # S = [e1 . f0] = [0.5]; s = 0.5; alpha = exp(-(1 - 0.5) / 0.05) = exp(-10).
    alpha = modulation_alpha(x, finetune_text=f, test_text=g, k=1, scale=0.05)
    torch.testing.assert_close(alpha, torch.tensor([math.exp(-10)]))
    # k = 2 keeps both classes on each side: S = [[0.5, 0], [sqrt(3)/2, 1]],
    # row maxima 0.5 and 1, s = 0.75, alpha = exp(-0.25 / 0.1) with scale 0.1.
    alpha = modulation_alpha(x, finetune_text=f, test_text=g, k=2, scale=0.1)
    torch.testing.assert_close(alpha, torch.tensor([math.exp(-2.5)]))
