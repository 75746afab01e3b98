"""The pretraining's shortcuts give the same numbers as the plain computation."""

import numpy as np
import torch

from motecli.data.world import COLOUR_NAMES, SHAPES, Scene
from motecli.model.clip import build_clip, resolve_clip, tokenizer_for
from motecli.pretrain.pairs import compatibility, training_batch, training_caption
from motecli.pretrain.text import CompactVocab, encode_text, world_words


def _tiny():
    spec = resolve_clip("mote-tiny", None)
    return build_clip(spec), tokenizer_for(spec)


def test_cut_text_forward_equals_open_clip():
    model, tokenizer = _tiny()
    torch.manual_seed(0)
    with torch.no_grad():  # random init is tiny; make the layers matter
        for p in model.transformer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    tokens = tokenizer(["a red circle", "a photo of a person doing a small blue ring at the top left.", "a"])
    with torch.no_grad():
        torch.testing.assert_close(encode_text(model, tokens), model.encode_text(tokens), atol=1e-5, rtol=1e-5)


def test_compact_vocab_trains_the_used_rows_only():
    model, tokenizer = _tiny()
    table = model.token_embedding
    before = table.weight.detach().clone()
    vocab = CompactVocab(table, tokenizer, world_words())
    tokens = tokenizer(["a small red triangle on the left"])
    torch.testing.assert_close(vocab(tokens), table(tokens))  # same lookup before training
    with torch.no_grad():
        vocab.embedding.weight.add_(1.0)
    vocab.write_back(table)
    changed = (table.weight != before).any(dim=1)
    assert set(changed.nonzero().flatten().tolist()) == set(vocab.rows.tolist())
    assert len(vocab.rows) < 100
    try:
        vocab(tokenizer(["zebra"]))
    except ValueError as err:
        assert "vocabulary" in str(err)
    else:
        raise AssertionError("a word outside the world's vocabulary was embedded")


def test_compatibility_marks_every_true_caption():
    red_circle_left = Scene(SHAPES.index("circle"), COLOUR_NAMES.index("red"), 0, 3)
    blue_circle_right = Scene(SHAPES.index("circle"), COLOUR_NAMES.index("blue"), 1, 5)
    values = torch.tensor([red_circle_left.values(), blue_circle_right.values()])
    # caption 0 states only the shape ("a circle"); caption 1 states shape and colour ("a blue circle").
    stated = torch.tensor([[True, False, False, False], [True, True, False, False]])
    assert compatibility(values, values, stated).tolist() == [[True, False], [True, True]]


def test_training_captions_are_true_of_their_images_and_seeded():
    batch = training_batch(64, size=32, rng=np.random.default_rng(0), captions_per_image=3)
    assert batch.images.shape == (64, 3, 224, 224) and len(batch.captions) == 192
    true = compatibility(batch.values, batch.caption_values, batch.stated)  # [64, 192]
    assert all(true[i, 3 * i : 3 * i + 3].all() for i in range(64))  # an image's own captions are true of it
    # Independent check on the words: a caption naming another colour or shape is not true of the image.
    for i, j in ((0, 5), (1, 100), (7, 190)):
        image_words = {COLOUR_NAMES[batch.values[i, 1]], SHAPES[batch.values[i, 0]]}
        caption_words = set(batch.captions[j].replace(".", " ").split())
        if caption_words & set(SHAPES) - image_words or caption_words & set(COLOUR_NAMES) - image_words:
            assert not true[i, j]
    again = training_batch(64, size=32, rng=np.random.default_rng(0), captions_per_image=3)
    assert again.captions == batch.captions and torch.equal(again.images, batch.images)
    rng = np.random.default_rng(1)
    scene = Scene(2, 3, 1, 8)
    for _ in range(50):
        text, stated = training_caption(scene, rng)
        words = {"colour": COLOUR_NAMES[3] in text, "size": "large" in text, "position": "bottom right" in text}
        assert SHAPES[2] in text and stated[0]
        assert (words["colour"], words["size"], words["position"]) == stated[1:]
