"""Caches must not lie: a frame store or frame-embedding cache written by another version of
the pixel pipeline (constants.PIXEL_VERSION) is recomputed, never silently reused."""

import h5py
import numpy as np
import pytest

import motecli.cache.encode as encode_module
import motecli.decode.runner as runner_module
from motecli.cache.encode import encode_frames
from motecli.cache.frames import FrameCache
from motecli.cache.source import resolve_source
from motecli.constants import PIXEL_VERSION
from motecli.data.registry import load_dataset_split
from motecli.data.store import FrameStore
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings
from motecli.errors import MoteError

OLD = PIXEL_VERSION - 1


def _features(cache: FrameCache) -> np.ndarray:
    return np.concatenate([c.features for c in cache.iter_chunks()])


def test_frame_cache_of_the_old_pixel_version_is_recomputed(synth, merged, tmp_path, monkeypatch):
    source = resolve_source(dataset="synth", split=1, config=synth.config)
    out = tmp_path / "c"
    with monkeypatch.context() as m:
        m.setattr(encode_module, "PIXEL_VERSION", OLD)
        old = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=out, shard_size=4)
    assert old.encoded_videos == len(source.videos) and old.cache.manifest["fingerprint"]["pixels"] == OLD
    # Make the old cache recognisable: had it been reused, these numbers would come back.
    for shard in out.glob("shard-*.h5"):
        with h5py.File(shard, "a") as f:
            f["features"][...] = 7.0
    new = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=out, shard_size=4)
    assert new.encoded_videos == len(source.videos) and new.cache.manifest["fingerprint"]["pixels"] == PIXEL_VERSION
    fresh = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=tmp_path / "fresh", shard_size=4)
    np.testing.assert_array_equal(_features(new.cache), _features(fresh.cache))
    assert encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=out,
                         shard_size=4).encoded_videos == 0  # the current version is reused


def test_frame_store_of_the_old_pixel_version_is_refused_then_redecoded(synth, tmp_path, monkeypatch):
    videos = load_dataset_split("synth", 1, "test", config_path=synth.config)
    settings = StoreSettings(format="raw", shard_size=4)
    store = tmp_path / "s"
    with monkeypatch.context() as m:
        m.setattr(runner_module, "PIXEL_VERSION", OLD)
        decode_to_store(videos, store, settings=settings, progress=False)
    with pytest.raises(MoteError, match=f"pixel pipeline {OLD}, this mote's is {PIXEL_VERSION}; run `mote decode`"):
        FrameStore(store)
    with pytest.raises(MoteError, match=f"pixel pipeline {OLD}"):  # nor can a frame cache be built on it
        resolve_source(dataset="synth", split=1, config=synth.config, store=store).frames_fingerprint()
    again = decode_to_store(videos, store, settings=settings, progress=False)
    assert again.decoded_now == len(videos)  # every shard decoded again, none kept
    fresh = decode_to_store(videos, tmp_path / "fresh", settings=settings, progress=False)
    a, b = FrameStore(store), FrameStore(tmp_path / "fresh")
    for i in range(len(videos)):
        np.testing.assert_array_equal(a.read(i, np.arange)[0], b.read(i, np.arange)[0])
    assert decode_to_store(videos, store, settings=settings, progress=False).decoded_now == 0
    assert fresh.decoded_now == len(videos)
