"""Pixels against the release's own path: torchvision transforms on PIL images (method sections 3, 4).

Every reference here is built from torchvision/PIL and the formulas of MOTE_METHOD.md,
never from motecli.data.transforms.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from motecli.constants import CLIP_MEAN, CLIP_STD
from motecli.data.transforms import (
    ClipAugment,
    apply_clip_augment,
    crop_offsets,
    eval_views,
    normalize,
    pil_grayscale,
    resized_size,
    scale_short_side,
    train_transform,
)
from motecli.errors import MoteError

MEAN = np.array(CLIP_MEAN).reshape(3, 1, 1)
STD = np.array(CLIP_STD).reshape(3, 1, 1)
BICUBIC, BILINEAR = T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR
TO_INPUT = T.Compose([T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
# (width, height): landscape, portrait, square, 16:9, odd, short side below 224.
SIZES = [(320, 240), (340, 256), (171, 128), (480, 270), (240, 320), (224, 224), (200, 150)]


def _unnormalize(x: torch.Tensor) -> np.ndarray:
    """float CLIP-normalised [..., 3, H, W] -> pixel values 0..255 (float64)."""
    return (x.double().numpy() * STD + MEAN) * 255.0


def assert_pixels_close(got: torch.Tensor, ref: torch.Tensor) -> None:
    """The issue's tolerance: at most 2/255 anywhere, on at most 0.5 % of the values."""
    assert got.shape == ref.shape
    diff = np.abs(_unnormalize(got) - _unnormalize(ref))
    assert diff.max() <= 2.0 + 1e-3, f"max difference {diff.max():.3f}/255"
    assert (diff > 1e-3).mean() <= 0.005, f"{(diff > 1e-3).mean():.4%} of values differ"


def _frames(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Two frames: uniform noise (worst case for resampling) and blocky texture with edges."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    coarse = rng.integers(0, 256, size=(height // 8 + 1, width // 8 + 1, 3))
    blocky = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width].astype(np.uint8)
    return np.stack([noise, blocky])


def test_normalize_matches_independent_formula():
    values = np.array([0, 17, 128, 255], dtype=np.uint8)
    x = torch.from_numpy(np.broadcast_to(values[:, None, None, None], (4, 3, 2, 2)).copy())
    out = normalize(x).numpy()
    for i, v in enumerate(values):
        for c in range(3):
            assert out[i, c] == pytest.approx((v / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c], abs=1e-5)
    assert out.dtype == np.float32


def test_resized_size_truncates_the_long_side_like_torchvision():
    # The figures: the long side is int(224 * long / short), not rounded.
    assert resized_size(240, 320, 224) == (224, 298)
    assert resized_size(256, 340, 224) == (224, 297)
    assert resized_size(96, 128, 224) == (224, 298)
    assert resized_size(320, 240, 224) == (298, 224)
    for w, h in SIZES:
        out = T.Resize(224)(Image.new("RGB", (w, h)))
        assert resized_size(h, w, 224) == (out.height, out.width)


def test_crop_offsets_follow_the_formulas():
    assert crop_offsets(298, 224, 3) == [0, 72, 36]  # step (298 - 224) // 4 = 18: 0, 4 * 18, 2 * 18
    assert crop_offsets(297, 224, 3) == [0, 72, 36]
    assert crop_offsets(299, 224, 3) == [0, 72, 36]
    assert crop_offsets(398, 224, 3) == [0, 172, 86]
    assert crop_offsets(224, 224, 3) == [0, 0, 0]
    assert crop_offsets(299, 224, 1) == [38]  # int(round(37.5)): Python rounds half to even
    assert crop_offsets(297, 224, 1) == [36]  # int(round(36.5))
    with pytest.raises(MoteError, match="cannot take a 224 crop"):
        crop_offsets(200, 224, 1)


