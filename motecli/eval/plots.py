"""Pictures of evaluation results: per-class accuracy of one file; across a results
folder the zero-shot vs close-set trade-off (the paper's Figure 1: the user's
checkpoints, each joined across its modulation settings, beside the published results
of MoTE and its peers), a per-dataset bar chart, and for few-shot grids top-1 against
K beside the paper's points.

The data of each picture is built first (`trade_off_series`, `dataset_bars`,
`few_shot_series`) from the rows of `results.build_rows` (or the grids of
`fewshot_table.few_shot_grids`), then drawn. matplotlib is optional
(`pip install 'motecli[plot]'`); it is imported only here.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_path
from ..errors import MoteError
from .fewshot_table import HEAD_ONLY, backbone_label, few_shot_grids
from .published import load_published
from .results import ROLE_TITLES, ZS_ROLES, Row, build_rows, cell_text, harmonic_mean, read_results_dir

BACKBONE_MARKERS = {"ViT-B/16": "o", "ViT-L/14": "^"}
Y_AXES = ("hm_zs", "ucf", "hmdb", "k600")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise MoteError("plots need matplotlib: pip install 'motecli[plot]'") from None
    return plt


def require_matplotlib() -> None:
    """Fail before a long evaluation, not after it, when plots are asked for and matplotlib is missing."""
    _pyplot()


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_per_class(results: dict, path: str | Path) -> Path:
    """Horizontal bars of per-class top-1 (first split, first modulation setting)."""
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


# ---------------------------------------------------------------------------- trade-off


def close_set_point(row: Row) -> tuple[float | None, str]:
    """x of a row: K400 close-set (4x3 when present, else 1x1), or its only other close-set column."""
    k400, views = row.k400
    if k400 is not None:
        return k400, f"K400 {views}"
    others = [c for c, cell in row.cells.items() if not cell.zero_shot]
    return (row.value(others[0]), others[0]) if len(others) == 1 else (None, "")


def zero_shot_point(row: Row, y: str) -> tuple[float | None, str]:
    """y of a row: HM_ZS (or, lacking UCF/HMDB/K600, the harmonic mean of its zero-shot
    columns, named), or one dataset's zero-shot top-1."""
    if y != "hm_zs":
        return row.value(y), ROLE_TITLES[y]
    if row.hm_zs is not None:
        return row.hm_zs, "HM_ZS"
    columns = sorted(c for c, cell in row.cells.items() if cell.zero_shot)
    if not columns:
        return None, ""
    return harmonic_mean([row.value(c) for c in columns]), "HM of " + ", ".join(ROLE_TITLES.get(c, c) for c in columns)


def trade_off_series(rows: list[Row], *, y: str = "hm_zs", peers: bool = True) -> dict:
    """What the trade-off plot draws, in percent: one line per checkpoint (and variant)
    through its modulation settings, and the published points that have both coordinates."""
    lines: dict[tuple, dict] = {}
    for row in rows:
        x, x_what = close_set_point(row)
        value, y_what = zero_shot_point(row, y)
        if x is None or value is None:
            continue
        key = (row.checkpoint, row.variant, row.zs_views)
        line = lines.setdefault(key, dict(label=f"{row.name} [{row.checkpoint}] {row.model}, {row.variant_label}", points=[]))
        line["points"].append(dict(modulation=row.modulation, x=100 * x, y=100 * value, x_what=x_what, y_what=y_what))
    published, left_out = [], []
    for p in load_published() if peers else []:
        value = p.hm_zs if y == "hm_zs" else p.zero_shot.get(y)
        if p.k400 is None or value is None:
            left_out.append(p.label)
            continue
        published.append(dict(label=p.label, backbone=p.backbone, x=100 * p.k400, y=100 * value,
                              k400_views=p.k400_views, same_protocol=p.same_protocol))
    return dict(y=y, lines=list(lines.values()), published=published, published_left_out=left_out)


