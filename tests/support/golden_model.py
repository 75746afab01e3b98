"""The golden check (tests/golden/): fixed, stored weights of the tiny model and a
deterministic input, run through the whole evaluation path, so that a change in
torch, open_clip or our own code that moves the numbers fails a test.

Path: stored weights -> our training-checkpoint format -> `merge_checkpoint`
(experts averaged) -> `load_merged` -> test sampling (`eval_indices`, 2 clips) and
test views (`eval_views`, 3 crops, bicubic resize, CLIP normalisation) ->
image encoder -> collapsed MoTE head -> cosine scores, view fusion and logits
against the stored fine-tuning class embeddings.

Stored weights (`tests/golden/weights.safetensors`): every tensor of a tiny
VideoCLIP with 4 experts as 4-bit integers q in [-7, 7] times one float32 scale per
tensor, packed two per byte, so its 1.1 M parameters take about 0.55 MB. The
float32 values q * scale are exact, so they do not depend on any library: only the
computation does. `tests/golden/regenerate.py` rewrites the expected outputs, on
purpose only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
WEIGHTS = GOLDEN / "weights.safetensors"
EXPECTED = GOLDEN / "expected.json"
CLASS_NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]
LEVELS = 7  # q in [-LEVELS, LEVELS]
# The input: VIDEOS videos of FRAMES frames of HEIGHT x WIDTH, sampled as CLIPS x CROPS test views of T frames.
VIDEOS, FRAMES, HEIGHT, WIDTH, CLIPS, CROPS, T = 2, 12, 96, 128, 2, 3, 8
OUTPUTS = ("video_embeddings", "similarities", "probabilities", "logits")
RTOL, ATOL = 1e-4, 1e-5


def quantise_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Float tensors -> (packed uint8 nibbles, `<key>.scale` float32) and JSON metadata of the shapes."""
    tensors, shapes = {}, {}
    for key, value in state.items():
        value = value.detach().float().cpu()
        scale = value.abs().max().clamp_min(1e-12) / LEVELS
        q = torch.round(value / scale).clamp(-LEVELS, LEVELS).to(torch.int16).flatten() + 8  # 1..15
        if q.numel() % 2:
            q = torch.cat([q, q.new_full((1,), 8)])
        tensors[key] = (q[0::2] | (q[1::2] << 4)).to(torch.uint8).contiguous()
        tensors[f"{key}.scale"] = scale.reshape(1).float()
        shapes[key] = list(value.shape)
    return tensors, {"shapes": json.dumps(shapes)}


def read_state(path: Path = WEIGHTS) -> dict[str, torch.Tensor]:
    """The float32 tensors a packed weights file stands for."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        shapes = json.loads(fh.metadata()["shapes"])
        state = {}
        for key, shape in shapes.items():
            packed = fh.get_tensor(key).to(torch.int16)
            q = torch.stack([packed & 15, packed >> 4], dim=1).flatten()[: int(np.prod(shape, dtype=np.int64))] - 8
            state[key] = (q.float() * fh.get_tensor(f"{key}.scale")).reshape(shape)
    return state


def golden_frames() -> np.ndarray:
    """uint8 [VIDEOS, FRAMES, HEIGHT, WIDTH, 3] from integer arithmetic alone: a diagonal
    ramp per colour channel and a bright square moving right, one speed per video."""
    v, t, y, x, c = np.ogrid[:VIDEOS, :FRAMES, :HEIGHT, :WIDTH, :3]
    frames = (3 * x + 5 * y + 40 * c + 7 * t + 90 * v) % 256
    for video in range(VIDEOS):
        for frame in range(FRAMES):
            left = (4 + (3 + 2 * video) * frame) % (WIDTH - 24)
            frames[video, frame, 30:54, left : left + 24, :] = 250
    return frames.astype(np.uint8)


def golden_views() -> torch.Tensor:
    """The test views of every video: float [VIDEOS, CLIPS * CROPS, T, 3, 224, 224], clip-major."""
    from motecli.data.sampling import eval_indices
    from motecli.data.transforms import eval_views

    out = []
    for video in golden_frames():
        idx = eval_indices(FRAMES, num_frames=T, num_clips=CLIPS)  # [CLIPS, T]
        views = eval_views(video[idx.reshape(-1)], num_crops=CROPS)  # [CROPS, CLIPS*T, 3, S, S]
        # [CROPS, CLIPS*T, ...] -> [CLIPS, CROPS, T, ...] -> [CLIPS*CROPS, T, ...]
        out.append(views.unflatten(1, (CLIPS, T)).transpose(0, 1).flatten(0, 1))
    return torch.stack(out)


def merged_golden_model(tmp: Path, state: dict[str, torch.Tensor]) -> Path:
    """Our training checkpoint of the stored weights, merged by `mote merge`'s code."""
    from mote_builders import save_train_checkpoint
    from motecli.merge.merge import merge_checkpoint
    from motecli.model.clip import resolve_clip
    from motecli.model.video_clip import VideoModelConfig, build_video_clip

    spec = resolve_clip("mote-tiny", None)
    config = VideoModelConfig.for_clip(spec, layers=2, num_experts=4, num_frames=T)
    model = build_video_clip(spec, config)
    model_state = {k: v for k, v in state.items() if k != "class_embeddings"}
    model.load_state_dict(model_state)
    ckpt = save_train_checkpoint(tmp / "golden-train.pt", model, config, CLASS_NAMES, state["class_embeddings"])
    return merge_checkpoint(ckpt, out=tmp / "golden-merged.safetensors").out


@torch.no_grad()
def compute(tmp: Path, weights: Path = WEIGHTS) -> dict[str, np.ndarray]:
    """Every output of the golden path for the stored weights (float64 arrays)."""
    from motecli.checkpoints.merged import load_merged, read_merged_tensors
    from motecli.model.scoring import cosine_scores, fuse_views

    merged = merged_golden_model(tmp, read_state(weights))
    model, _ = load_merged(merged)
    text = read_merged_tensors(merged, prefixes=("class_embeddings",))["class_embeddings"]
    views = golden_views()
    b, v = views.shape[:2]
    _, emb = model.video_features(model.encode_frames(views.flatten(0, 1)))  # [B*V, T, ...] -> [B*V, D]
    sims = cosine_scores(emb, text).view(b, v, -1)  # [B*V, C] -> [B, V, C]
    out = dict(video_embeddings=emb, similarities=sims, probabilities=fuse_views(sims),
               logits=model.logits(emb, text).view(b, v, -1))
    return {k: out[k].double().numpy() for k in OUTPUTS}
