import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from motecli.constants import PROMPT_TEMPLATES
from motecli.errors import MoteError
from motecli.model import clip as clip_module
from motecli.model.clip import build_clip, resolve_clip
from motecli.text.cache import read_text_cache
from motecli.text.encode import cached_text_embeddings

TEMPLATES = list(PROMPT_TEMPLATES[:3])


def encode(**overrides):
    args = dict(model="mote-tiny", pretrained=None, class_names=["a", "b"], templates=TEMPLATES)
    args.update(overrides)
    return cached_text_embeddings(**args)


def test_second_call_is_a_hit_that_builds_no_model(monkeypatch):
    first = encode()
    assert not first.hit and first.path.exists()

    def no_model(*a, **k):
        raise AssertionError("a cache hit must not build a model")

    monkeypatch.setattr(clip_module, "build_clip", no_model)
    second = encode()
    assert second.hit and second.path == first.path
    np.testing.assert_array_equal(second.embeddings.embeddings, first.embeddings.embeddings)


@pytest.mark.parametrize(
    "change",
    [dict(class_names=["a", "c"]), dict(class_names=["b", "a"]), dict(templates=TEMPLATES[:2]), dict(quick_gelu=False)],
)
def test_any_changed_input_is_a_miss(change):
    base = encode()
    other = encode(**change)
    assert not other.hit and other.path != base.path


def test_changed_local_weights_file_is_a_miss(tmp_path):
    spec = resolve_clip("mote-tiny", None)
    model = build_clip(spec)
    weights = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), weights)
    first = encode(pretrained=str(weights))
    assert encode(pretrained=str(weights)).hit
    # Same-size file, different numbers: the cache must notice.
    state = model.state_dict()
    state["text_projection"] = state["text_projection"] * 2
    torch.save(state, weights)
    os.utime(weights, ns=(1, 1))
    changed = encode(pretrained=str(weights))
    assert not changed.hit and changed.path != first.path


def test_out_path_holding_another_request_is_recomputed(tmp_path):
    out = tmp_path / "text.h5"
    encode(out=out)
    again = encode(out=out, class_names=["x", "y", "z"])
    assert not again.hit and read_text_cache(out).class_names == ["x", "y", "z"]


def test_writer_killed_mid_write_leaves_no_complete_looking_file(tmp_path):
    out = tmp_path / "killed.h5"
    script = textwrap.dedent(
        f"""
        import os, signal, h5py
        from motecli.text import cache
        real = h5py.File
        class Dying(real):
            def create_dataset(self, name, *a, **k):
                result = super().create_dataset(name, *a, **k)
                if name == "classes":
                    self.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                return result
        cache.h5py = None
        import h5py as h
        h.File = Dying
        from motecli.text.encode import cached_text_embeddings
        cached_text_embeddings(model="mote-tiny", pretrained=None, class_names=["a", "b"], templates={TEMPLATES!r}, out={str(out)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9
    assert not out.exists()  # only the temporary sibling was ever written
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".killed.h5.tmp")]
    assert leftovers, "the kill should have left a temporary file behind"
    result = encode(out=out)
    assert not result.hit and read_text_cache(out).class_names == ["a", "b"]
    assert not any(p.exists() for p in leftovers)  # the killed writer's temporary is removed by the next write


def test_corrupt_and_newer_schema_files_are_errors(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(MoteError, match="corrupt"):
        encode(out=bad)
    newer = tmp_path / "newer.h5"
    encode(out=newer)
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(MoteError, match="newer"):
        encode(out=newer)


@pytest.mark.parametrize("what", ["embeddings", "classes"])
def test_a_flipped_byte_is_an_error_not_a_hit(tmp_path, what):
    out = tmp_path / "text.h5"
    names = ["alpha-zebra", "beta-yak"]
    first = encode(out=out, class_names=names)
    data = bytearray(out.read_bytes())
    if what == "embeddings":
        with h5py.File(out, "r") as f:
            offset = f["embeddings"].id.get_offset() + 5  # inside the first float
    else:
        assert data.count(b"beta-yak") == 1  # the class name's bytes in the file's heap
        offset = data.index(b"beta-yak") + 5
    data[offset] ^= 0x01
    out.write_bytes(bytes(data))
    with pytest.raises(MoteError, match="text cache damaged"):
        encode(out=out, class_names=names)
    out.unlink()
    again = encode(out=out, class_names=names)
    assert not again.hit and np.array_equal(again.embeddings.embeddings, first.embeddings.embeddings)
