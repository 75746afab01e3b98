"""Pretrained tiny-CLIP weights in the cache: one safetensors file per fingerprint.

    cache/pretrained/mote-tiny-world-<fingerprint[:16]>.safetensors   (+ .json sidecar)

The file is a plain open_clip CLIP state dict, so `--pretrained FILE` (or
`model.pretrained` in a recipe) loads it like any local weights file. Its
header holds JSON metadata: the pretraining config, the fingerprint of
everything that changes the weights (config, world, pretraining code version,
library versions) and the retrieval figures measured when it was made.
A file whose fingerprint does not match is never reused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path
from ..data import world
from ..env import cache_root
from ..errors import MoteError
from ..hashing import json_sha256, package_version
from .pairs import KEEP, TEMPLATE_PROB

log = logging.getLogger("mote")
FORMAT = "mote-pretrained-tiny"
# Bump when the pretraining code changes its numbers for the same config.
PRETRAIN_VERSION = 1


def world_description() -> dict:
    """Everything in data/world.py and pretrain/pairs.py that changes what pretraining sees."""
    return dict(
        shapes=list(world.SHAPES), colours={k: list(v) for k, v in world.COLOURS.items()}, sizes=world.SIZES,
        cells=list(world.CELL_CENTRES), positions=list(world.POSITIONS), position_jitter=world.POSITION_JITTER,
        colour_jitter=world.COLOUR_JITTER, background_max=world.BACKGROUND_MAX,
        held_out=sorted(world.held_out_combos()), keep=KEEP, template_prob=TEMPLATE_PROB,
    )


def fingerprint(config) -> str:
    return json_sha256(dict(
        format=FORMAT, version=PRETRAIN_VERSION, config=dataclasses.asdict(config), world=world_description(),
        torch=package_version("torch"), open_clip=package_version("open_clip_torch"), numpy=package_version("numpy"),
    ))


def default_path(config) -> Path:
    return cache_root() / "pretrained" / f"mote-tiny-world-{fingerprint(config)[:16]}.safetensors"


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The metadata of a pretrained file, or None if `path` is not one (or missing)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            text = (fh.metadata() or {}).get("mote")
        meta = json.loads(text) if text else None
    except Exception:
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def save(path: Path, model, metadata: dict) -> Path:
    """The CLIP state dict as safetensors (atomic) with `metadata`, and a readable sidecar."""
    from safetensors.torch import save_file

    if path.suffix != ".safetensors":
        raise MoteError(f"--out {path}: expected a .safetensors file name")
    state = {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"mote": json.dumps(metadata, sort_keys=True)})
    with atomic_path(path.with_name(path.name + ".json")) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path


@dataclass
class PretrainedWeights:
    path: Path
    metadata: dict
    reused: bool  # found in the cache, nothing trained


def ensure_pretrained(config, *, out: str | os.PathLike | None = None, force: bool = False) -> PretrainedWeights:
    """The weights of `config`: from `out` (default: the cache path) when its fingerprint
    matches, else pretrained now and written there."""
    from .loop import pretrain

    key = fingerprint(config)
    path = Path(out) if out is not None else default_path(config)
    meta = read_metadata(path)
    if meta is not None and meta.get("fingerprint") == key and not force:
        log.info("pretrained tiny CLIP: reusing %s", path)
        return PretrainedWeights(path, meta, True)
    if meta is None and path.exists():
        raise MoteError(f"{path}: exists and is not a pretrained tiny-CLIP file; remove it or choose another --out")
    log.info("pretraining the tiny CLIP on the captioned world (%d steps of %d pairs)", config.steps, config.batch)
    result = pretrain(config)
    metadata = dict(
        format=FORMAT, fingerprint=key, model="mote-tiny", config=config.to_dict(), pretrain_version=PRETRAIN_VERSION,
        retrieval_held_out=result.retrieval, retrieval_seen=result.retrieval_seen, final_loss=result.losses[-1],
        seconds=round(result.seconds, 1), torch=package_version("torch"), open_clip=package_version("open_clip_torch"),
    )
    save(path, result.model, metadata)
    log.info("pretrained tiny CLIP -> %s (%.0f s)", path, result.seconds)
    return PretrainedWeights(path, metadata, False)
