"""Golden outputs: the merged tiny model with fixed, stored weights on a fixed input
gives the stored numbers (see tests/support/golden_model.py for the path covered).
A failure means torch, open_clip or our code now computes differently: find out
why before running tests/golden/regenerate.py --write."""

import json

import numpy as np
import pytest
import torch

import golden_model as golden


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return golden.compute(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def expected():
    return {k: np.asarray(v) for k, v in json.loads(golden.EXPECTED.read_text())["outputs"].items()}


def test_stored_files_are_small():
    assert golden.WEIGHTS.stat().st_size < 700_000 and golden.EXPECTED.stat().st_size < 100_000


@pytest.mark.parametrize("name", golden.OUTPUTS)
def test_outputs_match_the_stored_numbers(outputs, expected, name):
    np.testing.assert_allclose(outputs[name], expected[name], rtol=golden.RTOL, atol=golden.ATOL, err_msg=name)


def test_the_numbers_are_not_degenerate(expected):
    """Views and videos differ, so a change that collapses them is visible in the figures."""
    sims = expected["similarities"]
    assert np.ptp(sims, axis=1).max() > 1e-3  # across the views of a video
    assert np.abs(sims[0] - sims[1]).max() > 1e-3  # across videos
    assert np.allclose(expected["probabilities"].sum(axis=1), 1.0)


def test_packed_weights_round_trip(tmp_path):
    """The 4-bit packing stores exactly q * scale (odd sizes and scalars included)."""
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(0)
    state = {"odd": torch.randn(3, 5, generator=gen), "scalar": torch.tensor(3.0), "ones": torch.ones(4)}
    tensors, metadata = golden.quantise_state(state)
    save_file(tensors, str(tmp_path / "w.safetensors"), metadata=metadata)
    back = golden.read_state(tmp_path / "w.safetensors")
    for key, value in state.items():
        scale = value.abs().max() / golden.LEVELS
        q = torch.round(value / scale).clamp(-golden.LEVELS, golden.LEVELS)
        assert back[key].shape == value.shape and torch.equal(back[key], q * scale), key
    assert torch.equal(back["ones"], torch.ones(4))
