"""The captioned world: captions say what the pixels show, held-out pairs stay out, seeds fix everything."""

import numpy as np
import pytest

from motecli.data.world import (
    CELL_CENTRES,
    COLOUR_JITTER,
    COLOUR_NAMES,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZE_NAMES,
    SIZES,
    Scene,
    held_out_combos,
    render_scene,
    sample_scenes,
    shape_mask,
)


def _foreground(frame: np.ndarray) -> np.ndarray:
    background = frame[0, 0].astype(int)
    return np.abs(frame.astype(int) - background).sum(-1) > 0


def test_a_scene_shows_its_caption():
    rng = np.random.default_rng(0)
    for shape in range(len(SHAPES)):
        for position in range(len(POSITIONS)):
            scene = Scene(shape, (shape + position) % len(COLOUR_NAMES), position % 2, position)
            frame = render_scene(scene, height=112, width=112, rng=rng)
            fg = _foreground(frame)
            # Colour: every shape pixel within the jitter of the named colour.
            colour = np.array(COLOURS[COLOUR_NAMES[scene.colour]])
            assert np.abs(frame[fg].astype(int) - colour).max() <= COLOUR_JITTER
            # Place: the shape's centre of mass is nearest to its place's centre, both ways.
            ys, xs = np.nonzero(fg)
            nearest = lambda v: int(np.argmin(np.abs(np.array(CELL_CENTRES) * 112 - v)))
            assert (nearest(ys.mean()), nearest(xs.mean())) == divmod(position, 3), scene.caption()


def test_sizes_and_shapes_differ():
    dy, dx = np.mgrid[-40:41, -40:41].astype(np.float32)
    masks = {s: shape_mask(s, dy, dx, 30.0) for s in SHAPES}
    for a in SHAPES:
        for b in SHAPES:
            if a < b:
                assert (masks[a] != masks[b]).sum() > 100, (a, b)
    small, large = (shape_mask("circle", dy, dx, SIZES[s] * 112).sum() for s in SIZE_NAMES)
    assert large > 2 * small


def test_captions_state_what_they_are_asked_to():
    scene = Scene(SHAPES.index("triangle"), COLOUR_NAMES.index("red"), SIZE_NAMES.index("small"), 3)
    assert scene.caption() == "a small red triangle on the left"
    assert scene.caption(colour=False, size=False, position=False) == "a triangle"
    assert scene.caption(size=False) == "a red triangle on the left"


def test_held_out_pairs_cover_every_word_once_and_never_appear_in_training_scenes():
    pairs = held_out_combos()
    assert sorted(s for s, _ in pairs) == list(range(len(SHAPES)))
    assert sorted(c for _, c in pairs) == list(range(len(COLOUR_NAMES)))
    rng = np.random.default_rng(1)
    seen = {(s.shape, s.colour) for s in sample_scenes(3000, rng, held_out=False)}
    assert not seen & pairs
    assert len(seen) == len(SHAPES) * len(COLOUR_NAMES) - len(pairs)
    assert {(s.shape, s.colour) for s in sample_scenes(300, rng, held_out=True)} == pairs


def test_seeded():
    draw = lambda seed: [render_scene(s, height=64, width=64, rng=rng)
                         for rng in [np.random.default_rng(seed)] for s in sample_scenes(5, rng, held_out=False)]
    a, b, c = draw(3), draw(3), draw(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_unknown_shape_is_an_error():
    with pytest.raises(ValueError, match="hexagon"):
        shape_mask("hexagon", np.zeros(1), np.zeros(1), 1.0)
