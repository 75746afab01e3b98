"""mote eval end to end on synthetic videos: cache == videos, modulation, splits, CLI output."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mote_builders import mote_env, tiny_text
from motecli.cache.encode import encode_frames
from motecli.cache.source import resolve_source
from motecli.constants import TFM_K
from motecli.eval.runner import EvalSettings, evaluate, evaluate_split
from motecli.eval.scoring import Modulation, view_similarities
from motecli.checkpoints.merged import load_head
from motecli.model.modulation import modulation_alpha
from motecli.text.labels import read_templates_file

OTHER_CLASSES = ["juggling balls", "riding a bike", "playing violin", "swimming", "cooking pasta"]


def settings_for(merged, **kw):
    base = dict(checkpoint=merged, protocol="zero-shot", clips=3, crops=1, num_frames=8, modulation=True,
                scales=(0.05,), k=TFM_K, templates=read_templates_file(None), batch_size=4)
    return EvalSettings(**(base | kw))


@pytest.fixture(scope="module")
def split1(synth):
    return resolve_source(dataset="synth", split=1, config=synth.config)


def test_cache_gives_the_predictions_of_decoding_the_videos(merged, split1):
    cached = evaluate_split(split1, settings_for(merged))[0]
    direct = evaluate_split(split1, settings_for(merged, from_videos=True))[0]
    assert cached["predictions"] == direct["predictions"]
    assert cached["top1"] == direct["top1"] and cached["videos"] == len(split1.videos)


def cached_features(merged, source, clips=3):
    cache = encode_frames(source, checkpoint=merged, num_frames=8, clips=clips, crops=1).cache
    chunks = list(cache.iter_chunks())
    return torch.from_numpy(np.concatenate([c.features for c in chunks])).float()  # [N, V, T, D]


def direct_similarities(head, feats, text, alpha):
    """Independent path: the head's own forward with a given alpha, cosine per view."""
    x = feats.flatten(0, 1)
    with torch.no_grad():
        z = head(x, alpha=alpha)
    v = F.normalize(z.mean(dim=1), dim=-1)
    return (v @ F.normalize(text, dim=-1).T).view(feats.shape[0], feats.shape[1], -1)


def test_modulation_off_is_alpha_one_and_on_uses_the_alpha(merged, split1):
    head, _, finetune = load_head(merged)
    feats = cached_features(merged, split1)
    text = tiny_text(OTHER_CLASSES)
    off = view_similarities(head, feats, test_text=text, modulation=None)[0]
    assert torch.allclose(off, direct_similarities(head, feats, text, 1.0), atol=1e-6)
    mod = Modulation(finetune_text=finetune, k=3, scales=(0.04, 0.07))
    swept = view_similarities(head, feats, test_text=text, modulation=mod)
    for scale, sims in zip(mod.scales, swept):
        alpha = modulation_alpha(feats.flatten(0, 1), finetune_text=finetune, test_text=text, k=3, scale=scale)
        assert not torch.allclose(alpha, torch.ones_like(alpha))  # the test classes differ: alpha < 1
        assert torch.allclose(sims, direct_similarities(head, feats, text, alpha), atol=1e-6)
        single = view_similarities(head, feats, test_text=text, modulation=Modulation(finetune, 3, (scale,)))[0]
        assert torch.allclose(sims, single, atol=1e-6)


