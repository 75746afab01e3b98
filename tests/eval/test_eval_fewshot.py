"""Few-shot lists (seeded, K per class, full-train size) and the head-only fast path."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mote_builders import tiny_text
from motecli.cache.encode import encode_frames
from motecli.cache.source import resolve_source
from motecli.checkpoints.merged import load_head
from motecli.errors import MoteError
from motecli.eval import fewshot
from motecli.eval.fewshot import draw_few_shot, few_shot_head, parse_shots, train_head, write_few_shot_lists
from motecli.model.temporal import video_embedding
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


def test_head_training_learns_separable_features(merged):
    """Features of 4 classes around random means, class texts in unrelated random
    directions: the untrained head is near chance, training aligns them."""
    head, logit_scale, _ = load_head(merged)
    gen = torch.Generator().manual_seed(0)
    classes, dim = 4, head.config.width
    means = F.normalize(torch.randn(classes, dim, generator=gen), dim=-1)
    text = F.normalize(torch.randn(classes, dim, generator=gen), dim=-1)

    def sample(n):
        labels = torch.arange(n) % classes
        return means[labels][:, None, :] + 0.3 * torch.randn(n, 8, dim, generator=gen), labels  # [n, T, D]

    def accuracy(h, x, y):
        with torch.no_grad():
            return float(((video_embedding(h(x)) @ text.T).argmax(-1) == y).float().mean())

    (x, y), (x_test, y_test) = sample(64), sample(64)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    assert accuracy(head, x_test, y_test) < 0.5  # chance is 0.25
    trained = train_head(head, x, y, rows=list(range(64)), text=text, logit_scale=torch.tensor(4.6), epochs=8, seed=0,
                         lr=1e-3)
    assert accuracy(trained, x_test, y_test) >= 0.9
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and not trained.training


def test_few_shot_head_trains_on_cached_features(synth, merged, tmp_path, monkeypatch):
    train = resolve_source(dataset="synth", split=1, subset="train", config=synth.config)
    (listing,) = write_few_shot_lists(train, shots=[2], seed=0, out_dir=tmp_path)
    k_shot = resolve_source(list_file=listing.path, labels=synth.root / "lists" / "labels.csv", root=synth.root / "videos")
    test = resolve_source(dataset="synth", split=1, config=synth.config)
    heads = []

    def spy(head, *args, **kwargs):
        heads.append(train_head(head, *args, **kwargs))
        return heads[-1]

    monkeypatch.setattr(fewshot, "train_head", spy)
    kw = dict(train=k_shot, test=test, checkpoint=merged, num_frames=8, epochs=2, seed=0,
              templates=read_templates_file(None), results_dir=tmp_path / "res", batch_size=4)
    out, again = few_shot_head(**kw), few_shot_head(**kw)
    assert out["predictions"] == again["predictions"]  # seeded training
    assert out["videos"] == len(test.videos) and json.loads((tmp_path / "res").joinpath(
        f"{test.name}-fewshot-head-{k_shot.name}.json").read_text())["top1"] == out["top1"]
    untrained, _, _ = load_head(merged)
    assert any(not torch.equal(v, untrained.state_dict()[k]) for k, v in heads[0].state_dict().items())
    # Independent scoring of the test cache with the trained head: cosine per view, softmax, mean.
    cache = encode_frames(test, checkpoint=merged, num_frames=8, clips=1, crops=1).cache
    feats = torch.from_numpy(np.concatenate([c.features for c in cache.iter_chunks()])).float()  # [N, 1, T, D]
    with torch.no_grad():
        v = video_embedding(heads[0](feats[:, 0]))
    probs = (v @ F.normalize(tiny_text(test.videos.class_names), dim=-1).T).softmax(-1)
    assert out["predictions"]["top5"] == probs.topk(5, dim=-1).indices.tolist()
    assert np.isclose(out["top1"], np.mean(probs.argmax(-1).numpy() == np.array(out["predictions"]["label"])))


@pytest.mark.parametrize("text, expected", [("2,4,8,16", (2, 4, 8, 16)), ("4, 1", (1, 4))])
def test_parse_shots(text, expected):
    assert parse_shots(text) == expected


def test_seeds_may_start_at_zero():
    from motecli.eval.fewshot import parse_counts

    assert parse_counts("0,1,2", option="--seeds", minimum=0) == (0, 1, 2)
    with pytest.raises(MoteError, match=r"--seeds '0,-1': expected comma-separated whole numbers >= 0 .*'-1' is not one"):
        parse_counts("0,-1", option="--seeds", minimum=0)


@pytest.mark.parametrize("text", ["1,x", "0", "2,,4", "-1", "2.5"])
def test_bad_shots_are_one_line_errors(text):
    with pytest.raises(MoteError, match=r"--shots .*: expected comma-separated whole numbers >= 1 .* is not one"):
        parse_shots(text)


def test_a_repeated_k_is_an_error():
    with pytest.raises(MoteError, match="--shots '2,2': a value is repeated"):
        parse_shots("2,2")


def test_few_shot_commands(synth, merged, tmp_path):
    """`mote few-shot-lists` then `mote few-shot-head`: the files of the library call, the same head results."""
    from cli_asserts import assert_one_line_error
    from typer.testing import CliRunner

    import motecli.cli  # noqa: F401
    from motecli.cli_app import app

    runner = CliRunner()
    args = ["few-shot-lists", "--dataset", "synth", "--datasets-config", str(synth.config), "--split", "1",
            "--shots", "1,2", "--seed", "3", "--out", str(tmp_path / "lists")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    train = resolve_source(dataset="synth", split=1, subset="train", config=synth.config)
    expected = write_few_shot_lists(train, shots=[1, 2], seed=3, out_dir=tmp_path / "library")
    for item in expected:
        written = tmp_path / "lists" / item.path.name
        assert written.read_text() == item.path.read_text()
        assert f"K={item.k}: {item.unique} videos drawn, {item.total} lines" in result.stdout
    assert_one_line_error(runner.invoke(app, [*args[:-4], "--shots", "1,x", "--out", str(tmp_path / "x")]),
                          "--shots '1,x': expected comma-separated whole numbers >= 1", "'x' is not one")

    two_shot = tmp_path / "lists" / expected[1].path.name
    head = ["few-shot-head", "--train-list", str(two_shot), "--labels", str(tmp_path / "lists" / f"{train.name}-labels.txt"),
            "--root", str(synth.root / "videos"), "--dataset", "synth", "--datasets-config", str(synth.config),
            "-c", str(merged), "--epochs", "1", "--results-dir", str(tmp_path / "res")]
    result = runner.invoke(app, head)
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "res").glob("*.json")
    saved = json.loads(path.read_text())
    assert f"top-1 {100 * saved['top1']:.2f}" in result.stdout and saved["format"] == "mote-few-shot-head"
    k_shot = resolve_source(list_file=two_shot, labels=tmp_path / "lists" / f"{train.name}-labels.txt",
                            root=synth.root / "videos")
    library = few_shot_head(train=k_shot, test=resolve_source(dataset="synth", split=1, config=synth.config),
                            checkpoint=merged, num_frames=8, epochs=1, seed=0, templates=read_templates_file(None),
                            results_dir=tmp_path / "res-library")
    assert saved["predictions"] == library["predictions"]


def test_few_shot_head_needs_exactly_one_test_split(synth, merged, tmp_path):
    from cli_asserts import assert_one_line_error
    from typer.testing import CliRunner

    import motecli.cli  # noqa: F401
    from motecli.cli_app import app

    lists = synth.root / "lists"
    base = ["few-shot-head", "--train-list", str(lists / "train1.txt"), "--labels", str(lists / "labels.csv"),
            "--root", str(synth.root / "videos"), "-c", str(merged)]
    for extra in ([], ["--dataset", "synth", "--test-list", str(lists / "test1.txt")]):
        assert_one_line_error(CliRunner().invoke(app, base + extra), "--dataset NAME or as --test-list FILE")
