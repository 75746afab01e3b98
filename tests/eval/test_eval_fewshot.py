"""Few-shot lists (seeded, K per class, full-train size) and the head-only fast path."""

import json
from collections import Counter

import numpy as np
import pytest

from motecli.cache.source import resolve_source
from motecli.errors import MoteError
from motecli.eval.fewshot import draw_few_shot, few_shot_head, write_few_shot_lists
from motecli.text.labels import read_templates_file


def read_list(path):
    return [(line.rsplit(" ", 1)[0], int(line.rsplit(" ", 1)[1])) for line in path.read_text().splitlines()]


def test_few_shot_lists_are_seeded_k_per_class_and_full_size(synth, tmp_path):
    train = resolve_source(dataset="synth", split=1, subset="train", config=synth.config)
    a = write_few_shot_lists(train, shots=[1, 2], seed=0, out_dir=tmp_path / "a")
    b = write_few_shot_lists(train, shots=[1, 2], seed=0, out_dir=tmp_path / "b")
    for la, lb in zip(a, b):
        assert la.path.read_text() == lb.path.read_text()
        lines = read_list(la.path)
        assert len(lines) == len(train.videos)
        distinct = set(lines)
        assert Counter(label for _, label in distinct) == {c: la.k for c in range(len(train.videos.class_names))}
        assert distinct <= set(train.videos.items)
        meta = json.loads(la.path.with_name(la.path.name + ".json").read_text())
        assert meta["seed"] == 0 and meta["list_fingerprint"] == train.videos.fingerprint()
    one, two = (set(read_list(x.path)) for x in a)
    assert one <= two  # nested draws within a seed
    seeds = {frozenset(draw_few_shot(train.videos.items, num_classes=8, k=1, seed=s)) for s in range(6)}
    assert len(seeds) > 1  # the seed matters
    with pytest.raises(MoteError, match="fewer than K"):
        draw_few_shot(train.videos.items, num_classes=8, k=50, seed=0)


def test_few_shot_head_trains_on_cached_features(synth, merged, tmp_path):
    train = resolve_source(dataset="synth", split=1, subset="train", config=synth.config)
    (listing,) = write_few_shot_lists(train, shots=[2], seed=0, out_dir=tmp_path)
    k_shot = resolve_source(list_file=listing.path, labels=synth.root / "lists" / "labels.csv", root=synth.root / "videos")
    test = resolve_source(dataset="synth", split=1, config=synth.config)
    out = few_shot_head(train=k_shot, test=test, checkpoint=merged, num_frames=8, epochs=2, seed=0,
                        templates=read_templates_file(None), results_dir=tmp_path / "res", batch_size=4)
    again = few_shot_head(train=k_shot, test=test, checkpoint=merged, num_frames=8, epochs=2, seed=0,
                          templates=read_templates_file(None), results_dir=tmp_path / "res", batch_size=4)
    assert out["videos"] == len(test.videos) and 0.0 <= out["top1"] <= 1.0
    assert out["predictions"] == again["predictions"]  # seeded training
    assert np.isclose(out["top1"], np.mean(np.array(out["predictions"]["top5"])[:, 0] == out["predictions"]["label"]))
