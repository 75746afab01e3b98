"""View fusion, the streaming accumulator, half-class draws and summary scores against numpy."""

import json

import numpy as np
import torch

from motecli.model.scoring import fuse_views
from motecli.eval.metrics import Accumulator
from motecli.eval.protocols import half_class_subsets, mean_std, summary_scores


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_view_fusion_matches_numpy():
    sims = np.random.default_rng(0).uniform(-1, 1, size=(7, 6, 11))
    expected = np_softmax(sims).mean(axis=1)
    np.testing.assert_allclose(fuse_views(torch.from_numpy(sims)).numpy(), expected, rtol=1e-5)


def test_accumulator_against_numpy_in_chunks():
    rng = np.random.default_rng(1)
    n, v, c = 40, 3, 10
    sims = rng.normal(size=(n, v, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    subsets = half_class_subsets(c)
    acc = Accumulator(class_names=[f"c{i}" for i in range(c)], half_subsets=subsets)
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
    halves = []
    for subset in subsets:
        keep = np.isin(labels, subset)
        sub = np_softmax(sims[keep][:, :, subset]).mean(axis=1)
        halves.append(np.mean(subset[sub.argmax(1)] == labels[keep]))
    np.testing.assert_allclose(out["half_classes"]["top1"], halves)
    assert np.isclose(out["half_classes"]["mean"], np.mean(halves)) and np.isclose(out["half_classes"]["std"], np.std(halves))
    assert out["predictions"]["index"] == list(range(n))


def test_half_class_draws_follow_numpy_global_seeding():
    draws = half_class_subsets(51)
    assert len(draws) == 10
    for seed, subset in enumerate(draws):
        np.random.seed(seed)
        assert subset.tolist() == sorted(np.random.choice(51, 51 // 2, replace=False).tolist())
    assert all(np.array_equal(a, b) for a, b in zip(draws, half_class_subsets(51)))


def _results(dataset, protocol, top1, clips=3, crops=1):
    return dict(format="mote-eval", dataset=dataset, settings=dict(protocol=protocol, clips=clips, crops=crops),
                runs=[dict(top1_mean=top1, splits_evaluated=[1, 2, 3])])


def test_hm_zs_and_trade_off_from_results_folder(tmp_path):
    files = dict(ucf=_results("ucf101", "zero-shot", 0.8), hmdb=_results("hmdb51", "zero-shot", 0.5),
                 k400=_results("k400", "close-set", 0.82, 1, 1), k400b=_results("kinetics400", "close-set", 0.83, 4, 3))
    for name, res in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    assert "HM_ZS" not in summary_scores(tmp_path)  # K600 missing
    (tmp_path / "k600.json").write_text(json.dumps(_results("k600", "zero-shot", 0.7)))
    out = summary_scores(tmp_path)
    hm = 3 / (1 / 0.8 + 1 / 0.5 + 1 / 0.7)
    assert np.isclose(out["HM_ZS"], hm)
    assert np.isclose(out["trade_off"], 2 / (1 / 0.83 + 1 / hm))  # the 4x3 K400 figure counts


def test_mean_std_is_population_std():
    assert mean_std([0.5, 0.7, 0.9]) == (np.mean([0.5, 0.7, 0.9]), np.std([0.5, 0.7, 0.9]))
