"""bf16 autocast on the image encoder (what `--precision auto` picks on a bf16 GPU; CPU
autocast runs the same dtype here) gives the predictions of fp32 on the fixtures, apart
from exact ties of the random-init model. Run with -s to see the figures."""

import h5py
import numpy as np
import pytest
import torch

from motecli.cache.encode import encode_frames
from motecli.cache.frames import FrameCache
from motecli.cache.source import resolve_source
from motecli.checkpoints.merged import load_head, read_merged_metadata
from motecli.constants import TFM_K
from motecli.eval.runner import EvalSettings, class_text_embeddings
from motecli.eval.scoring import Modulation, view_similarities
from motecli.model.scoring import fuse_views
from motecli.text.labels import read_templates_file


# A video whose fp32 top-1 and top-2 fused probabilities are closer than this is a tie
# that any rounding may break (a different CPU, thread count or GPU does as well). The
# fixture's random-init model has many near-ties: its unscaled cosine scores differ by
# ~1e-3 between classes, so fused probabilities by ~1e-4 (printed by the test).
NEAR_TIE = 1e-4


def fused_probabilities(cache: FrameCache, merged, class_names) -> tuple[np.ndarray, np.ndarray]:
    """Zero-shot scoring of a cache with modulation (the release's protocol):
    (video indices [N], fused class probabilities [N, C])."""
    meta = read_merged_metadata(merged)
    head, _, finetune = load_head(merged, meta)
    settings = EvalSettings(checkpoint=merged, protocol="zero-shot", clips=3, crops=1, num_frames=8, modulation=True,
                            scales=(0.05,), k=TFM_K, templates=read_templates_file(None))
    text = class_text_embeddings(meta, class_names, settings)[0]
    indices, probs = [], []
    for chunk in cache.iter_chunks():
        sims = view_similarities(head, torch.from_numpy(chunk.features), test_text=text,
                                 modulation=Modulation(finetune.float(), TFM_K, (0.05,)))[0]
        indices.append(chunk.indices)
        probs.append(fuse_views(sims).numpy())  # [B, V, C] -> [B, C], as eval's Accumulator does
    return np.concatenate(indices), np.concatenate(probs)


@pytest.fixture(scope="module")
def caches(synth, merged, tmp_path_factory):
    """Every good video of the fixture (both subsets of split 1), encoded in fp32 and in bf16."""
    out = tmp_path_factory.mktemp("precision")
    lists = synth.root / "lists"
    (out / "all.txt").write_text((lists / "train1.txt").read_text() + (lists / "test1.txt").read_text())
    source = resolve_source(list_file=out / "all.txt", labels=lists / "labels.csv", root=synth.root / "videos")
    kw = dict(checkpoint=merged, num_frames=8, clips=3, crops=1, batch_size=4, device="cpu")
    fp32 = encode_frames(source, out=out / "fp32", precision="fp32", **kw)
    bf16 = encode_frames(source, out=out / "bf16", precision="bf16", **kw)
    return source, fp32, bf16


def test_bf16_cache_predicts_what_the_fp32_cache_predicts(caches, merged):
    source, fp32, bf16 = caches
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a = np.concatenate([c.features for c in fp32.cache.iter_chunks()]).astype(np.float32)
    b = np.concatenate([c.features for c in bf16.cache.iter_chunks()]).astype(np.float32)
    assert a.shape == b.shape and a.shape[0] == len(source.videos)
    diff = np.abs(a - b)
    scale = np.abs(a).max()
    print(f"\nbf16 vs fp32 frame features, {a.shape[0]} videos x {a.shape[1] * a.shape[2]} frames x {a.shape[3]}: "
          f"largest difference {diff.max():.4g} (largest |feature| {scale:.4g}), mean {diff.mean():.3g}")
    assert diff.max() > 0  # bf16 really ran: the numbers differ ...
    assert diff.max() < 0.05 * scale  # ... by rounding, not by a different computation
    i32, p32 = fused_probabilities(fp32.cache, merged, source.videos.class_names)
    i16, p16 = fused_probabilities(bf16.cache, merged, source.videos.class_names)
    assert (i16 == i32).all()
    top2 = np.sort(p32, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    same = p16.argmax(1) == p32.argmax(1)
    print(f"top-1 identical for {same.sum()} of {len(same)} videos; {(gap < NEAR_TIE).sum()} fp32 near-ties "
          f"(top-1/top-2 gap < {NEAR_TIE}); gaps of the changed ones: {gap[~same].tolist()}")
    assert (gap >= NEAR_TIE).mean() >= 0.75  # most videos are decided, so the comparison has teeth
    assert same[gap >= NEAR_TIE].all()  # every decided video keeps its prediction


def test_shards_record_how_they_were_computed(caches):
    _, fp32, bf16 = caches
    for result, name in ((fp32, "fp32"), (bf16, "bf16")):
        shards = sorted(result.cache.path.glob("shard-*.h5"))
        assert shards
        for shard in shards:
            with h5py.File(shard, "r") as f:
                assert f.attrs["precision"] == name and f.attrs["device"] == "cpu"
        assert set(result.timings) == {"wait_for_frames_s", "encoder_s", "write_s"}
