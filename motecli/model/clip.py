"""Building CLIP encoders through open_clip, with the right activation and weights.

OpenAI weights need QuickGELU (method section 1). The activation is resolved
once, in `resolve_clip`, for every way weights can arrive:
  * open_clip tag: the tag's own pretrained config says (`openai` -> QuickGELU);
  * `*-quickgelu` model names: QuickGELU;
  * a local file: QuickGELU by default, since the method fine-tunes OpenAI
    weights and OpenAI's files cannot be told apart from LAION's by their keys;
    `quick_gelu=False` loads GELU weights (e.g. LAION) from a file;
  * random init (`mote-tiny` and tests): the model config's own setting.
`weights_id` names the weights without loading them, so caches can be checked
before any model is built.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ..env import hub_endpoint, offline
from ..errors import MoteError
from .identity import RANDOM_INIT_SEED, TINY_MODEL, looks_like_path, normalise_pretrained, weights_identity

log = logging.getLogger("mote")

_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "model_configs"
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size")


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides the CLIP weights and activation."""

    model: str
    pretrained: str | None
    quick_gelu: bool
    weights_id: str
    embed_dim: int
    text_width: int
    image_size: int

    @property
    def local_file(self) -> Path | None:
        return Path(self.pretrained) if self.pretrained and looks_like_path(self.pretrained) else None


def _open_clip():
    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        open_clip.add_model_config(_ASSETS)
    return open_clip


def resolve_clip(model: str, pretrained: str | None, *, quick_gelu: bool | None = None) -> ClipSpec:
    """Validate the model name and weights source, decide the activation, name the weights."""
    open_clip = _open_clip()
    if model not in open_clip.list_models():
        close = [m for m in open_clip.list_models() if model.lower().split("-")[0] in m.lower()][:6]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise MoteError(f"unknown model '{model}': expected an open_clip model name or '{TINY_MODEL}'{hint}")
    cfg = open_clip.get_model_config(model)
    # The tiny model stands in for OpenAI's CLIP, so it shares its activation.
    name_quick = bool(cfg.get("quick_gelu", False)) or model == TINY_MODEL
    pretrained = normalise_pretrained(model, pretrained)
    weights_id = weights_identity(model, pretrained)
    if pretrained is None:
        resolved_quick = name_quick if quick_gelu is None else quick_gelu
    elif looks_like_path(pretrained):
        resolved_quick = True if quick_gelu is None else quick_gelu
    else:
        tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in tags:
            raise MoteError(
                f"unknown pretrained tag '{pretrained}' for {model}: expected one of {', '.join(tags) or '(none)'}"
                " or a path to a local weights file"
            )
        pcfg = open_clip.get_pretrained_cfg(model, pretrained)
        tag_quick = bool(pcfg.get("quick_gelu", False)) or name_quick
        if quick_gelu is not None and quick_gelu != tag_quick:
            raise MoteError(f"--{'quick-gelu' if quick_gelu else 'gelu'} contradicts the '{pretrained}' weights of {model}")
        resolved_quick = tag_quick

    return ClipSpec(
        model=model,
        pretrained=pretrained,
        quick_gelu=resolved_quick,
        weights_id=weights_id,
        embed_dim=int(cfg["embed_dim"]),
        text_width=int(cfg["text_cfg"]["width"]),
        image_size=int(cfg["vision_cfg"]["image_size"]),
    )


