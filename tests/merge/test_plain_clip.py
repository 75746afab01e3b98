"""Plain CLIP as a merged model: the pass-through head gives CLIP's mean-pooled video embedding."""

import torch
import torch.nn.functional as F

from motecli.checkpoints.merged import load_head, load_merged, read_merged_metadata
from motecli.merge.plain_clip import write_plain_clip
from motecli.model.clip import build_clip, resolve_clip


def test_plain_clip_is_mean_pooling_with_and_without_modulation(tmp_path):
    names = ["a", "b", "c"]
    text = F.normalize(torch.randn(3, 64), dim=-1)
    report = write_plain_clip(model="mote-tiny", pretrained=None, out=tmp_path / "clip.safetensors", num_frames=8,
                              class_names=names, class_embeddings=text)
    meta = read_merged_metadata(report.out)
    assert meta["class_names"] == names and meta["source"]["pooling"] == "mean"
    head, _, stored = load_head(report.out)
    torch.testing.assert_close(stored, text)
    x = torch.randn(5, 8, 64)
    expected = F.normalize(x.mean(dim=1), dim=-1)  # independent: CLIP's frame average
    for alpha in (1.0, torch.tensor([0.0, 0.2, 0.5, 1.0, 0.9])):
        z = head(x, alpha=alpha)
        torch.testing.assert_close(F.normalize(z.mean(dim=1), dim=-1), expected, atol=1e-6, rtol=1e-6)
    # The image encoder is the CLIP's own.
    model, _ = load_merged(report.out)
    clip = build_clip(resolve_clip("mote-tiny", None))
    frames = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.visual(frames), clip.visual(frames))
