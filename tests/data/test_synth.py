import numpy as np

from motecli.data.synth import make_synthetic_dataset
from motecli.data.video import read_frames


def _centroids(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(y, x) centre of the pixels that differ from the background, per frame."""
    out = []
    for f in frames:
        ys, xs = np.nonzero(np.abs(f.astype(int) - background).sum(-1) > 60)
        out.append((ys.mean(), xs.mean()))
    return np.array(out)


def test_motion_matches_the_class_name(synth_dataset):
    for v in synth_dataset.videos[::5]:
        frames = read_frames(str(synth_dataset.root / "videos" / v.rel), lambda n: np.arange(n))[0]
        assert len(frames) == v.num_frames
        c = _centroids(frames, np.median(frames[0].reshape(-1, 3), axis=0))
        dy, dx = c[-1] - c[0]
        direction = synth_dataset.class_names[v.label].split()[-1]
        expected = {"left": dx < -10, "right": dx > 10, "up": dy < -10, "down": dy > 10}[direction]
        assert expected and min(abs(dx), abs(dy)) < 3, (v.rel, dy, dx)


def test_seeded_and_deterministic(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", videos_per_class=1, seed=7)
    b = make_synthetic_dataset(tmp_path / "b", videos_per_class=1, seed=7)
    c = make_synthetic_dataset(tmp_path / "c", videos_per_class=1, seed=8)
    read = lambda ds, v: (ds.root / "videos" / v.rel).read_bytes()
    assert [v.rel for v in a.videos] == [v.rel for v in b.videos]
    assert all(read(a, v) == read(b, w) for v, w in zip(a.videos, b.videos))
    assert any(read(a, v) != read(c, w) for v, w in zip(a.videos, c.videos))
