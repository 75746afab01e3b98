"""Pretrained weights: cached under their fingerprint, reused, and loadable as --pretrained FILE."""

import json

import pytest
import torch
from typer.testing import CliRunner

import motecli.cli  # noqa: F401
from motecli.cli_app import app
from motecli.errors import MoteError
from motecli.model.clip import build_clip, resolve_clip
from motecli.pretrain import loop, store
from motecli.pretrain.loop import PretrainConfig

TINY = PretrainConfig(steps=2, batch=8, warmup_steps=1, eval_images=6, render_size=32)


def test_weights_are_cached_reused_and_load_as_a_local_file(tmp_path, monkeypatch):
    first = store.ensure_pretrained(TINY)
    assert not first.reused and first.path.parent.name == "pretrained"
    assert first.path.name == f"mote-tiny-world-{store.fingerprint(TINY)[:16]}.safetensors"
    meta = json.loads(first.path.with_name(first.path.name + ".json").read_text())
    assert meta["fingerprint"] == store.fingerprint(TINY) and meta["config"]["steps"] == 2

    def no_training(config):
        raise AssertionError("pretrained again although the cache holds the weights")

    monkeypatch.setattr(loop, "pretrain", no_training)
    again = store.ensure_pretrained(TINY)
    assert again.reused and again.path == first.path

    # --pretrained FILE: resolve_clip names it by content and build_clip loads every tensor.
    spec = resolve_clip("mote-tiny", str(first.path))
    assert spec.weights_id.startswith("sha256:") and spec.quick_gelu
    model = build_clip(spec)
    from safetensors.torch import load_file

    saved = load_file(str(first.path))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    random = build_clip(resolve_clip("mote-tiny", None)).state_dict()
    assert not torch.equal(random["visual.conv1.weight"], state["visual.conv1.weight"])


def test_fingerprint_follows_the_config():
    assert store.fingerprint(TINY) == store.fingerprint(PretrainConfig(**TINY.to_dict()))
    assert store.fingerprint(TINY) != store.fingerprint(PretrainConfig(**{**TINY.to_dict(), "seed": 1}))


def test_a_foreign_file_is_never_overwritten(tmp_path):
    other = tmp_path / "mine.safetensors"
    other.write_bytes(b"not weights")
    with pytest.raises(MoteError, match="not a pretrained tiny-CLIP file"):
        store.ensure_pretrained(TINY, out=other)
    assert other.read_bytes() == b"not weights"


def test_cli_pretrains_and_prints_retrieval_against_chance(tmp_path):
    out = tmp_path / "w.safetensors"
    args = ["pretrain-tiny", "--steps", "1", "--batch", "8", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.is_file() and str(out) in result.stdout
    assert "held-out colour-shape combinations" in result.stdout and "chance 2.8" in result.stdout
    assert "--pretrained" in result.stdout
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "reused" in again.stdout
    bad = CliRunner().invoke(app, ["pretrain-tiny", "--steps", "0"])
    assert bad.exit_code != 0 and "--steps 0" in bad.stderr and "Traceback" not in bad.output
