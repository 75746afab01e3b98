import numpy as np
import pytest
import torch

from motecli.constants import CLIP_MEAN, CLIP_STD
from motecli.data.transforms import (
    crop_offsets,
    draw_clip_augment,
    normalize,
    eval_views,
    train_transform,
)

MEAN = np.array(CLIP_MEAN).reshape(3, 1, 1)
STD = np.array(CLIP_STD).reshape(3, 1, 1)


def _unnormalize(x: torch.Tensor) -> np.ndarray:
    """float CLIP-normalised [..., 3, H, W] -> pixel values 0..255 (float64)."""
    return (x.double().numpy() * STD + MEAN) * 255.0


def test_normalize_matches_independent_formula():
    values = np.array([0, 17, 128, 255], dtype=np.uint8)
    x = torch.from_numpy(np.broadcast_to(values[:, None, None, None], (4, 3, 2, 2)).copy())
    out = normalize(x).numpy()
    for i, v in enumerate(values):
        for c in range(3):
            assert out[i, c] == pytest.approx((v / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c], abs=1e-5)
    assert out.dtype == np.float32


def _shifted_clip(T=6, H=240, W=320, step=12, seed=0):
    """Frames equal to one textured image plus a constant t * step: any per-frame
    difference in crop, flip or grayscale breaks `frame_t - frame_0 == t * step`."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 150, size=(H // 16, W // 16, 3))
    base = np.kron(coarse, np.ones((16, 16, 1))).astype(np.int64)  # blocky texture, [H, W, 3]
    return np.stack([base + step * t for t in range(T)]).astype(np.uint8), step


@pytest.mark.parametrize("seed", range(12))
def test_train_transform_same_augment_for_every_frame(seed):
    frames, step = _shifted_clip()
    out = train_transform(frames, rng=np.random.default_rng(seed))
    assert out.shape == (6, 3, 224, 224) and out.dtype == torch.float32
    px = _unnormalize(out)
    for t in range(1, 6):
        diff = px[t] - px[0]
        # Resize and grayscale are linear; uint8 rounding gives at most 1 step of error.
        assert np.abs(diff - step * t).max() <= 1.01


def test_train_transform_layouts_agree():
    frames, _ = _shifted_clip(T=3)
    a = train_transform(frames, rng=np.random.default_rng(5))
    b = train_transform(torch.from_numpy(frames).permute(0, 3, 1, 2), rng=np.random.default_rng(5))
    assert torch.equal(a, b)


def test_augment_draws_follow_the_recipe():
    rng = np.random.default_rng(0)
    draws = [draw_clip_augment(256, 341, rng=rng) for _ in range(4000)]
    for d in draws:
        assert 0 <= d.top and d.top + d.height <= 256 and 0 <= d.left and d.left + d.width <= 341
        area = d.height * d.width / (256 * 341)
        assert 0.07 <= area <= 1.0
    flips = np.mean([d.flip for d in draws])
    grays = np.mean([d.grayscale for d in draws])
    # 4000 Bernoulli draws: standard error 0.008 at p=0.5 and 0.0063 at p=0.2.
    assert abs(flips - 0.5) < 0.04 and abs(grays - 0.2) < 0.03
    ssv2 = [draw_clip_augment(256, 341, rng=rng, flip=False, grayscale=False) for _ in range(500)]
    assert not any(d.flip or d.grayscale for d in ssv2)


def _coordinate_clip(H, W):
    """Frames whose red channel is x mod 256 and green is y mod 256."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x % 256, y % 256, np.zeros_like(x)], axis=-1).astype(np.uint8)
    return np.stack([img, img])


def test_three_crops_landscape():
    views = eval_views(_coordinate_clip(224, 300), num_crops=3)  # already short side 224: no resize
    assert views.shape == (3, 2, 3, 224, 224)
    px = np.round(_unnormalize(views))
    # left, centre (round(76 / 2) = 38), right (300 - 224 = 76) along x; y untouched.
    assert [px[k, 0, 0, 0, 0] for k in range(3)] == [0, 38, 76]
    assert [px[k, 0, 0, 0, 223] for k in range(3)] == [223, 261 % 256, 299 % 256]
    assert all(px[k, 0, 1, 223, 0] == 223 for k in range(3))


def test_three_crops_portrait_and_centre_crop():
    px = np.round(_unnormalize(eval_views(_coordinate_clip(300, 224), num_crops=3)))
    assert [px[k, 0, 1, 0, 0] for k in range(3)] == [0, 38, 76]
    one = np.round(_unnormalize(eval_views(_coordinate_clip(224, 300), num_crops=1)))
    assert one.shape == (1, 2, 3, 224, 224) and one[0, 0, 0, 0, 0] == 38


def test_test_views_scale_short_side_to_224():
    # 448x600 -> 224x300 (bicubic); the centre crop then starts at x = 38 of the scaled frame.
    frames = np.full((1, 448, 600, 3), 77, dtype=np.uint8)
    views = eval_views(frames, num_crops=3)
    assert views.shape == (3, 1, 3, 224, 224)
    assert np.allclose(_unnormalize(views), 77, atol=0.51)


def test_crop_offsets():
    assert crop_offsets(224, 224, 3) == [0, 0, 0]
    assert crop_offsets(399, 224, 3) == [0, 88, 175]  # round(87.5) = 88
