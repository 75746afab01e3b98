"""`mote pretrain-tiny`: contrastive pretraining of the bundled tiny CLIP on the captioned world."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_app import app


@app.command("pretrain-tiny")
def pretrain_tiny(
    steps: Optional[int] = typer.Option(None, "--steps", metavar="N", help="Optimizer steps (default: the cached config's)."),
    batch: Optional[int] = typer.Option(None, "--batch", metavar="N", help="(frame, caption) pairs per step."),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", help="Seeds every image and caption drawn."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE", help="Weights file (default: cache/pretrained/mote-tiny-world-<fingerprint>.safetensors)."),
    force: bool = typer.Option(False, "--force", help="Pretrain again even if the file holds these weights."),
) -> None:
    """Pretrain mote-tiny's image and text encoders on captioned synthetic frames (~90 s on 2 cores); cached, reused."""
    from dataclasses import replace

    from rich.console import Console

    from ..errors import MoteError
    from ..pretrain.loop import PretrainConfig
    from ..pretrain.store import ensure_pretrained

    changes = {k: v for k, v in dict(steps=steps, batch=batch, seed=seed).items() if v is not None}
    for key, value in changes.items():
        if value < (0 if key == "seed" else 1):
            raise MoteError(f"--{key} {value}: expected a {'non-negative' if key == 'seed' else 'positive'} integer")
    weights = ensure_pretrained(replace(PretrainConfig(), **changes), out=out, force=force)
    meta = weights.metadata
    console = Console(soft_wrap=True)
    console.print(str(weights.path))
    console.print(f"{'reused (fingerprint matches)' if weights.reused else 'pretrained'}: "
                  f"{meta['config']['steps']} steps x {meta['config']['batch']} pairs, {meta['seconds']:.0f} s when made")
    for label, key in (("held-out colour-shape combinations", "retrieval_held_out"), ("seen combinations", "retrieval_seen")):
        r = meta[key]
        console.print(f"image-to-text top-1, {label} ({r['images']} images): "
                      f"colour+shape {100 * r['colour_shape']['top1']:.1f} (chance {100 * r['colour_shape']['chance']:.1f}), "
                      f"full caption {100 * r['full']['top1']:.1f} (chance {100 * r['full']['chance']:.2f})")
    console.print(f"use it with: --pretrained {weights.path}  (or model.pretrained in a recipe, model.name = \"mote-tiny\")")
