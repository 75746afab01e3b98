"""The head cache and the matrix path: equal to the head path, videos shared by splits
encoded and passed through the head once, invalidated by the head weights only, resumable
after SIGKILL, each cache read once per call."""

import json
import shutil
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from mote_builders import mote_env, tiny_text
from motecli.cache import encode as encode_module
from motecli.cache import heads as heads_module
from motecli.cache.encode import encode_frames
from motecli.cache.frames import FrameCache
from motecli.cache.heads import HeadCache, view_means
from motecli.cache.source import resolve_source
from motecli.checkpoints.merged import load_head
from motecli.eval.runner import EvalSettings, evaluate_sources
from motecli.eval.scoring import Modulation, similarities_from_means, view_similarities
from motecli.text.labels import read_templates_file

OTHER_CLASSES = ["juggling balls", "riding a bike", "playing violin", "swimming", "cooking pasta"]


def settings_for(merged, **kw):
    base = dict(checkpoint=merged, protocol="zero-shot", clips=3, crops=1, num_frames=8, modulation=True,
                scales=(0.05,), k=5, templates=read_templates_file(None), batch_size=4)
    return EvalSettings(**(base | kw))


def split_features(merged, source, clips=3):
    cache = encode_frames(source, checkpoint=merged, num_frames=8, clips=clips, crops=1).cache
    return torch.from_numpy(np.concatenate([c.features for c in cache.iter_chunks()]))  # float16 [N, V, T, D]


def test_matrix_path_equals_the_head_path(merged, synth):
    head, _, finetune = load_head(merged)
    feats = split_features(merged, resolve_source(dataset="synth", split=1, config=synth.config))
    temporal_mean, frame_mean = view_means(head, feats)
    assert temporal_mean.dtype == torch.float32 and temporal_mean.shape == (*feats.shape[:2], feats.shape[-1])
    settings = [None, Modulation(finetune, 5, (0.04, 0.05, 0.06, 0.07)), Modulation(finetune, (1, 3), (0.5, 2.0))]
    for text in (tiny_text(synth.class_names), tiny_text(OTHER_CLASSES)):
        for modulation in settings:
            reference = view_similarities(head, feats, test_text=text, modulation=modulation)
            matrix = similarities_from_means(temporal_mean, frame_mean, test_text=text, modulation=modulation)
            assert len(matrix) == len(reference) == len(modulation.settings if modulation else [None])
            for ref, got in zip(reference, matrix):
                assert got.shape == ref.shape
                assert (got - ref).abs().max() < 1e-5
    # Not vacuous: on other classes the sweep's alphas differ, so the temporal term matters.
    other = similarities_from_means(temporal_mean, frame_mean, test_text=tiny_text(OTHER_CLASSES), modulation=settings[2])
    assert (other[0] - other[1]).abs().max() > 1e-3


@pytest.fixture(scope="module")
def zero_shot_merged(tmp_path_factory):
    """A merged model fine-tuned on other classes than the synthetic ones: alpha < 1 on them."""
    from mote_builders import merged_for

    return merged_for(tmp_path_factory.mktemp("zs"), OTHER_CLASSES + ["archery", "bowling", "diving"], seed=1)


def test_eval_from_the_head_cache_equals_the_head_path(merged, zero_shot_merged, synth):
    sources = [resolve_source(dataset="synth", split=s, config=synth.config) for s in (1, 2, 3)]
    for checkpoint, kw in ((zero_shot_merged, dict(scales=(0.05, 0.5, 2.0), k=1, ks=(1, 5), half_classes=True)),
                           (merged, dict(modulation=False, half_classes=True))):
        cached = evaluate_sources(sources, settings_for(checkpoint, **kw))
        reference = evaluate_sources(sources, settings_for(checkpoint, head_cache=False, **kw))
        for per_cached, per_reference in zip(cached, reference):
            for a, b in zip(per_cached, per_reference):
                assert a["predictions"] == b["predictions"] and a["top1"] == b["top1"]
                assert a["half_classes"] == b["half_classes"] and (a["tfm_k"], a["tfm_scale"]) == (b["tfm_k"], b["tfm_scale"])
                assert a["head_cache"] is not None and b["head_cache"] is None
        assert [r["tfm_k"] for r in cached[0]] == ([1, 1, 1, 5, 5, 5] if kw.get("ks") else [None])
        if kw.get("ks"):  # not vacuous: the settings give different predictions
            assert len({json.dumps(r["predictions"]["top5"]) for r in cached[0]}) > 1