@contextmanager
def _quiet_root_logger():
    """open_clip warns on the root logger that a model without a tag is random;
    here that is deliberate (weights follow from a file, or the tiny model)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


def build_clip(spec: ClipSpec, *, device: str | torch.device = "cpu", need_text: bool = True) -> torch.nn.Module:
    """An open_clip CLIP model holding the weights `spec` names, in eval mode."""
    open_clip = _open_clip()
    kwargs = dict(force_quick_gelu=spec.quick_gelu)
    if spec.pretrained is None:
        with torch.random.fork_rng(devices=[]), _quiet_root_logger():
            torch.manual_seed(RANDOM_INIT_SEED)
            model = open_clip.create_model(spec.model, pretrained=None, **kwargs)
    elif spec.local_file is not None:
        with _quiet_root_logger():
            model = open_clip.create_model(spec.model, pretrained=None, **kwargs)
        load_clip_weights(model, spec.local_file, need_text=need_text)
    else:
        model = _create_from_tag(open_clip, spec, kwargs)
    return model.to(device).eval()


def _create_from_tag(open_clip, spec: ClipSpec, kwargs: dict) -> torch.nn.Module:
    how = (
        f"pass a local weights file instead: --pretrained /path/to/{spec.model}.pt (model.pretrained in a recipe; "
        "an OpenAI CLIP .pt, an open_clip .bin/.safetensors, or a state dict)"
    )
    what = f"weights '{spec.pretrained}' for {spec.model}"
    source = open_clip.get_pretrained_cfg(spec.model, spec.pretrained)
    if not _tag_is_cached(source):
        if offline():
            raise MoteError(f"{what} are not downloaded and the network is off; {how}")
        host = _download_host(source)
        if not _reachable(host):
            # Fail in seconds: the hub client would retry for about a minute first.
            raise MoteError(f"{what} are not downloaded and {host} cannot be reached; {how}")
    try:
        with _quiet_root_logger():  # open_clip logs its own copy of the failure
            return open_clip.create_model(spec.model, pretrained=spec.pretrained, **kwargs)
    except Exception as err:
        raise MoteError(f"could not fetch {what} ({type(err).__name__}); {how}") from err


_HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_REACH_TIMEOUT_S = 5.0


def _tag_is_cached(source: dict) -> bool:
    repo = source.get("hf_hub", "").rstrip("/")
    if repo:
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(repo, name), str) for name in _HUB_FILES)
    url = source.get("url", "")
    return bool(url) and (Path.home() / ".cache" / "clip" / os.path.basename(url)).is_file()


def _download_host(source: dict) -> str:
    from urllib.parse import urlparse

    url = hub_endpoint() if source.get("hf_hub") else source.get("url", "")
    return urlparse(url).hostname or "the download server"


def _reachable(host: str) -> bool:
    import socket

    try:
        socket.create_connection((host, 443), timeout=_REACH_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def load_clip_weights(model: torch.nn.Module, path: Path, *, need_text: bool = True) -> None:
    """Load a CLIP state dict from a file into an open_clip model, checking coverage."""
    from .weights import read_checkpoint, tensor_state

    state = tensor_state(read_checkpoint(path))
    state = {k: v for k, v in state.items() if k not in _NON_WEIGHT_KEYS}
    load_clip_state(model, state, source=str(path), need_text=need_text)


def load_clip_state(model: torch.nn.Module, state: dict, *, source: str, need_text: bool = True) -> None:
    """Load `state` (open_clip CLIP keys) into `model`: every image-encoder key present,
    none extra, every shape right; text-encoder keys only when `need_text`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    vision_missing = [k for k in missing if k.startswith("visual.")]
    text_missing = [k for k in missing if not k.startswith("visual.") and k != "logit_scale"]
    vision_extra = [k for k in state if k.startswith("visual.") and k not in expected]
    if vision_missing or vision_extra:
        first = f"missing {vision_missing[0]}" if vision_missing else f"unexpected {vision_extra[0]}"
        raise MoteError(
            f"{source}: not CLIP weights for this model ({first}; {len(vision_missing)} missing, "
            f"{len(vision_extra)} unexpected; wrong --model?)"
        )
    if need_text and text_missing:
        raise MoteError(f"{source}: holds no text-encoder weights (missing {text_missing[0]}); the text encoder is needed here")
    for key, value in state.items():
        if key in expected and expected[key].shape != value.shape:
            raise MoteError(
                f"{source}: {key} has shape {tuple(value.shape)}, model expects {tuple(expected[key].shape)} (wrong --model?)"
            )
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)


def tokenizer_for(spec: ClipSpec):
    return _open_clip().get_tokenizer(spec.model)
