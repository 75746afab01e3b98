import pytest
import torch
from safetensors.torch import save_file

from motecli.errors import MoteError
from motecli.model.clip import build_clip, resolve_clip


def quick_gelu_in_use(model) -> bool:
    return type(model.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"


def test_openai_tag_resolves_to_quick_gelu_even_for_the_plain_name():
    assert resolve_clip("ViT-B-16", "openai").quick_gelu
    assert resolve_clip("ViT-L-14", "openai").quick_gelu
    assert not resolve_clip("ViT-B-16", "laion2b_s34b_b88k").quick_gelu
    with pytest.raises(MoteError, match="contradicts"):
        resolve_clip("ViT-B-16", "openai", quick_gelu=False)


@pytest.mark.parametrize("fmt", ["pt", "pt-module-prefix", "safetensors"])
def test_local_file_loads_the_same_weights_with_quick_gelu(tmp_path, fmt):
    original = build_clip(resolve_clip("mote-tiny", None))
    state = {k: v.clone().contiguous() for k, v in original.state_dict().items()}
    if fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file(state, str(path))
    else:
        path = tmp_path / "w.pt"
        if fmt == "pt-module-prefix":
            state = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
        torch.save(state, path)
    spec = resolve_clip("ViT-B-16", str(path))  # a local file defaults to QuickGELU ...
    assert spec.quick_gelu and spec.weights_id.startswith("sha256:")
    loaded = build_clip(resolve_clip("mote-tiny", str(path)))
    assert quick_gelu_in_use(loaded)
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), original.encode_image(images))
    # ... and --gelu builds the plain-GELU network from the same file.
    assert not quick_gelu_in_use(build_clip(resolve_clip("mote-tiny", str(path), quick_gelu=False)))


def test_weights_for_another_model_are_rejected(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"visual.conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(MoteError, match="not CLIP weights|shape"):
        build_clip(resolve_clip("mote-tiny", str(path)))


def test_offline_tag_says_how_to_pass_a_local_file():
    with pytest.raises(MoteError, match="--pretrained /path/to"):
        build_clip(resolve_clip("ViT-B-16", "openai"))


def test_unreachable_hub_fails_fast_with_the_way_out(monkeypatch):
    from motecli.model import clip as clip_module

    monkeypatch.delenv("MOTE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(clip_module, "_reachable", lambda host: False)

    def no_download(*a, **k):
        raise AssertionError("must not try to download when the host cannot be reached")

    monkeypatch.setattr("open_clip.create_model", no_download)
    with pytest.raises(MoteError, match="huggingface.co cannot be reached.*--pretrained /path/to/ViT-B-16.pt"):
        build_clip(resolve_clip("ViT-B-16", "openai"))


def test_extra_image_encoder_keys_are_rejected(tmp_path):
    state = dict(build_clip(resolve_clip("mote-tiny", None)).state_dict())
    state["visual.transformer.resblocks.9.attn.in_proj_weight"] = torch.zeros(3)  # a block the model lacks
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(MoteError, match="unexpected visual.transformer.resblocks.9"):
        build_clip(resolve_clip("mote-tiny", str(path)))
