"""Evaluation protocols (method section 4): views, splits, half-class draws and the
summary scores HM_ZS and trade-off."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..constants import HALF_CLASS_SEEDS, ZERO_SHOT_CLIPS
from ..errors import MoteError

PROTOCOLS = ("zero-shot", "close-set")
CLOSE_SET_VIEWS = {"1x1": (1, 1), "4x3": (4, 3)}
# Which zero-shot dataset a results file counts as, from the dataset name.
ZS_ROLES = {"ucf": re.compile(r"^ucf"), "hmdb": re.compile(r"^hmdb"), "k600": re.compile(r"^(k600|kinetics[-_]?600)")}
CLOSE_ROLE = re.compile(r"^(k400|kinetics[-_]?400)")


def resolve_views(*, protocol: str, views: str | None, clips: int | None, crops: int | None) -> tuple[int, int]:
    """(clips, crops): zero-shot 3x1; close-set --views 1x1 (default) or 4x3; --clips/--crops override."""
    if protocol not in PROTOCOLS:
        raise MoteError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if views is not None:
        if views not in CLOSE_SET_VIEWS:
            raise MoteError(f"--views {views!r}: expected one of {', '.join(CLOSE_SET_VIEWS)} (or --clips/--crops)")
        base = CLOSE_SET_VIEWS[views]
    else:
        base = (ZERO_SHOT_CLIPS, 1) if protocol == "zero-shot" else CLOSE_SET_VIEWS["1x1"]
    out = (clips or base[0], crops or base[1])
    if out[1] not in (1, 3):
        raise MoteError(f"--crops {out[1]}: expected 1 or 3")
    if out[0] < 1:
        raise MoteError(f"--clips {out[0]}: expected at least 1")
    return out


def parse_splits(split: str, *, num_splits: int) -> list[int]:
    """'1', '2', '3' or 'all' (every split of the dataset)."""
    if split == "all":
        return list(range(1, num_splits + 1))
    if not split.isdigit() or not 1 <= int(split) <= num_splits:
        raise MoteError(f"--split {split!r}: expected 1..{num_splits} or 'all'")
    return [int(split)]


def half_class_subsets(num_classes: int, seeds: tuple[int, ...] = HALF_CLASS_SEEDS) -> list[np.ndarray]:
    """For each seed s: `np.random.seed(s); np.random.choice(C, C // 2, replace=False)`
    (drawn with an equivalent private RandomState, so global numpy state is untouched), sorted."""
    return [np.sort(np.random.RandomState(s).choice(num_classes, num_classes // 2, replace=False)) for s in seeds]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population std (numpy's default, ddof=0) over splits."""
    return float(np.mean(values)), float(np.std(values))


def harmonic_mean(values: list[float]) -> float:
    return float(len(values) / sum(1.0 / v for v in values)) if values and all(v > 0 for v in values) else float("nan")


def _headline_top1(result: dict) -> float:
    """Top-1 of the first run (the default scale or the first of a sweep): split mean when several."""
    return result["runs"][0]["top1_mean"]


def summary_scores(results_dir: str | Path) -> dict:
    """HM_ZS (harmonic mean of UCF, HMDB, K600 zero-shot top-1) and trade-off (harmonic
    mean of K400 close-set top-1 and HM_ZS) from the results files present. For each role
    the newest file counts; for K400 the file with the most views."""
    found: dict[str, tuple[float, dict]] = {}
    for file in sorted(Path(results_dir).glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            result = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if result.get("format") != "mote-eval" or not result.get("dataset"):
            continue
        name = result["dataset"].lower()
        settings = result["settings"]
        if settings["protocol"] == "zero-shot":
            for role, pattern in ZS_ROLES.items():
                if pattern.match(name):
                    found[role] = (_headline_top1(result), dict(file=str(file), splits=result["runs"][0]["splits_evaluated"]))
        elif CLOSE_ROLE.match(name):
            views = settings["clips"] * settings["crops"]
            if "k400" not in found or views >= found["k400"][1]["views"]:
                found["k400"] = (_headline_top1(result), dict(file=str(file), views=views))
    out: dict = {role: dict(top1=top1, **info) for role, (top1, info) in found.items()}
    if all(role in found for role in ZS_ROLES):
        out["HM_ZS"] = harmonic_mean([found[r][0] for r in ZS_ROLES])
        if "k400" in found:
            out["trade_off"] = harmonic_mean([found["k400"][0], out["HM_ZS"]])
    return out
