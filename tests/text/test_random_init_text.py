"""Random-init weights of a model that has published tags stay random on every text path.

A model built from random weights records pretrained=None; read back as "the default",
that silently becomes OpenAI's weights (and offline, an error asking for a download).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import motecli.model.clip as clip_module
from motecli.eval.runner import EvalSettings, class_text_embeddings
from motecli.text.encode import cached_text_embeddings


class Asked(Exception):
    pass


@pytest.fixture
def asked_for(monkeypatch, tmp_path):
    """The ClipSpec each text path asks build_clip for (nothing is built)."""
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "cache"))
    seen = []

    def fake_build_clip(spec, **kwargs):
        seen.append(spec)
        raise Asked

    monkeypatch.setattr(clip_module, "build_clip", fake_build_clip)
    return seen


@pytest.mark.parametrize("pretrained", ["none", "random"])
def test_text_cache_builds_random_init_when_asked(asked_for, pretrained):
    with pytest.raises(Asked):
        cached_text_embeddings(model="ViT-B-16", pretrained=pretrained, class_names=["a", "b"], templates=["{}"])
    assert asked_for[0].pretrained is None
    assert asked_for[0].weights_id.startswith("random-init:ViT-B-16")


def test_text_cache_default_is_openai(asked_for):
    with pytest.raises(Asked):
        cached_text_embeddings(model="ViT-B-16", pretrained=None, class_names=["a"], templates=["{}"])
    assert asked_for[0].pretrained == "openai"


def test_eval_reads_stored_random_init_as_random(asked_for):
    meta = dict(clip=dict(model="ViT-B-16", pretrained=None, quick_gelu=False), model_config=dict(embed_dim=512))
    with pytest.raises(Asked):
        settings = EvalSettings(checkpoint=Path("merged.safetensors"), protocol="zero-shot", clips=1, crops=1,
                                num_frames=8, modulation=False, scales=(), k=5, templates=["{}"], device="cpu")
        class_text_embeddings(meta, ["a", "b"], settings)
    assert asked_for[0].pretrained is None