def draw_trade_off(ax, series: dict) -> None:
    for i, line in enumerate(series["lines"]):
        color = f"C{i % 10}"
        xs, ys = [p["x"] for p in line["points"]], [p["y"] for p in line["points"]]
        ax.plot(xs, ys, color=color, linewidth=1, zorder=2)
        # Hollow where modulation is off, so a point hidden under its twin still shows.
        face = [color if p["modulation"] != "off" else "none" for p in line["points"]]
        ax.scatter(xs, ys, s=70, facecolors=face, edgecolors=color, linewidths=1.5, label=line["label"], zorder=3)
        for p in line["points"]:
            ax.annotate(p["modulation"], (p["x"], p["y"]), textcoords="offset points", xytext=(5, -10), fontsize=7)
    for p in series["published"]:
        marker = BACKBONE_MARKERS.get(p["backbone"], "s")
        ax.scatter([p["x"]], [p["y"]], marker=marker, s=45, color="0.45" if p["same_protocol"] else "none",
                   edgecolors="0.3", zorder=1)
        ax.annotate(p["label"] + ("" if p["same_protocol"] else " *"), (p["x"], p["y"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7, color="0.3")
    ax.set_xlabel("close-set top-1 (%): Kinetics-400 (4x3 views when given, else 1x1)")
    y = series["y"]
    ax.set_ylabel("zero-shot top-1 (%): " + ("HM_ZS, harmonic mean of UCF, HMDB, K600" if y == "hm_zs" else ROLE_TITLES[y]))
    ax.set_title("zero-shot vs close-set trade-off (grey: published; * another zero-shot protocol)", fontsize=9)
    ax.grid(alpha=0.3)
    if series["lines"]:  # below the axes: inside, it would hide points
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False)


def plot_trade_off(results_dir: str | Path, path: str | Path, *, y: str = "hm_zs", peers: bool = True) -> Path | None:
    """The trade-off plot of a results folder; None when no checkpoint has both a close-set
    and a zero-shot figure (the published points alone are not worth a file)."""
    runs, _ = read_results_dir(results_dir)
    series = trade_off_series(build_rows(runs), y=y, peers=peers)
    if not series["lines"]:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    draw_trade_off(ax, series)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_points(series: dict, path: str | Path, *, xlabel: str, ylabel: str, title: str,
                chance: tuple[float, float] | None = None) -> Path:
    """A trade-off plot of points that are not a results folder's rows (`mote demo`'s models):
    `series` shaped as `trade_off_series` returns it (percent), these axis labels, and dotted
    lines at chance level (x, y in percent) when given."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    draw_trade_off(ax, series)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if chance is not None:
        ax.axvline(chance[0], color="0.5", linestyle=":", linewidth=1, zorder=1)
        ax.axhline(chance[1], color="0.5", linestyle=":", linewidth=1, zorder=1)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------- bars


def dataset_bars(rows: list[Row]) -> dict:
    """Per-dataset top-1 (percent) of every row, std over splits as the error bar."""
    columns = [c for c in ("ucf", "hmdb", "k600", "k400_1x1", "k400_4x3") if any(c in r.cells for r in rows)]
    columns += sorted({c for r in rows for c in r.cells if c not in ROLE_TITLES})
    series = []
    for row in rows:
        values = [None if c not in row.cells else 100 * row.cells[c].mean for c in columns]
        errors = [0.0 if c not in row.cells or len(row.cells[c].splits) < 2 else 100 * row.cells[c].std for c in columns]
        hm = row.hm_zs
        series.append(dict(label=f"{row.name} [{row.checkpoint}] {row.modulation}", values=values + [None if hm is None else 100 * hm],
                           errors=errors + [0.0], texts=[cell_text(row.cells.get(c)) for c in columns]))
    titles = [ROLE_TITLES.get(c, c) for c in columns] + ["HM_ZS"]
    return dict(columns=titles, series=series)


def plot_dataset_bars(results_dir: str | Path, path: str | Path) -> Path | None:
    runs, _ = read_results_dir(results_dir)
    data = dataset_bars(build_rows(runs))
    if not data["series"]:
        return None
    plt = _pyplot()
    n, width = len(data["series"]), 0.8 / max(1, len(data["series"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(data["columns"]) * max(1, n / 3)), 4.5))
    for i, s in enumerate(data["series"]):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(data["columns"]))]
        keep = [j for j, v in enumerate(s["values"]) if v is not None]
        ax.bar([xs[j] for j in keep], [s["values"][j] for j in keep], width=width, label=s["label"],
               yerr=[s["errors"][j] for j in keep], capsize=2, color=f"C{i % 10}")
    ax.set_xticks(range(len(data["columns"])))
    ax.set_xticklabels(data["columns"])
    ax.set_ylabel("top-1 (%), error bar: std over splits")
    ax.set_ylim(0, 100)
    ax.set_title("per-dataset top-1 across checkpoints and modulation settings")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_results(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """trade-off.png (HM_ZS), trade-off-<dataset>.png for each zero-shot dataset present,
    datasets.png (bars), few-shot.png (few-shot grids); the ones there is data for."""
    out_dir = Path(out_dir)
    written = [plot_trade_off(results_dir, out_dir / "trade-off.png")]
    written += [plot_trade_off(results_dir, out_dir / f"trade-off-{role}.png", y=role) for role in ZS_ROLES]
    written.append(plot_dataset_bars(results_dir, out_dir / "datasets.png"))
    written.append(plot_few_shot(few_shot_grids(read_results_dir(results_dir)[0]), out_dir / "few-shot.png"))
    return [p for p in written if p is not None]


# ---------------------------------------------------------------------------- few-shot


def few_shot_series(grids: list) -> list[dict]:
    """What the few-shot plot draws, in percent: per dataset, each grid's mean ± std over
    seeds and every seed's point against K, and the paper's points beside its grid."""
    panels: dict[str, dict] = {}
    for grid in grids:
        panel = panels.setdefault(grid.dataset, dict(dataset=grid.dataset, lines=[], paper=[]))
        label = f"{backbone_label(grid.model)}, T={grid.frames}, {grid.epochs} ep, " + (
            "head-only proxy" if grid.mode == HEAD_ONLY else "full fine-tuning") + f" [{grid.grid}]"
        points = []
        for row in grid.rows:
            mean, std = row.mean_std
            points.append(dict(k=row.k, mean=100 * mean, std=100 * std, seeds=[100 * v for v in row.seeds.values()]))
        panel["lines"].append(dict(label=label, head_only=grid.mode == HEAD_ONLY, points=points))
        ref = grid.reference
        if ref is not None and not any(p["label"].startswith(f"paper {ref.backbone}") for p in panel["paper"]):
            panel["paper"].append(dict(label=f"paper {ref.backbone} (Table 5)",
                                       points=[dict(k=k, top1=100 * v) for k, v in sorted(ref.top1.items())]))
    return list(panels.values())


def plot_few_shot(grids: list, path: str | Path) -> Path | None:
    """top-1 against K (log scale), one panel per dataset; None when there is no grid."""
    panels = few_shot_series(grids)
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for i, line in enumerate(panel["lines"]):
            color = f"C{i % 10}"
            ks = [p["k"] for p in line["points"]]
            ax.errorbar(ks, [p["mean"] for p in line["points"]], yerr=[p["std"] for p in line["points"]],
                        color=color, marker="o", capsize=3, linestyle="--" if line["head_only"] else "-",
                        label=line["label"])
            for p in line["points"]:
                ax.scatter([p["k"]] * len(p["seeds"]), p["seeds"], color=color, s=10, alpha=0.4)
        for paper in panel["paper"]:
            ax.plot([p["k"] for p in paper["points"]], [p["top1"] for p in paper["points"]], color="0.4",
                    marker="s", linestyle=":", label=paper["label"])
        ks = sorted({p["k"] for line in panel["lines"] for p in line["points"]}
                    | {p["k"] for paper in panel["paper"] for p in paper["points"]})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlabel("K (training videos per class)")
        ax.set_ylabel("top-1 (%), 1 view; bars: std over seeds")
        dashed = " (dashed: head-only proxy)" if any(line["head_only"] for line in panel["lines"]) else ""
        ax.set_title(f"{panel['dataset']}: all-way few-shot, grey: the paper{dashed}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", frameon=False)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)
