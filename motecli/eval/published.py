"""Published results of MoTE and its peers, for the trade-off plot.

The numbers live in `motecli/assets/published/video_clip_results.json` (shipped with
the package), each with its source (repository file or paper table), its backbone and
whether it was verified there. Standard library only, like `results`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import MoteError
from .results import ZS_ROLES, harmonic_mean

PUBLISHED_FILE = Path(__file__).resolve().parent.parent / "assets" / "published" / "video_clip_results.json"
PUBLISHED_FORMAT = "mote-published"


@dataclass(frozen=True)
class PublishedPoint:
    """One method and backbone; fractions (0..1) like the results files."""

    method: str
    backbone: str
    k400: float | None  # close-set top-1 with the most views given
    k400_views: str | None
    zero_shot: dict  # role -> top-1
    same_protocol: bool  # False when a zero-shot figure is not the three-split mean
    sources: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.method} ({self.backbone})"

    @property
    def hm_zs(self) -> float | None:
        values = [self.zero_shot.get(role) for role in ZS_ROLES]
        return None if None in values else harmonic_mean(values)

    @property
    def on_trade_off_plot(self) -> bool:
        return self.k400 is not None and self.hm_zs is not None


def _views_rank(entry: dict) -> int:
    views = entry.get("views")
    if not views:
        return 0
    clips, crops = views.split("x")
    return int(clips) * int(crops)


def load_published(path: str | Path = PUBLISHED_FILE) -> list[PublishedPoint]:
    """Every verified number of the data file (unverified ones are left out)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MoteError(f"{path}: published results not readable ({err})") from None
    if data.get("format") != PUBLISHED_FORMAT:
        raise MoteError(f"{path}: expected format '{PUBLISHED_FORMAT}'")
    points = []
    for entry in data["entries"]:
        k400 = sorted((k for k in entry["k400"] if k.get("verified")), key=_views_rank)
        zero = {role: v for role, v in entry["zero_shot"].items() if v.get("verified")}
        sources = tuple(sorted({k["source"] for k in k400} | {v["source"] for v in zero.values()}))
        points.append(PublishedPoint(
            method=entry["method"], backbone=entry["backbone"],
            k400=k400[-1]["top1"] / 100 if k400 else None, k400_views=k400[-1].get("views") if k400 else None,
            zero_shot={role: v["top1"] / 100 for role, v in zero.items()},
            same_protocol=not any(v.get("protocol") for v in zero.values()), sources=sources,
        ))
    return points


# ---------------------------------------------------------------------------- few-shot

FEW_SHOT_FILE = PUBLISHED_FILE.with_name("few_shot_results.json")
FEW_SHOT_FORMAT = "mote-published-few-shot"


@dataclass(frozen=True)
class PublishedFewShot:
    """One method, backbone and benchmark of the paper's few-shot table, with its protocol."""

    method: str
    backbone: str  # "ViT-B/16"
    benchmark: str  # "ucf", "hmdb", "ssv2"
    dataset: str  # "UCF-101"
    frames: int
    epochs: int
    views: str
    start: str  # the weights fine-tuning starts from
    top1: dict  # K -> fraction (0..1)
    sources: dict  # K -> source of that number
    verified: dict  # K -> whether it was read in its source


def load_published_few_shot(path: str | Path = FEW_SHOT_FILE) -> list[PublishedFewShot]:
    """Every entry of the few-shot data file (numbers as fractions, like results files)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MoteError(f"{path}: published few-shot results not readable ({err})") from None
    if data.get("format") != FEW_SHOT_FORMAT:
        raise MoteError(f"{path}: expected format '{FEW_SHOT_FORMAT}'")
    out = []
    for e in data["entries"]:
        shots = {int(k): v for k, v in e["shots"].items()}
        out.append(PublishedFewShot(
            method=e["method"], backbone=e["backbone"], benchmark=e["benchmark"], dataset=e["dataset"],
            frames=int(e["frames"]), epochs=int(e["epochs"]), views=e["views"], start=e["start"],
            top1={k: v["top1"] / 100 for k, v in shots.items()}, sources={k: v["source"] for k, v in shots.items()},
            verified={k: bool(v["verified"]) for k, v in shots.items()},
        ))
    return out
