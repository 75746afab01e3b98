"""A video replaced in place (same path, same label) is encoded again: its size and
modification time are part of its key in the frame cache, so only that video is
encoded again (in a new shard) and every other row stays."""

import shutil

import numpy as np

from motecli.cache.encode import encode_frames
from motecli.cache.source import resolve_source


def _features(cache) -> np.ndarray:
    chunks = list(cache.iter_chunks())
    order = np.argsort(np.concatenate([c.indices for c in chunks]))
    return np.concatenate([c.features for c in chunks])[order]


def test_video_replaced_in_place_is_encoded_again(synth, merged, tmp_path):
    root = tmp_path / "videos"
    shutil.copytree(synth.root / "videos", root)
    source = resolve_source(list_file=synth.root / "lists" / "test1.txt", labels=synth.root / "lists" / "labels.csv",
                            root=root)
    n = len(source.videos)

    def encode():
        return encode_frames(source, checkpoint=merged, num_frames=4, clips=1, crops=1, out=tmp_path / "c",
                             shard_size=2, batch_size=1)

    assert encode().encoded_videos == n
    before = _features(encode().cache)
    assert not np.array_equal(before[0], before[n - 1])
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "c").glob("shard-*.h5")}

    shutil.copyfile(source.videos.path(n - 1), source.videos.path(0))  # video 0 now holds video n-1's frames
    again = encode()
    assert again.encoded_videos == 1  # video 0 (a new key), nothing else
    after = _features(again.cache)
    np.testing.assert_array_equal(after[0], before[n - 1])
    np.testing.assert_array_equal(after[1:], before[1:])
    shards = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "c").glob("shard-*.h5")}
    assert {name: shards[name] for name in stamps} == stamps  # every earlier shard untouched
    assert len(shards) == len(stamps) + 1  # the new row in a new shard
    assert encode().encoded_videos == 0


def test_cache_from_a_store_follows_the_store(synth, merged, tmp_path):
    """From a frame store, a shard is valid while the store still holds what it was encoded
    from: a stale store is refused, and once re-decoded the changed shard is encoded again."""
    import pytest

    from motecli.decode.runner import decode_to_store
    from motecli.decode.shard import StoreSettings
    from motecli.errors import MoteError

    root = tmp_path / "videos"
    shutil.copytree(synth.root / "videos", root)
    args = dict(list_file=synth.root / "lists" / "test1.txt", labels=synth.root / "lists" / "labels.csv", root=root)
    store = tmp_path / "store"
    source = resolve_source(**args, store=store)
    settings = StoreSettings(short_side=32, max_frames=8, format="raw", shard_size=4)
    decode_to_store(source.videos, store, settings=settings, progress=False)

    def encode():
        return encode_frames(source, checkpoint=merged, num_frames=4, clips=1, crops=1, out=tmp_path / "c",
                             shard_size=2, batch_size=1)

    assert encode().encoded_videos == len(source.videos)
    shutil.copyfile(source.videos.path(len(source.videos) - 1), source.videos.path(0))
    with pytest.raises(MoteError, match=f"{store}: frame store older than 1 of its videos"):
        encode()
    decode_to_store(source.videos, store, settings=settings, progress=False)
    assert encode().encoded_videos == 1  # the store re-decoded the changed video: only it has a new key
