"""View fusion, the streaming accumulator and half-classes against numpy (the release's formula)."""

import numpy as np
import pytest
import torch

from motecli.constants import HALF_CLASS_SEEDS
from motecli.eval.metrics import Accumulator
from motecli.eval.protocols import half_class_accuracy, half_class_draws, mean_std
from motecli.model.scoring import fuse_views


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_view_fusion_matches_numpy():
    sims = np.random.default_rng(0).uniform(-1, 1, size=(7, 6, 11))
    expected = np_softmax(sims).mean(axis=1)
    np.testing.assert_allclose(fuse_views(torch.from_numpy(sims)).numpy(), expected, rtol=1e-5)


def release_half_classes(vis_emb, text_emb, labels):
    """A numpy transcription of the release's test_zeroshot.py `multi_split_test` /
    `compute_accuracy`: global numpy seeding, permutation of all text classes, np.unique of
    the selected labels, 100 x cosine averaged over views, softmax, top-1 and top-5."""
    vis = vis_emb / np.linalg.norm(vis_emb, axis=-1, keepdims=True)
    text = text_emb / np.linalg.norm(text_emb, axis=-1, keepdims=True)
    top1, top5 = [], []
    for split in range(10):
        np.random.seed(split)
        sel_classes = np.random.permutation(len(text))[: len(text) // 2]
        sel = np.array([l in sel_classes for l in labels])
        subclasses = np.unique(labels[sel])
        tl = np.array([int(np.where(l == subclasses)[0][0]) for l in labels[sel]])
        sim = (100.0 * vis[sel] @ text[subclasses].T).mean(axis=1)  # [n, views, c] -> [n, c]
        sim = np_softmax(sim)
        order = np.argsort(-sim, axis=1)
        top1.append(np.mean(order[:, 0] == tl))
        top5.append(np.mean([tl[i] in order[i, :5] for i in range(len(tl))]))
    return np.array(top1), np.array(top5)


def test_half_classes_equal_the_release_formula():
    """Fixed inputs: 24 classes, of which 3 have no test video (so np.unique matters), 3 views."""
    rng = np.random.default_rng(7)
    c, v, d = 24, 3, 16
    labels = rng.choice([k for k in range(c) if k not in (2, 11, 17)], size=120)
    vis = rng.normal(size=(len(labels), v, d))
    text = rng.normal(size=(c, d))
    acc = Accumulator(class_names=[f"c{i}" for i in range(c)], half_seeds=HALF_CLASS_SEEDS)
    cosine = (vis / np.linalg.norm(vis, axis=-1, keepdims=True)) @ (text / np.linalg.norm(text, axis=-1, keepdims=True)).T
    for start in range(0, len(labels), 50):  # chunked like the cache reader
        stop = start + 50
        acc.update(torch.from_numpy(cosine[start:stop]).float(), labels[start:stop], np.arange(start, min(stop, len(labels))))
    half = acc.result()["half_classes"]
    top1, top5 = release_half_classes(vis, text, labels)
    np.testing.assert_allclose(half["top1"], top1)
    np.testing.assert_allclose(half["top5"], top5)
    assert np.isclose(half["mean"], top1.mean()) and np.isclose(half["std"], top1.std())
    # The half's candidate classes are the drawn ids present in the test set.
    for seed, n in enumerate(half["classes"]):
        np.random.seed(seed)
        drawn = np.random.permutation(c)[: c // 2]
        assert n == len(set(drawn) & set(labels.tolist()))
    assert any(n < c // 2 for n in half["classes"])  # the inputs do exercise a missing class


def test_half_classes_average_cosines_before_the_softmax():
    """The release averages cosines over views, then the softmax; the main figure takes
    the softmax per view, then the mean. A video whose views disagree tells them apart."""
    seed = next(s for s, half in enumerate(half_class_draws(4)) if half.tolist() == [0, 1])
    # Video 0, label 0: cosine with class 0 per view -1, 1, 1 (mean 0.33), with class 1: 1, .1, .1 (mean 0.4).
    # Video 1, label 1: plainly class 1 (it also puts class 1 among the half's present classes).
    sims = torch.tensor([[[-1.0, 1.0, 0.0, 0.0], [1.0, 0.1, 0.0, 0.0], [1.0, 0.1, 0.0, 0.0]],
                         [[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]])
    assert fuse_views(sims).argmax(dim=-1).tolist() == [0, 1]  # per-view softmax, then mean: both right
    acc = Accumulator(class_names=list("abcd"), half_seeds=(seed,))
    acc.update(sims, np.array([0, 1]), np.array([0, 1]))
    out = acc.result()
    assert out["top1"] == 1.0
    assert out["half_classes"]["top1"] == [0.5]  # mean cosine, then softmax: video 0 goes to class 1


def test_accumulator_against_numpy_in_chunks():
    rng = np.random.default_rng(1)
    n, v, c = 40, 3, 10
    sims = rng.normal(size=(n, v, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    acc = Accumulator(class_names=[f"c{i}" for i in range(c)])
    for start in range(0, n, 16):  # chunked like the cache reader
        acc.update(torch.from_numpy(sims[start:start + 16]), labels[start:start + 16], np.arange(start, min(n, start + 16)))
    out = acc.result()
    probs = np_softmax(sims).mean(axis=1)
    assert out["top1"] == np.mean(probs.argmax(1) == labels)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    assert out["top5"] == np.mean([labels[i] in top5[i] for i in range(n)])
    for c_i in range(c):
        mask = labels == c_i
        if mask.any():
            assert out["per_class"][f"c{c_i}"]["top1"] == np.mean(probs[mask].argmax(1) == c_i)
    assert "half_classes" not in out
    assert out["predictions"]["index"] == list(range(n))


def test_top5_only_with_more_than_five_classes():
    rng = np.random.default_rng(2)
    for c, shown in ((5, False), (6, True)):
        acc = Accumulator(class_names=[f"c{i}" for i in range(c)])
        acc.update(torch.from_numpy(rng.normal(size=(8, 1, c)).astype(np.float32)), rng.integers(0, c, 8), np.arange(8))
        assert (acc.result()["top5"] is not None) == shown
    assert mean_std([0.5, None]) == (None, None)


def test_half_class_draws_follow_numpy_global_seeding():
    draws = half_class_draws(51)
    assert len(draws) == 10
    for seed, subset in enumerate(draws):
        np.random.seed(seed)
        assert subset.tolist() == sorted(np.random.permutation(51)[: 51 // 2].tolist())
        np.random.seed(seed)
        assert subset.tolist() == sorted(np.random.choice(51, 51 // 2, replace=False).tolist())  # the same draw


def test_mean_std_is_population_std():
    """Over splits: the mean and the population std (divide by n, not n - 1), by hand."""
    mean, std = mean_std([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7, abs=1e-12)
    assert std == pytest.approx(((0.2**2 + 0.0 + 0.2**2) / 3) ** 0.5, abs=1e-12)  # 0.1633, not 0.2 (n - 1)
    assert mean_std([0.42]) == (pytest.approx(0.42), 0.0)  # one split: no spread
