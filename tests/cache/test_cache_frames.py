"""The frame-embedding cache: resume after SIGKILL, stale fingerprints, schema, failures, ranks."""

import json
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mote_builders import mote_env
from motecli.cache.encode import encode_frames, owner_rank
from motecli.cache.frames import MANIFEST, CachedSplit, FrameCache
from motecli.cache.source import resolve_source
from motecli.errors import MoteError


def all_features(cache: CachedSplit) -> tuple[np.ndarray, np.ndarray]:
    chunks = list(cache.iter_chunks())
    return np.concatenate([c.features for c in chunks]), np.concatenate([c.indices for c in chunks])


def split_of(path, source) -> CachedSplit:
    return CachedSplit(FrameCache(path), keys=source.video_keys(), items=source.videos.items)


def encode_cmd(synth, merged, out, subset="train"):
    return [sys.executable, "-m", "motecli", "encode-frames", "--dataset", "synth", "--split", "1", "--subset", subset,
            "-c", str(merged), "--out", str(out), "--shard-size", "1", "--batch-size", "1"]


def test_sigkill_then_rerun_completes_without_recomputing(synth, merged, tmp_path):
    env = mote_env(tmp_path / "cache", synth.config)
    train = resolve_source(dataset="synth", split=1, subset="train", config=synth.config)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(encode_cmd(synth, merged, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not list(killed.glob("shard-*.h5")) and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    missing = split_of(killed, train).missing()
    assert 0 < len(missing) < len(train.videos)  # killed mid-run: some videos done, some not
    # A torn file under a shard name is removed and never trusted.
    torn = killed / "shard-0123456789abcdef.h5"
    torn.write_bytes(b"\x89HDF\r\n torn")
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in killed.glob("shard-*.h5") if p != torn}

    subprocess.run(encode_cmd(synth, merged, killed), env=env, check=True, capture_output=True, timeout=300)
    resumed = split_of(killed, train)
    assert resumed.missing() == [] and not torn.exists()
    for name, stamp in finished.items():  # finished shards untouched
        path = killed / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp

    clean = tmp_path / "clean"
    subprocess.run(encode_cmd(synth, merged, clean), env=env, check=True, capture_output=True, timeout=300)
    a, ia = all_features(resumed)
    b, ib = all_features(split_of(clean, train))
    assert a.dtype == np.float16 and a.shape[0] == len(synth.items(1, "train"))
    np.testing.assert_array_equal(ia, np.arange(len(train.videos)))  # list order
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(a, b)


def test_stale_fingerprint_recomputes(synth, merged, tmp_path):
    source = resolve_source(list_file=synth.root / "lists" / "test1.txt", labels=synth.root / "lists" / "labels.csv",
                            root=synth.root / "videos")
    out = tmp_path / "c"
    first = encode_frames(source, checkpoint=merged, num_frames=8, clips=2, crops=1, out=out, shard_size=4)
    assert first.encoded_videos == len(source.videos)
    again = encode_frames(source, checkpoint=merged, num_frames=8, clips=2, crops=1, out=out, shard_size=4)
    assert again.encoded_videos == 0  # same fingerprint: reused
    # Another frame count and other views change the numbers: the same folder is recomputed.
    third = encode_frames(source, checkpoint=merged, num_frames=4, clips=1, crops=3, out=out, shard_size=4)
    assert third.encoded_videos == len(source.videos)
    feats, _ = all_features(third.cache)
    assert feats.shape[1:3] == (3, 4)
    fresh = encode_frames(source, checkpoint=merged, num_frames=4, clips=1, crops=3, out=tmp_path / "fresh", shard_size=4)
    np.testing.assert_array_equal(feats, all_features(fresh.cache)[0])


def test_patched_encoder_mixes_the_weights(synth, tmp_path):
    """--patch-alpha 0.5 --original none: features of 0.5 * fine-tuned + 0.5 * original
    image-encoder weights, mixed here by hand, in a cache of their own."""
    import torch
    from torch.utils.data import DataLoader

    from mote_builders import merged_for
    from motecli.checkpoints.merged import load_merged
    from motecli.data.dataset import ClipDataset, collate_clips
    from motecli.model.clip import build_clip, resolve_clip

    merged = merged_for(tmp_path, synth.class_names, visual_noise=0.5)  # fine-tuned: not the random init
    source = resolve_source(dataset="synth", split=2, config=synth.config)
    plain = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1)
    patched = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, patch_alpha=0.5, original="none")
    assert plain.cache.path != patched.cache.path and patched.encoded_videos == len(source.videos)

    finetuned = load_merged(merged)[0].visual.state_dict()
    visual = build_clip(resolve_clip("mote-tiny", "none"), need_text=False).visual.eval()
    original = visual.state_dict()
    visual.load_state_dict({k: 0.5 * finetuned[k] + 0.5 * original[k] for k in original})
    loader = DataLoader(ClipDataset(source.videos, mode="test", num_frames=8), batch_size=4, collate_fn=collate_clips)
    with torch.no_grad():
        expected = torch.cat([visual(b["frames"].flatten(0, 2)).view(len(b["labels"]), 1, 8, -1) for b in loader])
    got, indices = all_features(patched.cache)
    assert indices.tolist() == list(range(len(source.videos)))
    np.testing.assert_allclose(got.astype(np.float32), expected.numpy(), rtol=1e-2, atol=2e-3)
    unpatched = all_features(plain.cache)[0].astype(np.float32)
    assert np.abs(unpatched - expected.numpy()).max() > 0.05  # the mix is far from the fine-tuned weights alone


