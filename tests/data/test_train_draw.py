"""The training crop draw: the release's GroupRandomSizedCrop (default) and torchvision's
RandomResizedCrop (option), against references written from the spec (method section 3)
and from torchvision itself. scipy is not a dependency: the KS and chi-square p-values
are computed here with numpy."""

import math
import random

import numpy as np
import pytest
import torch
from torchvision import transforms as T

from motecli.data.transforms import draw_clip_augment, draw_release_box, draw_torchvision_box

N_DRAWS = 20_000


def ks_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic, with the Stephens correction)."""
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    d = np.abs(np.searchsorted(a, both, side="right") / len(a) - np.searchsorted(b, both, side="right") / len(b)).max()
    en = math.sqrt(len(a) * len(b) / (len(a) + len(b)))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return 1.0
    series = sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101))
    return float(min(1.0, max(0.0, 2 * series)))


def chi2_pvalue(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Chi-square test of equal rates in two samples (2x2 table, 1 degree of freedom)."""
    total, n = hits_a + hits_b, n_a + n_b
    chi2 = 0.0
    for hits, size in ((hits_a, n_a), (hits_b, n_b)):
        for observed, expected in ((hits, size * total / n), (size - hits, size * (n - total) / n)):
            chi2 += (observed - expected) ** 2 / expected if expected > 0 else 0.0
    return math.erfc(math.sqrt(chi2 / 2))


def binomial_pvalue(hits: int, n: int, p: float) -> float:
    """Two-sided normal-approximation p-value of `hits` successes in n trials of rate p."""
    return math.erfc(abs(hits - n * p) / math.sqrt(2 * n * p * (1 - p)))


def spec_box(height: int, width: int, r: random.Random):
    """GroupRandomSizedCrop(224) as MOTE_METHOD.md section 3 states it, with Python's random
    as the release uses: (top, left, h, w, fallback)."""
    area = height * width
    for _ in range(10):
        target = r.uniform(0.08, 1.0) * area
        aspect = r.uniform(3 / 4, 4 / 3)
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if r.random() < 0.5:
            w, h = h, w
        if w <= width and h <= height:
            x = r.randint(0, width - w)
            return r.randint(0, height - h), x, h, w, False
    # scale the short side to 224 (torchvision: long side truncated), random 224 crop
    sh, sw = (224, int(224 * width / height)) if width > height else (int(224 * height / width), 224)
    x = r.randint(0, sw - 224)
    return r.randint(0, sh - 224), x, 224, 224, True


def _summary(draws: np.ndarray, height: int, width: int) -> dict:
    found, fell = draws[draws[:, 4] == 0], draws[draws[:, 4] == 1]
    return dict(
        aspect=found[:, 3] / found[:, 2],
        area=found[:, 2] * found[:, 3] / (height * width),
        left=(found[:, 1] + 0.5) / (width - found[:, 3] + 1),  # uniform position -> uniform on (0, 1)
        wide=int((found[:, 3] > found[:, 2]).sum()), found=len(found),
        fallback=len(fell), fallback_left=fell[:, 1], fallback_top=fell[:, 0],
    )


# 256 x 341: a 4:3 video after the 256 scale (fallbacks are rare); 256 x 900: a long strip
# where about 7 % of draws fall back, so the fallback's rate and position are measured.
@pytest.mark.parametrize("height,width", [(256, 341), (256, 900)])
def test_release_draw_matches_the_spec_distribution(height, width):
    rng = np.random.default_rng(2024)
    ours = _summary(np.array([draw_release_box(height, width, rng=rng) for _ in range(N_DRAWS)]), height, width)
    r = random.Random(1024)
    ref = _summary(np.array([spec_box(height, width, r) for _ in range(N_DRAWS)]), height, width)
    p = dict(
        aspect=ks_pvalue(ours["aspect"], ref["aspect"]),
        area=ks_pvalue(ours["area"], ref["area"]),
        position=ks_pvalue(ours["left"], ref["left"]),
        swap=chi2_pvalue(ours["wide"], ours["found"], ref["wide"], ref["found"]),
        fallback_rate=chi2_pvalue(ours["fallback"], N_DRAWS, ref["fallback"], N_DRAWS),
    )
    if ref["fallback"]:
        p["fallback_left"] = ks_pvalue(ours["fallback_left"], ref["fallback_left"])
        assert np.all(ours["fallback_top"] == 0)  # the 224-scaled frame is 224 high
    assert min(p.values()) > 0.01, p
    assert width < 800 or 0.03 < ours["fallback"] / N_DRAWS < 0.15


