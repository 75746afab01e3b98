"""Routing and WMR merge weights against an independent numpy computation."""

import math

import numpy as np
import pytest
import torch

from motecli.constants import WMR_TAU_CANDIDATES
from motecli.model.experts import (
    ExpertFFN,
    draw_expert_indices,
    draw_wmr_taus,
    merge_weights_for_tau,
    quick_gelu,
    routing_probabilities,
)


def np_softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


def test_routing_probabilities_match_the_paper():
    expected = np_softmax(np.arange(1, 5) / 1.0)
    np.testing.assert_allclose(routing_probabilities(4).numpy(), expected, rtol=1e-12)
    # The method quotes these rounded values for N = 4.
    np.testing.assert_allclose(expected, [0.032, 0.087, 0.237, 0.644], atol=5e-4)


def test_routing_frequencies_pass_a_chi_square_test():
    n_draws, blocks = 50_000, 4
    gen = torch.Generator().manual_seed(0)
    draws = np.array([draw_expert_indices(blocks, 4, gen) for _ in range(n_draws // blocks)]).ravel()
    counts = np.bincount(draws, minlength=4)
    expected = np_softmax(np.arange(1, 5.0)) * draws.size
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.27  # chi-square critical value, 3 degrees of freedom, p = 0.001


def test_routing_is_drawn_independently_per_block():
    gen = torch.Generator().manual_seed(1)
    draws = np.array([draw_expert_indices(6, 4, gen) for _ in range(2000)])  # [steps, blocks]
    # Independent blocks disagree often; a shared draw would make every row constant.
    assert (draws != draws[:, :1]).any(axis=1).mean() > 0.5
    # Joint frequency of (block0, block1) = product of marginals (independence).
    p = np_softmax(np.arange(1, 5.0))
    joint = np.mean((draws[:, 0] == 3) & (draws[:, 1] == 3))
    assert abs(joint - p[3] ** 2) < 0.04


def test_tau_candidates_and_merge_weights():
    d = 0.6
    assert sorted(WMR_TAU_CANDIDATES[:-1]) == pytest.approx(sorted(m * d for m in (-16, -8, -4, -2, -1, 1, 2, 4, 8, 16)))
    assert math.isinf(WMR_TAU_CANDIDATES[-1]) and len(WMR_TAU_CANDIDATES) == 11
    np.testing.assert_allclose(merge_weights_for_tau(math.inf, 4).numpy(), np.full(4, 0.25))
    for tau in WMR_TAU_CANDIDATES[:-1]:
        np.testing.assert_allclose(merge_weights_for_tau(tau, 4).numpy(), np_softmax(np.arange(1, 5.0) / tau), rtol=1e-10)


def test_wmr_taus_are_uniform_over_the_candidates():
    gen = torch.Generator().manual_seed(2)
    taus = [t for _ in range(3000) for t in draw_wmr_taus(4, gen)]
    counts = np.array([sum(1 for t in taus if t == c) for c in WMR_TAU_CANDIDATES])
    expected = len(taus) / len(WMR_TAU_CANDIDATES)
    assert float(((counts - expected) ** 2 / expected).sum()) < 29.59  # df = 10, p = 0.001


def test_merged_pass_uses_weighted_expert_parameters_and_reaches_every_expert():
    torch.manual_seed(0)
    bank = ExpertFFN(width=8, num_experts=4)
    x = torch.randn(3, 5, 8)
    w = merge_weights_for_tau(-1.2, 4)
    out = bank.forward_merged(x, w)
    # Independent: merge the weights by hand in float64.
    up_w = sum(float(w[i]) * bank.fc_up[i].weight.double() for i in range(4))
    up_b = sum(float(w[i]) * bank.fc_up[i].bias.double() for i in range(4))
    dn_w = sum(float(w[i]) * bank.fc_dn[i].weight.double() for i in range(4))
    dn_b = sum(float(w[i]) * bank.fc_dn[i].bias.double() for i in range(4))
    hidden = x.double() @ up_w.T + up_b
    ref = (hidden * torch.sigmoid(1.702 * hidden)) @ dn_w.T + dn_b
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
    out.sum().backward()
    for layer in (*bank.fc_up, *bank.fc_dn):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_quick_gelu_formula():
    a = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(quick_gelu(a), a / (1 + torch.exp(-1.702 * a)))


def test_experts_are_initialised_independently():
    torch.manual_seed(0)
    bank = ExpertFFN(width=16, num_experts=4)
    ws = [bank.fc_up[i].weight for i in range(4)]
    assert all(not torch.equal(ws[i], ws[j]) for i in range(4) for j in range(i + 1, 4))


def test_fixed_routing_always_takes_the_last_expert():
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert all(draw_expert_indices(3, 4, gen, mode="fixed") == [3, 3, 3] for _ in range(50))
    assert torch.equal(gen.get_state(), state)  # nothing drawn


def test_random_routing_is_uniform():
    gen = torch.Generator().manual_seed(3)
    draws = np.array([draw_expert_indices(4, 4, gen, mode="random") for _ in range(5000)]).ravel()
    counts = np.bincount(draws, minlength=4)
    expected = draws.size / 4
    assert float(((counts - expected) ** 2 / expected).sum()) < 16.27  # df = 3, p = 0.001


@pytest.mark.parametrize("temperature", [0.5, 4.0])
def test_routing_temperature_sets_the_multinomial(temperature):
    gen = torch.Generator().manual_seed(4)
    draws = np.array([draw_expert_indices(4, 4, gen, temperature=temperature) for _ in range(5000)]).ravel()
    counts = np.bincount(draws, minlength=4)
    expected = np_softmax(np.arange(1, 5.0) / temperature) * draws.size
    assert float(((counts - expected) ** 2 / expected).sum()) < 16.27


def test_continuous_tau_is_outside_the_discrete_set_and_inside_its_range():
    gen = torch.Generator().manual_seed(5)
    taus = np.array([t for _ in range(2000) for t in draw_wmr_taus(4, gen, sampling="continuous")])
    finite = [t for t in WMR_TAU_CANDIDATES if math.isfinite(t)]
    assert taus.min() >= -9.6 - 1e-12 and taus.max() <= 9.6 + 1e-12
    assert not np.isin(taus, finite).any() and np.isfinite(taus).all()
    # Uniform over the range: each of 8 equal bins holds about an eighth.
    counts = np.histogram(taus, bins=8, range=(min(finite), max(finite)))[0]
    assert float(((counts - taus.size / 8) ** 2 / (taus.size / 8)).sum()) < 24.32  # df = 7, p = 0.001
    # Merge weights follow the drawn tau, including signs: negative tau favours expert 1.
    np.testing.assert_allclose(merge_weights_for_tau(-3.3, 4).numpy(), np_softmax(np.arange(1, 5.0) / -3.3))
    np.testing.assert_array_equal(merge_weights_for_tau(0.0, 4).numpy(), [0, 0, 0, 1])


def test_routing_config_rejects_unknown_modes():
    from motecli.model.experts import RoutingConfig

    for kwargs in (dict(mode="top2"), dict(tau_sampling="gamma"), dict(temperature=0.0)):
        with pytest.raises(ValueError):
            RoutingConfig(**kwargs)
