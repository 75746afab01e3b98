"""The results of `mote eval`: a rich table on the console, a JSON file on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import atomic_path


def results_path(out_dir: str | Path, results: dict, split_spec: str) -> Path:
    s = results["settings"]
    tag = f"{s['protocol']}-{s['clips']}x{s['crops']}" + ("" if s["modulation"] else "-nomod")
    tag += f"-patch{s['patch_alpha']:g}" if s["patch_alpha"] is not None else ""
    tag += "-videos" if s["from_videos"] else ""
    return Path(out_dir) / f"{results['name']}-split{split_spec}-{tag}.json"


def write_results(path: Path, results: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=1, allow_nan=True) + "\n")


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def results_table(results: dict, summary: dict | None = None):
    from rich.table import Table

    s = results["settings"]
    title = (f"{results['name']}: {s['protocol']}, {s['clips']}x{s['crops']} views, T={s['num_frames']}, "
             f"modulation {'k=' + str(s['tfm_k']) if s['modulation'] else 'off'}")
    table = Table(title=title)
    for col in ("tfm scale", "split", "videos", "excluded", "top-1", "top-5", "half-classes"):
        table.add_column(col, justify="right")
    for run in results["runs"]:
        scale = "-" if run["tfm_scale"] is None else f"{run['tfm_scale']:g}"
        for r in run["splits"]:
            half = r.get("half_classes")
            table.add_row(scale, str(r["split"] or "-"), str(r["videos"]), str(r["excluded"]), _pct(r["top1"]),
                          _pct(r["top5"]), f"{_pct(half['mean'])} ± {_pct(half['std'])}" if half else "")
        if len(run["splits"]) > 1:
            half = (f"{_pct(run['half_classes_mean'])} ± {_pct(run['half_classes_std'])}"
                    if "half_classes_mean" in run else "")
            table.add_row(scale, "mean ± std", "", "", f"{_pct(run['top1_mean'])} ± {_pct(run['top1_std'])}",
                          f"{_pct(run['top5_mean'])} ± {_pct(run['top5_std'])}", half)
    if summary and "HM_ZS" in summary:
        caption = f"HM_ZS {_pct(summary['HM_ZS'])}"
        if "trade_off" in summary:
            caption += f", trade-off {_pct(summary['trade_off'])}"
        table.caption = caption + " (from the results folder)"
    return table
