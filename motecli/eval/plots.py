"""Pictures of evaluation results: per-class accuracy, and the zero-shot vs
close-set trade-off of every checkpoint in a results folder.

matplotlib is optional (`pip install 'motecli[plot]'`); it is imported only here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import atomic_path
from ..errors import MoteError
from .protocols import harmonic_mean


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise MoteError("plots need matplotlib: pip install 'motecli[plot]'") from None
    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_per_class(results: dict, path: str | Path) -> Path:
    """Horizontal bars of per-class top-1 (first split, first modulation scale)."""
    plt = _pyplot()
    split = results["runs"][0]["splits"][0]
    per_class = sorted(split["per_class"].items(), key=lambda kv: kv[1]["top1"])
    names = [name for name, _ in per_class]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(names) + 1.5))
    ax.barh(names, [100 * v["top1"] for _, v in per_class], color="tab:blue")
    ax.axvline(100 * split["top1"], color="tab:red", linestyle="--", label=f"overall {100 * split['top1']:.1f}")
    ax.set_xlabel("top-1 (%)")
    ax.set_xlim(0, 100)
    ax.set_title(f"{results['name']}: per-class accuracy ({results['settings']['protocol']})")
    ax.legend(loc="lower right")
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def trade_off_points(results_dir: str | Path) -> list[dict]:
    """One point per (checkpoint, modulation): close-set top-1 (mean over close-set
    results) against zero-shot top-1 (harmonic mean over zero-shot datasets, as
    HM_ZS). Checkpoints lacking either kind of result are left out."""
    groups: dict[tuple[str, bool], dict[str, dict[str, float]]] = {}
    for file in sorted(Path(results_dir).glob("*.json")):
        try:
            results = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if results.get("format") != "mote-eval" or results["settings"].get("from_videos"):
            continue
        settings = results["settings"]
        key = (results["checkpoint"]["path"], bool(settings["modulation"]))
        kind = "close" if settings["protocol"] == "close-set" else "zero"
        groups.setdefault(key, {"close": {}, "zero": {}})[kind][results["name"]] = results["runs"][0]["top1_mean"]
    points = []
    for (checkpoint, modulation), kinds in groups.items():
        close = [v for v in kinds["close"].values() if not math.isnan(v)]
        zero = [v for v in kinds["zero"].values() if not math.isnan(v)]
        if close and zero:
            points.append(dict(checkpoint=checkpoint, modulation=modulation, close_set=sum(close) / len(close),
                               zero_shot=harmonic_mean(zero), datasets=sorted(kinds["close"]) + sorted(kinds["zero"])))
    return points


def plot_trade_off(results_dir: str | Path, path: str | Path) -> Path | None:
    """Scatter of `trade_off_points`; None when no checkpoint has both kinds of result."""
    points = trade_off_points(results_dir)
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, p in enumerate(points):
        label = (f"{Path(p['checkpoint']).stem}: close {100 * p['close_set']:.1f}, zero-shot {100 * p['zero_shot']:.1f}"
                 f"{'' if p['modulation'] else ' (no modulation)'}")
        # Hollow squares for modulation off, so a point hidden under its twin still shows.
        color = f"C{i % 10}"
        style = (dict(marker="o", s=60, color=color) if p["modulation"]
                 else dict(marker="s", s=140, facecolors="none", edgecolors=color, linewidths=1.5))
        ax.scatter(100 * p["close_set"], 100 * p["zero_shot"], label=label, **style)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(loc="lower left", fontsize="small")
    ax.set_xlabel("close-set top-1 (%)")
    ax.set_ylabel("zero-shot top-1 (%), harmonic mean over datasets")
    ax.set_title("zero-shot vs close-set trade-off")
    ax.grid(alpha=0.3)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)
