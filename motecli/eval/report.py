"""The results of `mote eval`: the results file (identity, name; JSON plus CSV files of
per-video predictions and per-class accuracy) and the rich tables on the console.
Schema: docs/evaluation.md."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_path
from ..hashing import file_sha256, json_sha256, package_version
from .results import ID_CHARS, RESULTS_FORMAT, RESULTS_VERSION

# Settings that change the numbers but are not spelled out in the file name: their hash is.
_NAME_HASHED = ("num_frames", "tfm_scales", "tfm_ks", "original", "templates_sha256", "text_pretrained")
SETTINGS_HASH_CHARS = 6


def checkpoint_identity(path: Path, meta: dict) -> dict:
    """Who produced the numbers: the merged file's content hash and short id, its path,
    and the training run and recipe recorded in its metadata."""
    sha = file_sha256(path)
    source = meta.get("source") or {}
    recipe = source.get("recipe") or {}
    return dict(
        id=sha[:ID_CHARS], sha256=sha, path=str(path), model=meta["clip"]["model"],
        visual_sha256=meta["visual_sha256"], finetune_classes=len(meta["class_names"]), patch=meta.get("patch"),
        merged_by=meta.get("mote_version"),
        training_run=dict(path=source.get("path"), sha256=source.get("sha256"), format=source.get("format"),
                          epoch=source.get("epoch"), step=source.get("step"), output=(recipe.get("run") or {}).get("output")),
        recipe=recipe,
    )


def cache_summary(splits: list[dict]) -> dict:
    """Whether this evaluation found its frame and text caches filled (hit) or filled them."""
    frames = [s.get("frame_cache") for s in splits]
    out = dict(text="hit" if all(s.get("text_cache_hit") for s in splits) else "computed")
    if any(f is None for f in frames):
        return out | dict(frames="not used (--from-videos)", frames_encoded_now=0)
    encoded = sum(f["encoded_videos_now"] for f in frames)
    out |= dict(frames="hit" if encoded == 0 else "filled", frames_encoded_now=encoded)
    heads = [s.get("head_cache") for s in splits]
    if any(h is None for h in heads):
        return out | dict(heads="not used (--no-head-cache)", heads_computed_now=0)
    computed = max(h["computed_videos_now"] for h in heads)  # per frame cache, the same for its splits
    return out | dict(heads="hit" if computed == 0 else "filled", heads_computed_now=computed)


def eval_record(*, name: str, dataset: str | None, settings: dict, checkpoint: dict, finetune_classes: bool,
                wall_seconds: float, runs: list[dict]) -> dict:
    """The results dict of one `mote eval` of one checkpoint (format_version 2)."""
    return dict(
        format=RESULTS_FORMAT, format_version=RESULTS_VERSION, name=name, dataset=dataset,
        created=datetime.now(timezone.utc).isoformat(timespec="milliseconds"), mote_version=package_version("motecli"),
        checkpoint=checkpoint, settings=settings, test_classes_are_finetune_classes=finetune_classes,
        wall_seconds=wall_seconds, caches=cache_summary(runs[0]["splits"]), runs=runs,
    )


def results_path(out_dir: str | Path, results: dict, split_spec: str) -> Path:
    """`<name>-split<S>-<protocol>-<C>x<K>[-nomod][-patchA][-videos]-<checkpoint id>-<settings hash>.json`:
    another checkpoint or other settings never overwrite this file; the same ones replace it.
    (Half-classes is left out of the hash: it adds figures, the others stay the same.)"""
    s = results["settings"]
    tag = f"{s['protocol']}-{s['clips']}x{s['crops']}" + ("" if s["modulation"] else "-nomod")
    tag += f"-patch{s['patch_alpha']:g}" if s["patch_alpha"] is not None else ""
    tag += "-videos" if s["from_videos"] else ""
    hashed = json_sha256({key: s.get(key) for key in _NAME_HASHED})[:SETTINGS_HASH_CHARS]
    return Path(out_dir) / f"{results['name']}-split{split_spec}-{tag}-{results['checkpoint']['id']}-{hashed}.json"


def detail_paths(path: Path) -> dict[str, Path]:
    """The CSV files beside a results JSON: per-video predictions and per-class accuracy."""
    return dict(predictions=path.with_name(path.stem + ".predictions.csv"),
                per_class=path.with_name(path.stem + ".per-class.csv"))


def write_results(path: Path, results: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=1, allow_nan=True) + "\n")


def _write_csv(path: Path, header: list[str], lines) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(lines)


def write_eval_results(path: Path, results: dict) -> None:
    """The results JSON without the per-video predictions and per-class accuracy, which go
    to `<stem>.predictions.csv` and `<stem>.per-class.csv` (one line per run, split and
    video or class). They are about 90 % of the bytes and of the parsing time; without
    them `mote results` reads hundreds of files in well under a second (BENCHMARKS.md).
    `results` itself is left whole."""
    paths = detail_paths(path)
    keyed = [(run["tfm_k"], run["tfm_scale"], split) for run in results["runs"] for split in run["splits"]]
    _write_csv(paths["predictions"], ["tfm_k", "tfm_scale", "split", "index", "video", "label"] + [f"top{i}" for i in range(1, 6)],
               ([k, scale, split["split"], index, video, label, *top5]
                for k, scale, split in keyed
                for index, video, label, top5 in zip(*(split["predictions"][f] for f in ("index", "video", "label", "top5")))))
    _write_csv(paths["per_class"], ["tfm_k", "tfm_scale", "split", "class", "top1", "videos"],
               ([k, scale, split["split"], name, acc["top1"], acc["videos"]]
                for k, scale, split in keyed for name, acc in split["per_class"].items()))
    detail = ("predictions", "per_class")
    slim = dict(results, detail_files={key: p.name for key, p in paths.items()}, runs=[
        dict(run, splits=[{k: v for k, v in split.items() if k not in detail} for split in run["splits"]])
        for run in results["runs"]])
    write_results(path, slim)


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def results_table(results: dict):
    """One results file: per (k, scale) and split, top-1, top-5 and half-classes."""
    from rich.table import Table

    s = results["settings"]
    ks = s.get("tfm_ks") or [s["tfm_k"]]
    title = (f"{results['name']}: {s['protocol']}, {s['clips']}x{s['crops']} views, T={s['num_frames']}, "
             f"modulation {'k=' + ','.join(map(str, ks)) if s['modulation'] else 'off'}, "
             f"checkpoint {results['checkpoint']['id']} ({Path(results['checkpoint']['path']).name})")
    table = Table(title=title)
    for col in ("k", "tfm scale", "split", "videos", "excluded", "top-1", "top-5", "half-classes"):
        table.add_column(col, justify="right")
    for run in results["runs"]:
        k = "-" if run.get("tfm_k") is None else str(run["tfm_k"])
        scale = "-" if run["tfm_scale"] is None else f"{run['tfm_scale']:g}"
        for r in run["splits"]:
            half = r.get("half_classes")
            table.add_row(k, scale, str(r["split"] or "-"), str(r["videos"]), str(r["excluded"]), _pct(r["top1"]),
                          _pct(r["top5"]), f"{_pct(half['mean'])} ± {_pct(half['std'])}" if half else "")
        if len(run["splits"]) > 1:
            half = (f"{_pct(run['half_classes_mean'])} ± {_pct(run['half_classes_std'])}"
                    if "half_classes_mean" in run else "")
            top5 = "-" if run["top5_mean"] is None else f"{_pct(run['top5_mean'])} ± {_pct(run['top5_std'])}"
            table.add_row(k, scale, "mean ± std", "", "", f"{_pct(run['top1_mean'])} ± {_pct(run['top1_std'])}",
                          top5, half)
    caches = results.get("caches") or {}
    table.caption = (f"frame cache {caches.get('frames', '?')}, text cache {caches.get('text', '?')}, "
                     f"{results.get('wall_seconds', float('nan')):.2f} s")
    return table
