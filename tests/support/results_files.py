"""Minimal `mote eval` results files (format_version 2) with chosen numbers, for the
tests of `mote results`, HM_ZS grouping and the plots."""

from __future__ import annotations

import json
from pathlib import Path


def result_file(folder: Path, filename: str, *, dataset: str, checkpoint: str = "aaaaaaaaaa", protocol: str = "zero-shot",
                views: tuple[int, int] = (3, 1), modulation: bool = True, runs: dict | None = None,
                created: str = "2026-01-01T00:00:00", frames: int = 8, patch_alpha: float | None = None,
                finetune_classes: bool = False, name: str = "model", few_shot: dict | None = None) -> Path:
    """`runs` maps a (k, scale) pair (None when modulation is off) to {split: top1};
    `few_shot` is the block `mote few-shot` adds to each cell's file."""
    runs = runs or {(5, 0.05) if modulation else None: {1: 0.5}}
    out = dict(
        format="mote-eval", format_version=2, name=dataset, dataset=dataset, created=created, mote_version="test",
        checkpoint=dict(id=checkpoint, sha256=checkpoint * 6, path=f"/ckpts/{name}.safetensors"),
        settings=dict(protocol=protocol, clips=views[0], crops=views[1], num_frames=frames, modulation=modulation,
                      patch_alpha=patch_alpha, from_videos=False, tfm_k=5),
        test_classes_are_finetune_classes=finetune_classes,
        runs=[dict(tfm_k=key[0] if key else None, tfm_scale=key[1] if key else None,
                   splits=[dict(split=s, top1=v) for s, v in splits.items()]) for key, splits in runs.items()],
    )
    if few_shot is not None:
        out["few_shot"] = few_shot
    path = folder / filename
    path.write_text(json.dumps(out))
    return path