def _release_views(frames: np.ndarray, num_crops: int) -> torch.Tensor:
    """The release's test transform on PIL images: Resize(224, bicubic), then CenterCrop(224)
    or GroupFullResSample's boxes (method section 4: along the long side 0, 4s, 2s with
    s = (L - 224) // 4, and 2 * ((short - 224) // 4) on the short side), ToTensor, Normalize."""
    images = [T.Resize(224, BICUBIC)(Image.fromarray(f)) for f in frames]
    w, h = images[0].size
    if num_crops == 1:
        crops = [[T.CenterCrop(224)(im) for im in images]]
    else:
        long_step, short_off = ((w - 224) // 4, 2 * ((h - 224) // 4)) if w >= h else ((h - 224) // 4, 2 * ((w - 224) // 4))
        boxes = []
        for k in (0, 4, 2):
            x, y = (k * long_step, short_off) if w >= h else (short_off, k * long_step)
            boxes.append((x, y, x + 224, y + 224))
        crops = [[im.crop(box) for im in images] for box in boxes]
    return torch.stack([torch.stack([TO_INPUT(c) for c in view]) for view in crops])


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("num_crops", [1, 3])
def test_test_views_equal_the_release_pil_path(width, height, num_crops):
    frames = _frames(width, height)
    views = eval_views(frames, num_crops=num_crops)
    assert views.shape == (num_crops, 2, 3, 224, 224) and views.dtype == torch.float32
    assert_pixels_close(views, _release_views(frames, num_crops))
    # [T, 3, H, W] input gives the same views.
    assert torch.equal(views, eval_views(torch.from_numpy(frames).permute(0, 3, 1, 2), num_crops=num_crops))


def _release_train_clip(frames, aug: ClipAugment, *, fixed_size=None) -> torch.Tensor:
    """The release's training transform on PIL images, with our draw's box, flip and grayscale:
    GroupScale(256) (or (256, 320)), GroupRandomSizedCrop's crop + bilinear resize (or its
    fallback: Resize(224, bilinear) + a 224 crop), flip, Grayscale(3), ToTensor, Normalize."""
    out = []
    for f in frames:
        im = T.Resize(fixed_size or 256, BICUBIC)(Image.fromarray(f))
        if aug.fallback:
            im = T.Resize(224, BILINEAR)(im).crop((aug.left, aug.top, aug.left + 224, aug.top + 224))
        else:
            im = im.crop((aug.left, aug.top, aug.left + aug.width, aug.top + aug.height)).resize((224, 224), Image.BILINEAR)
        if aug.flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        if aug.grayscale:
            im = T.Grayscale(num_output_channels=3)(im)
        out.append(TO_INPUT(im))
    return torch.stack(out)


@pytest.mark.parametrize("width,height", SIZES)
def test_training_scale_256_equals_torchvision_bicubic(width, height):
    frames = _frames(width, height, seed=1)
    ours = torch.from_numpy(scale_short_side(frames, 256)).permute(0, 3, 1, 2)
    ref = torch.stack([T.PILToTensor()(T.Resize(256, BICUBIC)(Image.fromarray(f))) for f in frames])
    assert_pixels_close(normalize(ours), normalize(ref))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("fixed_size", [None, (256, 320)])
def test_training_clip_equals_the_release_pil_path(seed, fixed_size):
    frames = _frames(*SIZES[seed % len(SIZES)], seed=seed)
    clip, aug = train_transform(frames, rng=np.random.default_rng(seed), fixed_size=fixed_size)
    assert clip.shape == (2, 3, 224, 224)
    assert_pixels_close(clip, _release_train_clip(frames, aug, fixed_size=fixed_size))


@pytest.mark.parametrize("flip,gray", [(True, True), (False, False)])
def test_fallback_crop_and_grayscale_equal_the_release_pil_path(flip, gray):
    # After 10 misses the release scales the short side to 224 (bilinear) and takes a random 224 crop.
    frames = np.ascontiguousarray(_frames(480, 270, seed=3))
    scaled = np.stack([np.asarray(T.Resize(256, BICUBIC)(Image.fromarray(f))) for f in frames])  # 455x256
    aug = ClipAugment(top=0, left=117, height=224, width=224, flip=flip, grayscale=gray, fallback=True)
    got = normalize(apply_clip_augment(scaled, aug))
    assert_pixels_close(got, _release_train_clip(frames, aug))


def test_grayscale_is_pils_luma():
    rgb = np.random.default_rng(4).integers(0, 256, size=(1, 40, 50, 3), dtype=np.uint8)
    ref = np.asarray(T.Grayscale(num_output_channels=3)(Image.fromarray(rgb[0])))
    got = pil_grayscale(torch.from_numpy(rgb).permute(0, 3, 1, 2))[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, ref)


def _shifted_clip(T_=6, H=240, W=320, step=12, seed=0):
    """Frames equal to one textured image plus a constant t * step: any per-frame
    difference in crop, flip or grayscale breaks `frame_t - frame_0 == t * step`."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 150, size=(H // 16, W // 16, 3))
    base = np.kron(coarse, np.ones((16, 16, 1))).astype(np.int64)  # blocky texture, [H, W, 3]
    return np.stack([base + step * t for t in range(T_)]).astype(np.uint8), step


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("crop", ["release", "torchvision"])
def test_one_draw_for_every_frame_of_a_clip(seed, crop):
    frames, step = _shifted_clip()
    out, _ = train_transform(frames, rng=np.random.default_rng(seed), crop=crop)
    px = _unnormalize(out)
    for t in range(1, len(frames)):
        # Resizes and grayscale are linear up to PIL's rounding (a grey level per pass).
        assert np.abs(px[t] - px[0] - step * t).max() <= 3.01


def test_train_transform_is_seeded():
    frames, _ = _shifted_clip(T_=3)
    a, da = train_transform(frames, rng=np.random.default_rng(5))
    b, db = train_transform(torch.from_numpy(frames).permute(0, 3, 1, 2), rng=np.random.default_rng(5))
    assert da == db and torch.equal(a, b)
    with pytest.raises(MoteError, match="crop 'inception'"):
        train_transform(frames, rng=np.random.default_rng(5), crop="inception")
