"""Real evaluations of several checkpoints into one results folder: identity in every file,
no overwriting, the caches each checkpoint shares or owns, HM_ZS per checkpoint from its
own files, sweeps in one file."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from mote_builders import merged_for, mote_env
from motecli.constants import TFM_K
from motecli.eval.batch import evaluate_checkpoints, expand_checkpoints
from motecli.eval.results import build_rows, read_results_dir
from motecli.eval.runner import EvalSettings, split_sources
from motecli.text.labels import read_templates_file

DATASETS = ("ucf101", "hmdb51", "k600", "k400")


@pytest.fixture(scope="module")
def roles(synth, tmp_path_factory):
    """datasets.toml naming the synthetic videos after the paper's datasets, so that the
    results files play the roles of UCF, HMDB, K600 and K400."""
    lists = synth.root / "lists"
    tests = ", ".join(f'"{lists}/test{s}.txt"' for s in (1, 2, 3))
    config = tmp_path_factory.mktemp("roles") / "datasets.toml"
    config.write_text("".join(f'[{name}]\nlayout = "list"\nroot = "{synth.root / "videos"}"\ntest = [{tests}]\n'
                              f'labels = "{lists}/labels.csv"\n\n' for name in DATASETS))
    return config


@pytest.fixture(scope="module")
def two(merged, synth, tmp_path_factory):
    """Checkpoint A (the shared fixture) and B (other head weights, same classes)."""
    return merged, merged_for(tmp_path_factory.mktemp("ckpt-b"), synth.class_names, seed=3, name="b")


@pytest.fixture(scope="module")
def own_encoder(synth, tmp_path_factory):
    """Checkpoint C: an image encoder of its own (moved off the seeded init), same classes."""
    return merged_for(tmp_path_factory.mktemp("ckpt-c"), synth.class_names, seed=5, name="c", visual_noise=0.5)


def settings(**kw):
    base = dict(checkpoint=None, protocol="zero-shot", clips=3, crops=1, num_frames=0, modulation=True, scales=(0.05,),
                k=TFM_K, templates=read_templates_file(None), batch_size=8)
    return EvalSettings(**(base | kw))


def evaluate(checkpoints, dataset, config, out, split="all", **kw):
    sources = split_sources(dataset=dataset, split=split, list_file=None, labels=None, root=None, config=config, store=None)
    return evaluate_checkpoints(checkpoints=list(checkpoints), settings=settings(**kw), frames=None, sources=sources,
                                out_dir=out, split_spec=split)


def hm(*values):
    return len(values) / sum(1 / v for v in values)


def test_two_checkpoints_one_folder(two, own_encoder, roles, synth, tmp_path):
    a, b = two
    c = own_encoder
    out = tmp_path / "results"
    # Several checkpoints in one `mote eval` call: one file each, then one summary.
    env = mote_env(tmp_path / "cache", roles)
    proc = subprocess.run([sys.executable, "-m", "motecli", "eval", "--dataset", "ucf101", "--split", "all", "-c", str(a),
                           "-c", str(b), "-c", str(c), "--results-dir", str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    ids = {p: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in (a, b, c)}
    files = sorted(out.glob("ucf101-*.json"))
    assert len(files) == 3 and {f.stem.split("-")[-2] for f in files} == set(ids.values())
    summary = proc.stdout[proc.stdout.index("the evaluated checkpoints"):]
    assert all(ids[p] in summary for p in (a, b, c)) and "missing HMDB zero-shot" in summary

    # Each checkpoint its own file; the frame cache is the image encoder's (A and B share theirs,
    # C has its own), the head cache each checkpoint's own; the text cache is filled once, by A.
    records = {p: json.loads(next(f for f in files if ids[p] in f.name).read_text()) for p in (a, b, c)}
    splits = {p: records[p]["runs"][0]["splits"] for p in (a, b, c)}
    for p in (a, b, c):
        assert records[p]["checkpoint"]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
        assert records[p]["checkpoint"]["path"] == str(p) and len(splits[p]) == 3
    frame_dirs = {p: {s["frame_cache"]["path"] for s in splits[p]} for p in (a, b, c)}
    head_dirs = {p: {s["head_cache"]["path"] for s in splits[p]} for p in (a, b, c)}
    assert len(frame_dirs[a]) == 1 and frame_dirs[b] == frame_dirs[a] and len(frame_dirs[c]) == 1
    assert frame_dirs[c] != frame_dirs[a] and all(os.path.isdir(d) for d in frame_dirs[a] | frame_dirs[c])
    assert len(set().union(*head_dirs.values())) == 3
    assert records[b]["caches"] == dict(frames="hit", frames_encoded_now=0, heads="filled", heads_computed_now=24,
                                        text="hit")
    assert records[c]["caches"] == dict(frames="filled", frames_encoded_now=24, heads="filled", heads_computed_now=24,
                                        text="hit")
    assert len({s["text_weights_id"] for p in (a, b, c) for s in splits[p]}) == 1

    record = records[a]
    meta = json.loads(a.with_name(a.name + ".json").read_text())
    assert record["format_version"] == 2 and record["mote_version"]
    ck = record["checkpoint"]
    assert ck["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest() and ck["path"] == str(a) and ck["id"] == ids[a]
    assert ck["training_run"]["path"] == meta["source"]["path"] and ck["training_run"]["epoch"] == 3
    assert ck["training_run"]["sha256"] == hashlib.sha256(open(meta["source"]["path"], "rb").read()).hexdigest()
    assert ck["recipe"] == {"name": "test"}  # what the training checkpoint recorded
    assert record["settings"]["tfm_scales"] == [0.05] and record["settings"]["split"] == "all"
    assert record["wall_seconds"] > 0 and record["caches"] == dict(
        frames="filled", frames_encoded_now=24, heads="filled", heads_computed_now=24, text="computed")
    assert record["test_classes_are_finetune_classes"] is True

    # The same checkpoint and settings again: its own file is replaced, found in the caches.
    (again,) = evaluate([a], "ucf101", roles, out)[0]
    assert again.path.name in {f.name for f in files} and len(list(out.glob("ucf101-*.json"))) == 3
    assert again.results["caches"] == dict(frames="hit", frames_encoded_now=0, heads="hit", heads_computed_now=0,
                                           text="hit")

    # The other datasets, A without modulation too (newer: it must still never enter A's row).
    for dataset in ("hmdb51", "k600"):
        evaluate([a, b], dataset, roles, out, split="1")
    for dataset in ("ucf101", "hmdb51", "k600"):
        evaluate([a], dataset, roles, out, split="all" if dataset == "ucf101" else "1", modulation=False)
    evaluate([a], "k400", roles, out, split="1", protocol="close-set", clips=1)

    rows = {(r.checkpoint, r.modulation): r for r in build_rows(read_results_dir(out)[0])}
    for ckpt in (a, b):
        mine = [json.loads(f.read_text()) for f in out.glob(f"*-{ids[ckpt]}-*.json") if "nomod" not in f.name]
        top1 = {r["dataset"]: r["runs"][0]["top1_mean"] for r in mine}
        row = rows[(ids[ckpt], "k=5 λ=0.05")]
        assert row.hm_zs == pytest.approx(hm(top1["ucf101"], top1["hmdb51"], top1["k600"]))
        assert all(ids[ckpt] in f and "nomod" not in f for f in row.files)
    assert rows[(ids[a], "k=5 λ=0.05")].trade_off == pytest.approx(hm(top1_k400 := json.loads(
        next(out.glob(f"k400-*{ids[a]}*.json")).read_text())["runs"][0]["top1_mean"], rows[(ids[a], "k=5 λ=0.05")].hm_zs))
    assert rows[(ids[a], "off")].value("k400_1x1") == top1_k400  # close-set on the fine-tuning classes counts for both
    assert rows[(ids[b], "k=5 λ=0.05")].missing == ["K400 close-set"]


def test_sweep_writes_one_file_with_every_k_and_scale(two, roles, tmp_path):
    a, _ = two
    (done,), _ = evaluate([a], "ucf101", roles, tmp_path, split="1", scales=(0.04, 0.06), ks=(1, 5), k=1)
    assert [(r["tfm_k"], r["tfm_scale"]) for r in done.results["runs"]] == [(1, 0.04), (1, 0.06), (5, 0.04), (5, 0.06)]
    assert len(list(tmp_path.glob("*.json"))) == 1
    rows = build_rows(read_results_dir(tmp_path)[0], best_scale=True)
    assert [r.modulation for r in rows] == ["k=1 λ=0.04", "k=1 λ=0.06", "k=5 λ=0.04", "k=5 λ=0.06", "best per dataset (test)"]
    best = max(r["top1_mean"] for r in done.results["runs"])
    assert rows[-1].value("ucf") == best and rows[-1].chosen_on_test


def test_checkpoint_globs(two, tmp_path):
    a, b = two
    assert expand_checkpoints([str(a.parent / "*.safetensors"), str(a)], default=tmp_path / "x") == [a]
    assert expand_checkpoints([], default=tmp_path / "x") == [tmp_path / "x"]
    with pytest.raises(Exception, match="no file matches"):
        expand_checkpoints([str(tmp_path / "*.nothing")], default=a)
