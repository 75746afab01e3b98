"""Builders shared by tests/merge, tests/cache and tests/eval: tiny checkpoints in
our training format and in the authors' release format (method section 8)."""

from __future__ import annotations

from pathlib import Path

import torch

from motecli.model.clip import resolve_clip
from motecli.model.video_clip import VideoCLIP, VideoModelConfig, build_video_clip

LAYERS = 2
EXPERTS = 4


def tiny_model(seed: int = 0, *, visual_noise: float = 0.0) -> tuple[VideoCLIP, VideoModelConfig]:
    """Tiny CLIP + a MoTE head whose experts differ clearly (bigger than init scale);
    `visual_noise` > 0 also moves the image encoder away from its (seeded) random init,
    as fine-tuning would."""
    spec = resolve_clip("mote-tiny", None)
    config = VideoModelConfig.for_clip(spec, layers=LAYERS, num_experts=EXPERTS)
    model = build_video_clip(spec, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.head.named_parameters():
            if ".mlp." in name or "position" in name:
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
        model.logit_scale.fill_(3.0)
        for p in model.visual.parameters() if visual_noise else ():
            p.add_(visual_noise * p.abs().mean() * torch.randn(p.shape, generator=gen))
    return model.eval(), config


def tiny_text(class_names: list[str]) -> torch.Tensor:
    from motecli.text.encode import cached_text_embeddings
    from motecli.text.labels import read_templates_file

    res = cached_text_embeddings(model="mote-tiny", pretrained=None, class_names=class_names,
                                 templates=read_templates_file(None))
    return torch.from_numpy(res.embeddings.embeddings).float()


def save_train_checkpoint(path: Path, model: VideoCLIP, config: VideoModelConfig, class_names: list[str],
                          class_embeddings: torch.Tensor) -> Path:
    spec = resolve_clip("mote-tiny", None)
    torch.save(dict(
        format="mote-train", format_version=1, model_config=config.to_dict(),
        clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu, weights_id=spec.weights_id),
        model=model.state_dict(), optimizer={}, scheduler={}, scaler={}, epoch=3, step=30, rng={},
        recipe=dict(name="test"), class_names=list(class_names), class_embeddings=class_embeddings.float(),
        best_top1=0.5,
    ), path)
    return path


def save_release_checkpoint(path: Path, model: VideoCLIP, class_embeddings: torch.Tensor) -> Path:
    """The authors' layout: OpenAI key names, DDP `module.` prefixes, head in a second dict."""
    state = model.state_dict()
    clip_state = {f"module.{k}": v for k, v in state.items() if k.startswith("visual.") or k == "logit_scale"}
    clip_state["module.token_embedding.weight"] = torch.zeros(3, 4)  # text-encoder keys are ignored
    fusion = {f"module.{k[len('head.'):]}": v for k, v in state.items() if k.startswith("head.")}
    fusion["module.spe_cls_feature"] = class_embeddings.float()
    torch.save(dict(epoch=29, model_state_dict=clip_state, fusion_model_state_dict=fusion,
                    optimizer_state_dict={"state": {}}), path)
    return path


SUBPROCESS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def mote_env(cache: Path, datasets: Path | None = None) -> dict:
    """Environment for `python -m motecli` subprocesses of a test."""
    import os

    env = dict(os.environ, **SUBPROCESS_ENV, MOTE_CACHE=str(cache))
    if datasets is not None:
        env["MOTE_DATASETS"] = str(datasets)
    return env


def small_synth(out: Path):
    """Eight classes x three videos (one test video per class per split) plus the bad files."""
    from motecli.data.synth import make_synthetic_dataset

    return make_synthetic_dataset(out, videos_per_class=3, frames_range=(10, 16), height=48, width=64,
                                  seed=0, bad_files=True)


def merged_for(tmp: Path, class_names: list[str], *, seed: int = 0, name: str = "merged",
               visual_noise: float = 0.0) -> Path:
    """A merged tiny model (our training format -> `merge_checkpoint`)."""
    from motecli.merge.merge import merge_checkpoint

    model, config = tiny_model(seed, visual_noise=visual_noise)
    ckpt = save_train_checkpoint(tmp / f"{name}-train.pt", model, config, class_names, tiny_text(class_names))
    return merge_checkpoint(ckpt, out=tmp / f"{name}.safetensors").out