def test_close_set_modulation_changes_nothing(merged, split1):
    """Close-set (1x1 views): the test classes are the fine-tuning classes, so every video's
    s is 1 and alpha = exp(-(1 - s) / scale) = 1: modulation on scores as modulation off."""
    close = dict(protocol="close-set", clips=1, crops=1)
    on = evaluate_split(split1, settings_for(merged, **close))[0]
    off = evaluate_split(split1, settings_for(merged, modulation=False, **close))[0]
    assert on["predictions"] == off["predictions"] and off["tfm_scale"] is None and on["tfm_scale"] == 0.05
    assert on["frame_cache"]["path"] == off["frame_cache"]["path"]  # one 1x1 cache, read twice
    head, _, finetune = load_head(merged)
    feats = cached_features(merged, split1, clips=1)  # [N, 1, T, D]
    text = tiny_text(split1.videos.class_names)
    alpha = modulation_alpha(feats.flatten(0, 1), finetune_text=finetune, test_text=text, k=TFM_K, scale=0.05)
    assert torch.allclose(alpha, torch.ones_like(alpha), atol=1e-5)
    modulated = view_similarities(head, feats, test_text=text, modulation=Modulation(finetune, TFM_K, (0.05,)))[0]
    plain = view_similarities(head, feats, test_text=text, modulation=None)[0]
    assert torch.allclose(modulated, plain, atol=1e-5)


def test_split_all_is_mean_and_std_of_the_splits(merged, synth):
    sources = [resolve_source(dataset="synth", split=s, config=synth.config) for s in (1, 2, 3)]
    settings = settings_for(merged, scales=(0.04, 0.06), half_classes=True)
    results = evaluate(sources, settings, name="synth", dataset="synth")
    for i, run in enumerate(results["runs"]):
        per_split = [evaluate_split(s, settings)[i]["top1"] for s in sources]
        assert run["splits_evaluated"] == [1, 2, 3]
        assert np.isclose(run["top1_mean"], np.mean(per_split)) and np.isclose(run["top1_std"], np.std(per_split))
        halves = [v for split in run["splits"] for v in split["half_classes"]["top1"]]
        assert len(halves) == 30 and np.isclose(run["half_classes_mean"], np.mean(halves))


def test_cli_eval_writes_results(merged, synth, tmp_path):
    env = mote_env(tmp_path / "cache", synth.config)
    args = [sys.executable, "-m", "motecli", "eval", "--dataset", "synth_bad", "-c", str(merged), "--protocol",
            "close-set", "--tfm-scale", "0.04,0.05", "--tfm-scale", "0.06", "--results-dir", str(tmp_path / "res")]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "top-1" in proc.stdout
    (path,) = (tmp_path / "res").glob("*.json")
    results = json.loads(path.read_text())
    assert [run["tfm_scale"] for run in results["runs"]] == [0.04, 0.05, 0.06]
    split = results["runs"][0]["splits"][0]
    bad = resolve_source(dataset="synth_bad", split=1, config=synth.config)
    assert split["list_fingerprint"] == bad.videos.fingerprint()
    assert split["excluded"] == len(split["excluded_videos"]) == 4
    assert split["videos"] + split["excluded"] == len(bad.videos)
    assert results["settings"]["clips"] * results["settings"]["crops"] == 1
    with open(path.with_name(results["detail_files"]["predictions"])) as fh:
        predictions = list(csv.DictReader(fh))
    listed = {rel for rel, _ in bad.videos.items}
    for scale in ("0.04", "0.05", "0.06"):  # one line per scale and scored video
        videos = [p["video"] for p in predictions if p["tfm_scale"] == scale]
        assert len(videos) == len(set(videos)) == split["videos"] and set(videos) <= listed
    with open(path.with_name(results["detail_files"]["per_class"])) as fh:
        per_class = list(csv.DictReader(fh))
    for run in results["runs"]:  # every scale's per-class accuracy, each video once
        lines = [line for line in per_class if float(line["tfm_scale"]) == run["tfm_scale"]]
        assert sum(int(line["videos"]) for line in lines) == split["videos"]
        assert sum(float(line["top1"]) * int(line["videos"]) for line in lines) == pytest.approx(
            run["splits"][0]["top1"] * split["videos"])
    assert "per_class" not in split and "predictions" not in split


def test_cli_bad_split_is_one_line_error(merged, synth, tmp_path):
    env = mote_env(tmp_path / "cache", synth.config)
    proc = subprocess.run([sys.executable, "-m", "motecli", "eval", "--dataset", "synth", "--split", "7", "-c",
                           str(merged)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "--split" in proc.stderr