@pytest.fixture()
def shared_lists(synth, tmp_path):
    """A list dataset whose two test splits share three videos; split 2 names one video twice."""
    items = synth.items(1, "train") + synth.items(1, "test")
    a, b = items[:8], items[5:12] + [items[6]]
    lists = tmp_path / "lists"
    lists.mkdir()
    for name, rows in (("a.txt", a), ("b.txt", b)):
        (lists / name).write_text("".join(f"{rel} {label}\n" for rel, label in rows))
    config = tmp_path / "datasets.toml"
    config.write_text(f'[shared]\nlayout = "list"\nroot = "{synth.root / "videos"}"\ntest = ["lists/a.txt", "lists/b.txt"]\n'
                      f'labels = "{synth.root / "lists" / "labels.csv"}"\n')
    return [resolve_source(dataset="shared", split=s, config=config) for s in (1, 2)], {rel for rel, _ in a + b}


def counting(monkeypatch):
    """Videos through the image encoder and through the head, counted where they run."""
    counts = dict(encoder=0, head=0)
    frame_features, means = encode_module.frame_features, heads_module.view_means

    def encoder(visual, frames, **kw):
        counts["encoder"] += frames.shape[0]
        return frame_features(visual, frames, **kw)

    def head(h, features):
        counts["head"] += features.shape[0]
        return means(h, features)

    monkeypatch.setattr(encode_module, "frame_features", encoder)
    monkeypatch.setattr(heads_module, "view_means", head)
    return counts


def test_a_video_shared_by_two_splits_is_encoded_and_passed_through_the_head_once(merged, shared_lists, monkeypatch):
    (split1, split2), distinct = shared_lists
    counts = counting(monkeypatch)
    first = evaluate_sources([split1], settings_for(merged))[0][0]
    assert counts == dict(encoder=8, head=8)
    both = evaluate_sources([split1, split2], settings_for(merged))
    assert counts == dict(encoder=len(distinct), head=len(distinct))  # split 2 added only its 4 new videos
    assert both[1][0]["frame_cache"]["encoded_videos_now"] == len(distinct) - 8
    assert both[0][0]["frame_cache"]["path"] == both[1][0]["frame_cache"]["path"]  # one cache for the collection
    assert both[0][0]["predictions"] == first["predictions"]
    assert both[1][0]["videos"] == 8 and both[1][0]["predictions"]["index"] == list(range(8))  # the repeat counts
    preds = both[1][0]["predictions"]
    assert preds["top5"][1] == preds["top5"][7]  # the same video at two positions: the same scores
    evaluate_sources([split2, split1], settings_for(merged, scales=(0.04, 0.07)))
    assert counts == dict(encoder=len(distinct), head=len(distinct))  # nothing new


def test_split_all_reads_each_cache_once(merged, shared_lists, monkeypatch):
    sources, distinct = shared_lists
    monkeypatch.setattr(heads_module, "HEAD_SHARD_VIDEOS", 2)  # many small head shards: reads are countable
    evaluate_sources(sources, settings_for(merged, shard_size=2))
    opened, frame_scans = [], []
    monkeypatch.setattr(HeadCache, "open", lambda self, name, _open=HeadCache.open: opened.append(name) or _open(self, name))
    monkeypatch.setattr(FrameCache, "scan", lambda self, **kw: frame_scans.append(1))
    evaluate_sources(sources, settings_for(merged, scales=(0.04, 0.05, 0.06, 0.07), half_classes=True))
    assert frame_scans == []  # the head cache is complete: the frame cache is not even listed
    # 12 distinct videos, 2 to a shard: each shard read once although 3 videos are in both splits.
    assert len(distinct) == 12 and len(opened) == len(set(opened)) == 6


def copy_with_changed_head(merged, out):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(merged), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        metadata = fh.metadata()
    tensors["head.frame_position_embeddings.weight"] = tensors["head.frame_position_embeddings.weight"] + 0.5
    save_file(tensors, str(out), metadata=metadata)
    return out


def test_a_changed_head_weight_invalidates_the_head_cache_not_the_frame_cache(merged, synth, tmp_path):
    source = resolve_source(dataset="synth", split=1, config=synth.config)
    settings = settings_for(merged, modulation=False)
    before = evaluate_sources([source], settings)[0][0]
    assert before["head_cache"]["computed_videos_now"] == len(source.videos)
    changed = copy_with_changed_head(merged, tmp_path / "changed.safetensors")
    after = evaluate_sources([source], settings_for(changed, modulation=False))[0][0]
    assert after["frame_cache"]["path"] == before["frame_cache"]["path"]  # the same frame cache ...
    assert after["frame_cache"]["encoded_videos_now"] == 0  # ... reused
    assert after["head_cache"]["path"] != before["head_cache"]["path"]
    assert after["head_cache"]["computed_videos_now"] == len(source.videos)
    reference = evaluate_sources([source], settings_for(changed, modulation=False, head_cache=False))[0][0]
    assert after["predictions"] == reference["predictions"]  # the new head's numbers, not the stale ones
    again = evaluate_sources([source], settings)[0][0]
    assert again["head_cache"] == dict(before["head_cache"], computed_videos_now=0)