def test_newer_schema_and_unfinished_rows_are_refused(synth, merged, tmp_path):
    source = resolve_source(dataset="synth", split=3, config=synth.config)
    out = tmp_path / "c"
    cache = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=out, shard_size=4).cache
    before = all_features(cache)[0]
    first = sorted(out.glob("shard-*.h5"))[0]
    with h5py.File(first, "a") as f:  # a row whose done flag never got written
        f["done"][1] = 0
        lost = {v.decode() for v in f["videos"][:]}
    missing = split_of(out, source).missing()
    assert {source.video_keys()[i] for i in missing} == lost and len(missing) == 4
    again = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, out=out, shard_size=4)
    assert again.encoded_videos == 4 and again.complete  # only the damaged shard's videos
    np.testing.assert_array_equal(all_features(again.cache)[0], before)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["schema_version"] = 99
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(MoteError, match="schema_version 99"):
        FrameCache(out)


def test_undecodable_videos_are_recorded_and_excluded(synth, merged):
    source = resolve_source(dataset="synth_bad", split=1, config=synth.config)
    result = encode_frames(source, checkpoint=merged, num_frames=8, clips=1, crops=1, shard_size=3)
    failures = result.cache.failures()
    assert result.failed_videos == len(failures) == 4  # zero-byte, truncated, not a video, missing
    assert all(reason for _, _, reason in failures)
    _, indices = all_features(result.cache)
    assert sorted(indices.tolist() + [i for i, _, _ in failures]) == list(range(len(source.videos)))


def test_two_ranks_fill_one_cache(synth, merged, tmp_path):
    source = resolve_source(dataset="synth", split=1, config=synth.config)
    kw = dict(checkpoint=merged, num_frames=8, clips=1, crops=1, shard_size=3)
    r0 = encode_frames(source, out=tmp_path / "ranks", rank=0, world=2, **kw)
    assert not r0.complete
    r1 = encode_frames(source, out=tmp_path / "ranks", rank=1, world=2, **kw)
    assert r1.complete and r0.encoded_videos + r1.encoded_videos == len(source.videos)
    single = encode_frames(source, out=tmp_path / "single", **kw)
    np.testing.assert_array_equal(all_features(r1.cache)[0], all_features(single.cache)[0])


def test_rank_and_world_size_come_from_the_environment(synth, merged, tmp_path, monkeypatch):
    """Under torchrun (or srun) each process encodes the videos whose key hashes to RANK."""
    for name in ("LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    source = resolve_source(dataset="synth", split=1, config=synth.config)
    kw = dict(checkpoint=merged, num_frames=8, clips=1, crops=1, shard_size=3, out=tmp_path / "ranks")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    second = encode_frames(source, **kw)
    owners = [owner_rank(key, 2) for key in source.video_keys()]
    assert 0 < owners.count(1) < len(owners)  # both ranks have videos here
    assert not second.complete and second.cache.missing() == [i for i, r in enumerate(owners) if r == 0]
    monkeypatch.setenv("RANK", "0")
    first = encode_frames(source, **kw)
    assert first.complete and (first.encoded_videos, second.encoded_videos) == (owners.count(0), owners.count(1))


def test_a_bad_rank_is_one_line(synth, merged, monkeypatch):
    from cli_asserts import assert_one_line_error
    from typer.testing import CliRunner

    import motecli.cli  # noqa: F401
    from motecli.cli_app import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "first")
    result = CliRunner().invoke(app, ["encode-frames", "--dataset", "synth", "--datasets-config", str(synth.config),
                                      "-c", str(merged)])
    assert_one_line_error(result, "RANK='first': expected an integer")