class ScriptedRng:
    """Answers the draw's calls from fixed fractions q in [0, 1): uniform(lo, hi) = lo + q (hi - lo)."""

    def __init__(self, qs):
        self.qs = list(qs)

    def uniform(self, lo, hi):
        return lo + self.qs.pop(0) * (hi - lo)

    def random(self):
        return self.qs.pop(0)

    def integers(self, lo, hi):
        return lo + int(self.qs.pop(0) * (hi - lo))


@pytest.mark.parametrize("q_area,q_aspect,q_swap", [(0.3, 0.1, 0.9), (0.5, 0.8, 0.2), (0.05, 0.6, 0.49)])
def test_release_box_formula(q_area, q_aspect, q_swap):
    # Uniform (not log-uniform) aspect, round-then-swap with p = 0.5, left drawn before top.
    height, width = 256, 341
    top, left, h, w, fallback = draw_release_box(height, width, rng=ScriptedRng([q_area, q_aspect, q_swap, 0.25, 0.75]))
    target = (0.08 + q_area * 0.92) * height * width
    aspect = 3 / 4 + q_aspect * (4 / 3 - 3 / 4)
    ew, eh = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
    if q_swap < 0.5:
        ew, eh = eh, ew
    assert (h, w, fallback) == (eh, ew, False)
    assert left == int(0.25 * (width - ew + 1)) and top == int(0.75 * (height - eh + 1))


def test_release_box_falls_back_after_ten_misses():
    # Area fraction 1 and aspect 4/3, swapped: 256 wide and 341 high never fits a 256 x 341 frame.
    draws = []
    for _ in range(10):
        draws += [1 - 1e-12, 1 - 1e-12, 0.0]
    top, left, h, w, fallback = draw_release_box(256, 341, rng=ScriptedRng(draws + [0.5, 0.0]))
    assert fallback and (h, w) == (224, 224)
    assert (top, left) == (0, int(0.5 * (298 - 224 + 1)))  # 341 x 256 scaled to short side 224 is 298 wide


def test_torchvision_option_matches_torchvision():
    height, width = 256, 341
    rng = np.random.default_rng(7)
    ours = np.array([draw_torchvision_box(height, width, rng=rng)[:4] for _ in range(N_DRAWS)])
    torch.manual_seed(7)
    img = torch.empty(3, height, width)
    ref = np.array([T.RandomResizedCrop.get_params(img, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) for _ in range(N_DRAWS)])
    for name, f in (("aspect", lambda d: d[:, 3] / d[:, 2]), ("area", lambda d: d[:, 2] * d[:, 3]),
                    ("top", lambda d: (d[:, 0] + 0.5) / (height - d[:, 2] + 1))):
        assert ks_pvalue(f(ours), f(ref)) > 0.01, name


def test_flip_and_grayscale_rates_and_switches():
    rng = np.random.default_rng(0)
    draws = [draw_clip_augment(256, 341, rng=rng) for _ in range(4000)]
    flips, grays = sum(d.flip for d in draws), sum(d.grayscale for d in draws)
    assert binomial_pvalue(flips, 4000, 0.5) > 0.01 and binomial_pvalue(grays, 4000, 0.2) > 0.01
    off = [draw_clip_augment(256, 341, rng=rng, flip=False, grayscale=False) for _ in range(500)]
    assert not any(d.flip or d.grayscale for d in off)