KILLED_HEAD_PASS = """
import os, signal, sys
from pathlib import Path
from motecli.cache import heads, shards
from motecli.cache.source import resolve_source
from motecli.eval.runner import EvalSettings, evaluate_sources
from motecli.text.labels import read_templates_file

heads.HEAD_SHARD_VIDEOS = 4
calls = []
real_fsync = os.fsync
def fsync_then_die(fd):  # the 3rd head shard: written to its temporary name, never renamed
    if "/heads/" in os.readlink(f"/proc/self/fd/{fd}"):
        calls.append(fd)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)
shards.os.fsync = fsync_then_die
sources = [resolve_source(dataset="synth", split=s, config=sys.argv[2]) for s in (1, 2)]
settings = EvalSettings(checkpoint=Path(sys.argv[1]), protocol="zero-shot", clips=3, crops=1, num_frames=8,
                        modulation=True, scales=(0.05,), k=5, templates=read_templates_file(None), shard_size=2)
evaluate_sources(sources, settings)
"""


def head_rows(root):
    """The head cache's (temporal_mean, frame_mean) per video, and its folder and shards."""
    (folder,) = root.glob("frames/embeddings/*/heads/*")
    rows, shards = {}, sorted(folder.glob("shard-*.h5"))
    for path in shards:
        with h5py.File(path) as f:
            for i, key in enumerate(f["videos"][:]):
                rows[key.decode()] = (f["temporal_mean"][i], f["frame_mean"][i])
    return folder, shards, rows


def test_sigkill_during_the_head_pass_then_rerun_is_identical(merged, synth, tmp_path, monkeypatch):
    sources = [resolve_source(dataset="synth", split=s, config=synth.config) for s in (1, 2)]
    for s in sources:  # the frame cache first (8 shards of 2), so the killed process runs only the head pass
        encode_frames(s, checkpoint=merged, num_frames=8, clips=3, crops=1, shard_size=2)
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED_HEAD_PASS))
    proc = subprocess.run([sys.executable, str(script), str(merged), str(synth.config)],
                          env=mote_env(tmp_path / "cache"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder, partial, partial_rows = head_rows(tmp_path / "cache")
    assert len(partial) == 2 and len(partial_rows) == 8 and len(list(folder.glob(".shard-*.h5.tmp-*"))) == 1
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in partial}

    monkeypatch.setattr(heads_module, "HEAD_SHARD_VIDEOS", 4)
    settings = settings_for(merged, shard_size=2)
    resumed = evaluate_sources(sources, settings)
    assert resumed[0][0]["head_cache"]["computed_videos_now"] == 16 - 8
    _, whole, resumed_rows = head_rows(tmp_path / "cache")
    assert len(whole) == 4 and all((folder / n).stat().st_ino == stamps[n][0] for n in stamps)  # not recomputed

    # An uninterrupted head pass over the same frame cache (copied without its head caches).
    frames = folder.parents[1]
    shutil.copytree(frames, tmp_path / "clean" / frames.relative_to(tmp_path / "cache"), ignore=shutil.ignore_patterns("heads"))
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "clean"))
    clean = evaluate_sources(sources, settings)
    assert clean[0][0]["frame_cache"]["encoded_videos_now"] == 0 and clean[0][0]["head_cache"]["computed_videos_now"] == 16
    _, _, clean_rows = head_rows(tmp_path / "clean")
    assert resumed_rows.keys() == clean_rows.keys() and len(clean_rows) == 16
    for key, (t, m) in resumed_rows.items():
        np.testing.assert_array_equal(t, clean_rows[key][0])
        np.testing.assert_array_equal(m, clean_rows[key][1])
    assert [r[0]["predictions"] for r in resumed] == [r[0]["predictions"] for r in clean]


def test_cli_several_datasets_and_a_k_sweep(merged, synth, tmp_path):
    env = mote_env(tmp_path / "cache", synth.config)
    args = [sys.executable, "-m", "motecli", "eval", "--dataset", "synth", "--dataset", "synth_bad", "-c", str(merged),
            "--protocol", "close-set", "--tfm-k", "1,5", "--tfm-scale", "0.05", "--results-dir", str(tmp_path / "res")]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    files = sorted((tmp_path / "res").glob("*.json"))
    assert [json.loads(f.read_text())["dataset"] for f in files] == ["synth", "synth_bad"]
    for f in files:
        results = json.loads(f.read_text())
        assert [(r["tfm_k"], r["tfm_scale"]) for r in results["runs"]] == [(1, 0.05), (5, 0.05)]
        assert results["settings"]["tfm_ks"] == [1, 5] and results["caches"]["heads"] == "filled"
    bad = subprocess.run(args[:-2] + ["--tfm-k", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--tfm-k" in bad.stderr and bad.stderr.count("\n") == 1
