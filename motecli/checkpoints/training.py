"""Training checkpoints: `last.pt` every epoch, `best.pt` by validation top-1.

Everything in them loads with `torch.load(..., weights_only=True)`: tensors,
plain dicts, lists, numbers and strings only. RNG states are stored as tensors
and lists (no numpy objects), the recipe as a plain dict. `mote merge` reads
exactly these keys:

    format "mote-train", format_version 1, model_config, clip {model, pretrained,
    quick_gelu, weights_id}, model (VideoCLIP state dict: visual.*, head.*,
    logit_scale), optimizer, scheduler, scaler, epoch (completed epochs), step
    (optimizer steps), rng {torch, cuda, numpy, python, routing}, recipe,
    class_names, class_embeddings (float32 [C, D]), best_top1, and best_epoch (the
    epoch best.pt holds; absent from checkpoints of earlier versions)

`last.pt` is written first and `best.pt` after it, so a kill between the two
leaves a last.pt whose best_epoch is its own epoch: the resumed run re-creates
best.pt from it (`copy_checkpoint`).
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path, remove_stale_temporaries_of
from ..errors import MoteError
from ..textfile import require_file

FORMAT = "mote-train"
FORMAT_VERSION = 1
KEYS = ("format", "format_version", "model_config", "clip", "model", "optimizer", "scheduler", "scaler", "epoch",
        "step", "rng", "recipe", "class_names", "class_embeddings", "best_top1")


def capture_rng(routing: torch.Generator) -> dict:
    """Every random state the loop consumes, in weights_only-loadable form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss_next = random.getstate()
    return dict(
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos), has_gauss=int(has_gauss),
                   cached=float(cached)),
        python=dict(version=version, state=list(state), gauss_next=gauss_next),
        routing=routing.get_state(),
    )


def restore_rng(rng: dict, routing: torch.Generator) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    n = rng["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = rng["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    routing.set_state(rng["routing"])


def save_training_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write `state` (which must hold every key in KEYS) to `path` atomically."""
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    path = Path(path)
    remove_stale_temporaries_of(path)  # a killed save of a ViT-L checkpoint strands gigabytes
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def checkpoint_mark(path: str | os.PathLike) -> tuple[int, float | None] | None:
    """(epoch, best_top1) of a training checkpoint, memory-mapped so that only those two
    numbers are read; None if there is no readable checkpoint at `path`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        if isinstance(state, dict) and state.get("format") == FORMAT:
            return int(state["epoch"]), state.get("best_top1")
    except Exception:  # missing, torn, foreign: not the checkpoint looked for
        pass
    return None


def copy_checkpoint(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy a checkpoint file onto `path` atomically (temporary name, then rename)."""
    path = Path(path)
    remove_stale_temporaries_of(path)
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return path


def load_training_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint written by `mote train`, loaded with weights_only=True."""
    path = require_file(path, "checkpoint", expected="a training checkpoint file (last.pt, best.pt)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise MoteError(f"checkpoint {path}: not a mote training checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise MoteError(f"checkpoint {path}: not a mote training checkpoint (no format '{FORMAT}')")
    if state.get("format_version") != FORMAT_VERSION:
        raise MoteError(f"checkpoint {path}: format_version {state.get('format_version')!r}, this mote reads {FORMAT_VERSION}")
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise MoteError(f"checkpoint {path}: incomplete, missing {', '.join(missing)}")
    return state
