"""A cut-down pretraining grounds words: held-out captions are retrieved well above chance,
and the same check fails once the text encoder is put back to its random init.

Held-out: images of colour-shape pairs pretraining never showed, e.g. a red circle,
retrieved among captions that differ in the colour word only ("a red circle", "a green
circle", ...), so the true caption is itself one never seen in pretraining (chance 1/6).
A few seconds of pretraining ground colour; shape and place need the full run
(docs/demo.md), so this test checks the colour word."""

import copy

import pytest
import torch

from motecli.model.clip import build_clip, resolve_clip, tokenizer_for
from motecli.pretrain.loop import PretrainConfig, pretrain
from motecli.pretrain.retrieval import retrieval_top1

# Seconds, not the 90 s of `mote pretrain-tiny`: fewer, smaller steps on smaller renders.
CUT = PretrainConfig(steps=60, batch=32, captions_per_image=2, warmup_steps=5, eval_images=96, render_size=56)
WELL_ABOVE = 3  # x chance


@pytest.fixture(scope="module")
def cut():
    return pretrain(CUT)


def _held_out_colour_top1(model) -> tuple[float, float]:
    r = retrieval_top1(model, tokenizer_for(resolve_clip("mote-tiny", None)), count=CUT.eval_images,
                       size=CUT.render_size, seed=CUT.seed)
    return r["attribute_top1"]["colour"], r["attribute_chance"]["colour"]


def _random_text_encoder(model):
    """`model` with every text-encoder weight back at the random init (image encoder kept)."""
    random = build_clip(resolve_clip("mote-tiny", None)).state_dict()
    out = copy.deepcopy(model)
    out.load_state_dict({k: v for k, v in random.items() if not k.startswith("visual.") and k != "logit_scale"},
                        strict=False)
    return out


def test_held_out_captions_are_retrieved_well_above_chance(cut):
    top1, chance = _held_out_colour_top1(cut.model)
    assert top1 == cut.retrieval["attribute_top1"]["colour"]  # the figure stored with the weights is this check
    assert chance == pytest.approx(1 / 6) and cut.retrieval["held_out"]
    assert top1 >= WELL_ABOVE * chance, top1
    assert cut.losses[-1] < cut.losses[0]


def test_the_same_check_fails_with_a_random_text_encoder(cut):
    top1, chance = _held_out_colour_top1(_random_text_encoder(cut.model))
    assert top1 < WELL_ABOVE * chance, top1


def test_pretraining_is_seeded():
    tiny = PretrainConfig(steps=3, batch=8, warmup_steps=1, eval_images=6, render_size=32)
    a, b = pretrain(tiny), pretrain(tiny)
    assert a.losses == b.losses
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    c = pretrain(PretrainConfig(**{**tiny.to_dict(), "seed": 1}))
    assert c.losses != a.losses


def test_the_returned_model_holds_the_trained_word_rows(cut):
    """The world's token rows are trained in a compact copy: the model (what is saved and
    what --pretrained loads) must hold them, and only them may differ from the init."""
    from motecli.pretrain.text import CompactVocab, world_words

    init = build_clip(resolve_clip("mote-tiny", None)).token_embedding.weight
    rows = CompactVocab(cut.model.token_embedding, tokenizer_for(resolve_clip("mote-tiny", None)), world_words()).rows
    changed = (cut.model.token_embedding.weight != init).any(dim=1)
    words = torch.zeros_like(changed)
    words[rows] = True
    assert not (changed & ~words).any()  # nothing outside the world's words moved
    assert changed[words].float().mean() > 0.9  # and the world's words did (padding may not get a gradient)
