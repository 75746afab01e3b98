"""`mote encode-frames` / `mote eval` options with no other test: --views 4x3 and the
errors of resolve_views, --store (frames from a `mote decode` store), --templates and
--text-pretrained (checked against class texts encoded by hand)."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cache.frames import FrameCache, read_split
from motecli.cache.source import resolve_source
from motecli.checkpoints.merged import load_head
from motecli.cli_app import app
from motecli.errors import MoteError
from motecli.eval.protocols import resolve_views
from motecli.model.temporal import video_embedding

runner = CliRunner()


def mote(*args):
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def one_results_file(folder):
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("protocol, views, clips, crops, expected", [
    ("zero-shot", None, None, None, (3, 1)),
    ("close-set", None, None, None, (1, 1)),
    ("close-set", "4x3", None, None, (4, 3)),
    ("zero-shot", "4x3", None, None, (4, 3)),
    ("zero-shot", None, 2, None, (2, 1)),
    ("close-set", "4x3", 2, 1, (2, 1)),  # --clips / --crops override the views
])
def test_resolve_views(protocol, views, clips, crops, expected):
    assert resolve_views(protocol=protocol, views=views, clips=clips, crops=crops) == expected


@pytest.mark.parametrize("kw, fragment", [
    (dict(protocol="open-set"), "--protocol 'open-set': expected one of zero-shot, close-set"),
    (dict(protocol="close-set", views="2x2"), "--views '2x2': expected one of 1x1, 4x3"),
    (dict(protocol="close-set", crops=2), "--crops 2: expected 1 or 3"),
    (dict(protocol="zero-shot", clips=-1), "--clips -1: expected at least 1"),
])
def test_resolve_views_errors(kw, fragment):
    with pytest.raises(MoteError, match=fragment.replace("(", r"\(")):
        resolve_views(**({"views": None, "clips": None, "crops": None} | kw))


def test_bad_views_on_the_command_line(merged):
    assert_one_line_error(runner.invoke(app, ["eval", "--dataset", "synth", "-c", str(merged), "--views", "2x2"]),
                          "--views '2x2'")


def test_views_4x3_fill_and_reuse_a_twelve_view_cache(synth, merged, tmp_path):
    listing = tmp_path / "two.txt"  # two videos keep 4 x 3 views quick
    listing.write_text("".join((synth.root / "lists" / "test1.txt").read_text().splitlines(keepends=True)[:2]))
    common = ["--list", listing, "--labels", synth.root / "lists" / "labels.csv", "--root", synth.root / "videos",
              "-c", merged, "--protocol", "close-set", "--views", "4x3"]
    encoded = mote("encode-frames", *common)
    source = resolve_source(list_file=listing, labels=synth.root / "lists" / "labels.csv", root=synth.root / "videos")
    cache = read_split(encoded.stdout.split()[0], source)  # the command prints the cache folder first
    assert (cache.manifest["clips"], cache.manifest["crops"]) == (4, 3)
    features = np.concatenate([c.features for c in cache.iter_chunks()])
    assert features.shape[1:3] == (12, 8)  # [N, 4 clips x 3 crops, T, D]
    assert not np.array_equal(features[:, 0], features[:, 1])  # crops differ
    mote("eval", *common, "--results-dir", tmp_path / "res")
    results = one_results_file(tmp_path / "res")
    assert (results["settings"]["clips"], results["settings"]["crops"], results["settings"]["views"]) == (4, 3, 12)
    split = results["runs"][0]["splits"][0]
    assert split["videos"] == 2 and split["frame_cache"]["encoded_videos_now"] == 0  # encode-frames filled it
    assert split["frame_cache"]["path"] == str(cache.path)


def test_store_is_read_instead_of_the_videos(synth, merged, tmp_path, monkeypatch):
    from motecli.data import dataset
    from motecli.data.store import read_manifest
    from motecli.decode.runner import decode_to_store
    from motecli.decode.shard import StoreSettings

    source = resolve_source(dataset="synth", split=1, config=synth.config)
    decode_to_store(source.videos, tmp_path / "store", settings=StoreSettings(shard_size=4), progress=False)

    def no_videos(*args, **kwargs):
        raise AssertionError("a video was decoded although --store was given")

    monkeypatch.setattr(dataset, "read_video", no_videos)
    common = ["--dataset", "synth", "--datasets-config", synth.config, "-c", merged, "--store", tmp_path / "store"]
    encoded = mote("encode-frames", *common, "--out", tmp_path / "cache")
    assert "8 videos encoded" in " ".join(encoded.stdout.split())
    fingerprint = FrameCache(tmp_path / "cache").manifest["fingerprint"]["frames"]
    assert fingerprint["kind"] == "store"
    assert fingerprint["manifest_sha256"] != "" and read_manifest(tmp_path / "store")["items"]
    mote("eval", *common, "--results-dir", tmp_path / "res")
    split = one_results_file(tmp_path / "res")["runs"][0]["splits"][0]
    assert split["videos"] == len(source.videos) and split["excluded"] == 0
    # A store of other videos is refused, naming it.
    other = resolve_source(dataset="synth", split=2, config=synth.config)
    decode_to_store(other.videos, tmp_path / "other", settings=StoreSettings(shard_size=4), progress=False)
    result = runner.invoke(app, ["eval", *map(str, common[:-1]), str(tmp_path / "other"), "--results-dir",
                                 str(tmp_path / "res2")])
    assert_one_line_error(result, str(tmp_path / "other"), "holds a different video list")  # before any encoding


def test_templates_and_text_pretrained_give_the_hand_encoded_class_texts(synth, merged, tmp_path):
    """--text-pretrained FILE (a tiny CLIP whose text encoder differs from the checkpoint's)
    and --templates FILE (two prompts): predictions equal scoring the cached features
    against class texts encoded here by hand (modulation off, so no alpha enters)."""
    from motecli.model.clip import build_clip, resolve_clip, tokenizer_for

    gen = torch.Generator().manual_seed(3)
    clip = build_clip(resolve_clip("mote-tiny", None))
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if not name.startswith("visual."):
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    weights = tmp_path / "text-clip.pt"
    torch.save(clip.state_dict(), weights)
    templates = ["a clip of {c}.", "someone filming {c}."]
    (tmp_path / "templates.txt").write_text("".join(f"{t}\n" for t in templates))

    mote("eval", "--dataset", "synth", "--datasets-config", synth.config, "-c", merged, "--no-modulation",
         "--templates", tmp_path / "templates.txt", "--text-pretrained", weights, "--results-dir", tmp_path / "res")
    results = one_results_file(tmp_path / "res")
    assert results["settings"]["num_templates"] == 2
    split = results["runs"][0]["splits"][0]
    assert split["text_weights_id"].startswith("sha256:")

    spec = resolve_clip("mote-tiny", str(weights), quick_gelu=True)
    model, tok = build_clip(spec), tokenizer_for(spec)
    names = synth.class_names
    with torch.no_grad():
        text = torch.stack([F.normalize(torch.stack([F.normalize(model.encode_text(tok([t.replace("{c}", n)]))[0], dim=0)
                                                     for t in templates]).mean(0), dim=0) for n in names])
    cache = read_split(split["frame_cache"]["path"], resolve_source(dataset="synth", config=synth.config))
    chunks = list(cache.iter_chunks())
    feats = torch.from_numpy(np.concatenate([c.features for c in chunks])).float()  # [N, 3, T, D]
    head, _, _ = load_head(merged)
    with torch.no_grad():
        v = video_embedding(head(feats.flatten(0, 1)))  # [N*3, D]
    probs = (v @ text.T).view(feats.shape[0], 3, -1).softmax(-1).mean(1)  # [N, 3, C] -> [N, C]
    with open(tmp_path / "res" / results["detail_files"]["predictions"]) as fh:
        rows = list(csv.DictReader(fh))  # per-video predictions, beside the results JSON
    assert [int(r["index"]) for r in rows] == np.concatenate([c.indices for c in chunks]).tolist()
    assert [[int(r[f"top{i}"]) for i in range(1, 6)] for r in rows] == probs.topk(5, dim=-1).indices.tolist()


@pytest.mark.parametrize("values, expected", [([], (0.05,)), (["0.04,0.05", "0.06"], (0.04, 0.05, 0.06)), (["1e-2"], (0.01,))])
def test_tfm_scales(values, expected):
    from motecli.eval.protocols import parse_scales

    assert parse_scales(values) == expected


@pytest.mark.parametrize("value, fragment", [("0.04,x", "--tfm-scale 'x': expected a number"),
                                             ("0", "--tfm-scale 0: expected a positive number"),
                                             ("nan", "--tfm-scale nan: expected a positive number")])
def test_bad_tfm_scale_is_one_line(merged, value, fragment):
    result = runner.invoke(app, ["eval", "--dataset", "synth", "-c", str(merged), "--tfm-scale", value])
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize("values, expected", [([], (5,)), (["3,5", "7"], (3, 5, 7))])
def test_tfm_ks(values, expected):
    from motecli.eval.protocols import parse_ks

    assert parse_ks(values) == expected


@pytest.mark.parametrize("value, fragment", [("0", "--tfm-k '0'"), ("3,x", "--tfm-k 'x'"), ("2.5", "--tfm-k '2.5'")])
def test_bad_tfm_k_is_one_line(merged, value, fragment):
    result = runner.invoke(app, ["eval", "--dataset", "synth", "-c", str(merged), "--tfm-k", value])
    assert_one_line_error(result, fragment, "expected a positive whole number")
