"""Image-to-text retrieval on the captioned world: do the words mean something?

Images of colour-shape combinations that pretraining never showed
(`held_out_combos`), each scored against candidate captions; top-1 is the share
whose best caption describes the image. Two candidate sets:
  * colour-shape: "a red circle" for all 36 pairs (chance 1/36);
  * full: "a small red circle on the left" for every size, colour, shape and
    place (chance 1/648).
And one word at a time (`attribute_top1`): among captions that differ only in
that word, the others true of the image (shape and colour: 1/6, size: 1/2,
place: 1/9). The same numbers on seen combinations show what composing costs.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from ..data.world import COLOUR_NAMES, POSITIONS, SHAPES, SIZE_NAMES, Scene, sample_scenes
from .pairs import render_batch
from .text import encode_text

CHUNK = 128  # images or captions per forward
# Which words each candidate set states: (size, position).
SETS = {"colour_shape": (False, False), "full": (True, True), "size": (True, False), "position": (False, True)}
CHANCE = {"shape": 1 / len(SHAPES), "colour": 1 / len(COLOUR_NAMES), "size": 1 / len(SIZE_NAMES),
          "position": 1 / len(POSITIONS)}


def _candidates(size: bool, position: bool) -> list[Scene]:
    ranges = (range(len(SHAPES)), range(len(COLOUR_NAMES)), range(len(SIZE_NAMES)) if size else [0],
              range(len(POSITIONS)) if position else [0])
    return [Scene(*v) for v in itertools.product(*ranges)]


@torch.no_grad()
def _encode(model, tokenizer, scenes: list[Scene], captions: list[str], *, size: int,
            rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit image [N, D] and caption [C, D] features; images drawn a chunk at a time (memory)."""
    img = torch.cat([model.encode_image(render_batch(scenes[i : i + CHUNK], size=size, rng=rng))
                     for i in range(0, len(scenes), CHUNK)])
    txt = torch.cat([encode_text(model, tokenizer(captions[i : i + CHUNK])) for i in range(0, len(captions), CHUNK)])
    return F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)


def _best(sims: torch.Tensor, candidates: list[Scene], allowed) -> list[Scene]:
    """Per image, the best candidate among those `allowed(image_index, candidate)`."""
    out = []
    for i in range(sims.shape[0]):
        mask = torch.tensor([allowed(i, c) for c in candidates])
        out.append(candidates[int(sims[i].masked_fill(~mask, -2).argmax())])
    return out


def retrieval_top1(model, tokenizer, *, count: int, size: int, seed: int, held_out: bool = True) -> dict:
    """Top-1 of image-to-text retrieval: both candidate sets and one word at a time, with chance levels."""
    rng = np.random.default_rng([seed, 7919])  # a stream apart from the training images'
    scenes = sample_scenes(count, rng, held_out=held_out)
    was_training = model.training
    model.eval()
    candidates = {name: _candidates(*flags) for name, flags in SETS.items()}
    captions = [c.caption(size=SETS[name][0], position=SETS[name][1]) for name, cs in candidates.items() for c in cs]
    img, txt = _encode(model, tokenizer, scenes, captions, size=size, rng=rng)
    sims, start = {}, 0
    for name, cs in candidates.items():
        sims[name], start = img @ txt[start : start + len(cs)].T, start + len(cs)  # [N, candidates]
    out = dict(images=count, held_out=held_out)
    for name, key in (("colour_shape", lambda s: (s.shape, s.colour)), ("full", Scene.values)):
        best = _best(sims[name], candidates[name], lambda i, c: True)
        out[name] = dict(top1=float(np.mean([key(b) == key(s) for b, s in zip(best, scenes)])),
                         chance=1 / len(candidates[name]), candidates=len(candidates[name]))
    one_word = {  # attribute -> (candidate set, which candidates keep the other words true)
        "shape": ("colour_shape", lambda i, c: c.colour == scenes[i].colour),
        "colour": ("colour_shape", lambda i, c: c.shape == scenes[i].shape),
        "size": ("size", lambda i, c: (c.shape, c.colour) == (scenes[i].shape, scenes[i].colour)),
        "position": ("position", lambda i, c: (c.shape, c.colour) == (scenes[i].shape, scenes[i].colour)),
    }
    out["attribute_top1"] = {}
    for attr, (name, allowed) in one_word.items():
        best = _best(sims[name], candidates[name], allowed)
        index = ("shape", "colour", "size", "position").index(attr)
        out["attribute_top1"][attr] = float(np.mean([b.values()[index] == s.values()[index] for b, s in zip(best, scenes)]))
    out["attribute_chance"] = dict(CHANCE)
    model.train(was_training)
    return out
