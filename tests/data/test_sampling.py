import numpy as np
import pytest

from motecli.data.sampling import store_indices, eval_indices, train_indices
from motecli.errors import MoteError


def _ranges_seen(n, T, draws=400):
    rng = np.random.default_rng(0)
    samples = np.stack([train_indices(n, num_frames=T, rng=rng) for _ in range(draws)])
    return [(int(samples[:, t].min()), int(samples[:, t].max())) for t in range(T)]


def test_train_segments_hand_computed():
    # n=17, T=4: seg = 4, segments [0,4] [4,8] [8,12] [12,16], both ends reachable.
    assert _ranges_seen(17, 4) == [(0, 4), (4, 8), (8, 12), (12, 16)]


def test_train_short_video_is_padded_by_the_formula():
    # n=3, T=8: seg = 0.25; round(0.25 k), k=0..8 (half to even) = 0 0 0 1 1 1 2 2 2.
    assert _ranges_seen(3, 8) == [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 2), (2, 2), (2, 2)]


def test_train_single_frame_video():
    assert train_indices(1, num_frames=8, rng=np.random.default_rng(1)).tolist() == [0] * 8


def test_test_clips_hand_computed():
    # n=100, T=8: tick = 12.5; starts linspace(0, 11.5, 3) = 0, 5.75, 11.5 -> 0, 5, 11.
    expected = [
        [0, 12, 25, 37, 50, 62, 75, 87],
        [5, 17, 30, 42, 55, 67, 80, 92],
        [11, 23, 36, 48, 61, 73, 86, 98],
    ]
    assert eval_indices(100, num_frames=8, num_clips=3).tolist() == expected


def test_test_clips_short_video_wraps():
    # n=5, T=8: tick = 0.625; starts linspace(0, -0.375, 2) truncate to 0, 0; int(0.625 t).
    assert eval_indices(5, num_frames=8, num_clips=2).tolist() == [[0, 0, 1, 1, 2, 3, 3, 4]] * 2
    # n=10, T=4, 4 clips: tick 2.5, starts linspace(0, 1.5, 4) = 0, .5, 1, 1.5 -> 0 0 1 1; mod 10.
    assert eval_indices(10, num_frames=4, num_clips=4).tolist() == [
        [0, 2, 5, 7], [0, 2, 5, 7], [1, 3, 6, 8], [1, 3, 6, 8]
    ]


def test_store_indices():
    assert store_indices(10, max_frames=64).tolist() == list(range(10))
    assert store_indices(127, max_frames=64).tolist() == list(range(0, 127, 2))


@pytest.mark.parametrize("fn", [
    lambda: train_indices(0, num_frames=8, rng=np.random.default_rng()),
    lambda: eval_indices(0, num_frames=8, num_clips=1),
    lambda: store_indices(0, max_frames=4),
])
def test_empty_video_is_an_error(fn):
    with pytest.raises(MoteError):
        fn()
