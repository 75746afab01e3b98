"""One table across results files: the aggregation behind `mote results` (and the
summary `mote eval` prints), in the standard library only, so that reading hundreds
of results files never imports torch, numpy or h5py.

A results file (written by `mote eval`, schema in docs/evaluation.md) holds one run
per modulation setting. Runs are grouped into rows, one per

    (checkpoint id, variant, zero-shot views, modulation setting)

where the variant is what else changes the numbers (frames, eval-time weight patch,
prompt templates, text weights). A row's zero-shot cells come from that group's files
only: per split the newest file wins, and the cell is the mean ± std over the splits
present. HM_ZS is the harmonic mean of the UCF, HMDB and K600 cells; the trade-off the
harmonic mean of K400 close-set top-1 (4x3 views when present, else 1x1) and HM_ZS.
K400 close-set comes from the same checkpoint and variant with the same modulation
setting, or from any modulation setting when the test classes are the checkpoint's
fine-tuning classes (modulation is then alpha = 1, so every setting gives the same
numbers); a zero-shot row with an eval-time patch also takes an unpatched K400 file
(the release evaluates close-set unpatched). Every row names the files it used and
the datasets it lacks. Files of a few-shot grid (`mote few-shot`, a `few_shot` block)
are read here too but tabled by `fewshot_table`, not in these rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..constants import PROMPT_TEMPLATES
from ..errors import MoteError
from ..hashing import CHECKPOINT_ID_LENGTH

RESULTS_FORMAT = "mote-eval"
RESULTS_VERSION = 2  # 2: checkpoint identity, one run per (k, scale), predictions in a side file
ID_CHARS = CHECKPOINT_ID_LENGTH  # short checkpoint id: the first hex digits of the merged file's sha256
TABLE_FORMAT = "mote-results"
TABLE_VERSION = 1

# Which role a results file plays, from its dataset name.
ZS_ROLES = {"ucf": re.compile(r"^ucf"), "hmdb": re.compile(r"^hmdb"), "k600": re.compile(r"^(k600|kinetics[-_]?600)")}
CLOSE_ROLE = re.compile(r"^(k400|kinetics[-_]?400)")
ROLE_TITLES = {"ucf": "UCF", "hmdb": "HMDB", "k600": "K600", "k400_1x1": "K400 1x1", "k400_4x3": "K400 4x3"}
K400_VIEWS = {"1x1": "k400_1x1", "4x3": "k400_4x3"}
BEST = "best per dataset (test)"  # modulation label of a --best-scale row
DEFAULT_TEMPLATES_SHA = hashlib.sha256("\n".join(PROMPT_TEMPLATES).encode()).hexdigest()


def harmonic_mean(values: list[float]) -> float:
    return float(len(values) / sum(1.0 / v for v in values)) if values and all(v > 0 for v in values) else float("nan")


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population std (ddof = 0, numpy's default) without numpy."""
    m = math.fsum(values) / len(values)
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))


def modulation_label(modulation: bool, k: int | None, scale: float | None) -> str:
    return "off" if not modulation or scale is None else f"k={k} λ={scale:g}"


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Run:
    """One modulation setting of one results file."""

    file: str
    created: str
    checkpoint: str
    checkpoint_name: str
    model: str  # the backbone, e.g. ViT-B-16
    dataset: str
    protocol: str
    views: str
    variant: tuple  # (frames, patch alpha, templates sha, text weights)
    modulation: str
    mod_order: tuple
    noop: bool  # close-set on the fine-tuning classes: every modulation setting gives these numbers
    splits: dict  # split label -> top-1
    few_shot: dict | None = None  # a cell of a few-shot grid (`mote few-shot`): its own table, fewshot_table.py

    @property
    def role(self) -> str:
        name = self.dataset.lower()
        if self.protocol == "zero-shot":
            return next((role for role, pattern in ZS_ROLES.items() if pattern.match(name)), "")
        return K400_VIEWS.get(self.views, "") if CLOSE_ROLE.match(name) else ""

    @property
    def column(self) -> str:
        """The table column: a role, or '<dataset> <protocol> <views>' for other data."""
        return self.role or f"{self.dataset} {self.protocol} {self.views}"


def runs_of(file: Path, data: dict) -> list[Run]:
    """The runs of one parsed results file (format_version 1 or 2)."""
    s, ck = data["settings"], data.get("checkpoint") or {}
    ck_id = ck.get("id") or (ck.get("sha256") or ck.get("visual_sha256") or "unknown")[:ID_CHARS]
    variant = (s.get("num_frames"), s.get("patch_alpha"), s.get("templates_sha256", DEFAULT_TEMPLATES_SHA),
               s.get("text_pretrained"))
    out = []
    for run in data["runs"]:
        k = run.get("tfm_k", s.get("tfm_k"))
        scale = run.get("tfm_scale")
        mod = modulation_label(s["modulation"], k, scale)
        out.append(Run(
            file=file.name, created=str(data.get("created", "")), checkpoint=ck_id,
            checkpoint_name=Path(ck.get("path", "?")).stem, model=str(ck.get("model", "?")), dataset=str(data.get("dataset") or data["name"]),
            protocol=s["protocol"], views=f"{s['clips']}x{s['crops']}", variant=variant, modulation=mod,
            mod_order=(0,) if mod == "off" else (1, k, scale),
            noop=bool(data.get("test_classes_are_finetune_classes")),
            splits={str(sp["split"] if sp.get("split") is not None else "-"): sp["top1"] for sp in run["splits"]},
            few_shot=data.get("few_shot"),
        ))
    return out


def read_results_dir(results_dir: str | Path) -> tuple[list[Run], list[str]]:
    """Every run of every `mote eval` results file in the folder; and the files skipped, with why."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise MoteError(f"{folder}: no such results folder (expected the --results-dir of `mote eval`)")
    runs, skipped = [], []
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as err:
            skipped.append(f"{file.name}: not readable JSON ({type(err).__name__})")
            continue
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            continue  # other JSON (few-shot head results, notes): not ours to judge
        if not isinstance(data.get("format_version"), int) or data["format_version"] > RESULTS_VERSION:
            skipped.append(f"{file.name}: format_version {data.get('format_version')!r}, this mote reads up to {RESULTS_VERSION}")
            continue
        if data.get("settings", {}).get("from_videos"):
            continue  # the cache-free baseline: the same numbers as the cached file beside it
        try:
            runs += runs_of(file, data)
        except (KeyError, TypeError, ValueError) as err:
            skipped.append(f"{file.name}: missing or malformed field ({err})")
    return runs, skipped


# ---------------------------------------------------------------------------- rows


@dataclass
class Cell:
    mean: float
    std: float
    splits: list[str]
    files: list[str]
    zero_shot: bool = True


@dataclass
class Row:
    checkpoint: str
    name: str
    variant: tuple
    zs_views: str | None
    modulation: str
    mod_order: tuple
    model: str = "?"
    cells: dict[str, Cell] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)  # best-scale rows: column -> modulation setting used

    @property
    def chosen_on_test(self) -> bool:
        return bool(self.chosen)

    def value(self, column: str) -> float | None:
        cell = self.cells.get(column)
        return None if cell is None else cell.mean

    @property
    def hm_zs(self) -> float | None:
        values = [self.value(role) for role in ZS_ROLES]
        return None if None in values else harmonic_mean(values)

    @property
    def k400(self) -> tuple[float | None, str | None]:
        """K400 close-set top-1 for the trade-off: 4x3 views when present, else 1x1."""
        for views in ("4x3", "1x1"):
            if K400_VIEWS[views] in self.cells:
                return self.value(K400_VIEWS[views]), views
        return None, None

    @property
    def trade_off(self) -> float | None:
        k400, hm = self.k400[0], self.hm_zs
        return None if k400 is None or hm is None else harmonic_mean([k400, hm])

    @property
    def missing(self) -> list[str]:
        out = [f"{ROLE_TITLES[r]} zero-shot" for r in ZS_ROLES if r not in self.cells]
        return out + ([] if self.k400[0] is not None else ["K400 close-set"])

    @property
    def files(self) -> list[str]:
        return sorted({f for cell in self.cells.values() for f in cell.files})

    @property
    def variant_label(self) -> str:
        frames, patch, templates, text = self.variant
        parts = [f"T={frames}"] + ([f"patch {patch:g}"] if patch is not None else [])
        parts += [] if templates == DEFAULT_TEMPLATES_SHA else [f"templates {templates[:8]}"]
        parts += [f"text {text}"] if text else []
        parts += [f"zero-shot {self.zs_views}"] if self.zs_views not in (None, "3x1") else []
        return ", ".join(parts)


def _zero_shot_cell(runs: list[Run]) -> Cell:
    """Per split the newest run; mean ± std over the splits present."""
    latest: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: (r.created, r.file)):
        for split in run.splits:
            latest[split] = run
    splits = sorted(latest, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    m, s = mean_std([latest[sp].splits[sp] for sp in splits])
    return Cell(m, s, splits, sorted({latest[sp].file for sp in splits}), zero_shot=runs[0].protocol == "zero-shot")


def _close_set_fits(run: Run, row: Row) -> tuple | None:
    """Rank of a close-set run for a row (higher is better), None when it does not fit."""
    frames, patch, templates, text = row.variant
    r_frames, r_patch, r_templates, r_text = run.variant
    if run.checkpoint != row.checkpoint or (r_frames, r_templates, r_text) != (frames, templates, text):
        return None
    if r_patch not in (patch, None) or not (run.modulation == row.modulation or run.noop):
        return None
    return (run.modulation == row.modulation, r_patch == patch, run.created, run.file)


def build_rows(runs: list[Run], *, best_scale: bool = False) -> list[Row]:
    """One row per (checkpoint, variant, zero-shot views, modulation setting); see the module docstring.
    Cells of few-shot grids are left out: they have a table of their own (fewshot_table.py)."""
    runs = [r for r in runs if r.few_shot is None]
    zero = [r for r in runs if r.protocol == "zero-shot"]
    close = [r for r in runs if r.protocol != "zero-shot"]
    rows: dict[tuple, Row] = {}
    groups: dict[tuple, dict[str, list[Run]]] = {}
    for r in zero:
        key = (r.checkpoint, r.variant, r.views, r.modulation)
        rows.setdefault(key, Row(r.checkpoint, r.checkpoint_name, r.variant, r.views, r.modulation, r.mod_order, r.model))
        groups.setdefault(key, {}).setdefault(r.column, []).append(r)
    for key, by_column in groups.items():
        rows[key].cells = {column: _zero_shot_cell(col_runs) for column, col_runs in by_column.items()}
    by_checkpoint: dict[str, list[Row]] = {}
    for row in rows.values():
        by_checkpoint.setdefault(row.checkpoint, []).append(row)
    close_by_checkpoint: dict[str, list[Run]] = {}
    for r in close:  # a close-set run no zero-shot row takes gets a row of its own
        close_by_checkpoint.setdefault(r.checkpoint, []).append(r)
        if not any(_close_set_fits(r, row) for row in by_checkpoint.get(r.checkpoint, [])):
            key = (r.checkpoint, r.variant, None, r.modulation)
            if key not in rows:
                rows[key] = Row(r.checkpoint, r.checkpoint_name, r.variant, None, r.modulation, r.mod_order, r.model)
                by_checkpoint.setdefault(r.checkpoint, []).append(rows[key])
    for row in rows.values():
        ranked: dict[str, tuple] = {}
        for r in close_by_checkpoint.get(row.checkpoint, []):
            rank = _close_set_fits(r, row)
            if rank is not None and (r.column not in ranked or rank > ranked[r.column][0]):
                ranked[r.column] = (rank, r)
        for column, (_, r) in ranked.items():
            m, s = mean_std(list(r.splits.values()))
            row.cells[column] = Cell(m, s, sorted(r.splits), [r.file], zero_shot=False)
    out = sorted(rows.values(), key=_default_order)
    return out + (best_scale_rows(out) if best_scale else [])


def _default_order(row: Row) -> tuple:
    return (row.name, row.checkpoint, str(row.variant), str(row.zs_views), row.mod_order)


def best_scale_rows(rows: list[Row]) -> list[Row]:
    """Per (checkpoint, variant): every zero-shot column at its best modulation setting,
    chosen on the test split itself (optimistic; the paper sweeps lambda the same way)."""
    by_group: dict[tuple, list[Row]] = {}
    for row in rows:
        if row.modulation != "off":
            by_group.setdefault((row.checkpoint, row.variant, row.zs_views), []).append(row)
    out = []
    for members in by_group.values():
        if len(members) < 2:
            continue
        first = members[0]
        best = Row(first.checkpoint, first.name, first.variant, first.zs_views, BEST, (2,), first.model)
        columns = sorted({c for m in members for c in m.cells})
        for column in columns:
            candidates = [m for m in members if column in m.cells]
            pick = max(candidates, key=lambda m: m.cells[column].mean)  # first of equals: lowest setting
            best.cells[column] = pick.cells[column]
            if column not in K400_VIEWS.values():
                best.chosen[column] = pick.modulation
        out.append(best)
    return out


# ---------------------------------------------------------------------------- output

SORT_KEYS = ("checkpoint", "name", "variant", "modulation", "ucf", "hmdb", "k600", "k400_1x1", "k400_4x3",
             "hm_zs", "trade_off")


def column_key(column: str) -> str:
    """CSV/sort key of a column: the role, or a slug of an extra column's title."""
    return column if column in ROLE_TITLES else re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def extra_columns(rows: list[Row]) -> list[str]:
    return sorted({c for row in rows for c in row.cells if c not in ROLE_TITLES})


def sort_rows(rows: list[Row], key: str | None) -> list[Row]:
    """Numbers best first (missing last), text ascending."""
    if key is None:
        return rows
    extras = {column_key(c): c for c in extra_columns(rows)}
    if key not in SORT_KEYS and key not in extras:
        raise MoteError(f"--sort {key!r}: expected one of {', '.join(list(SORT_KEYS) + sorted(extras))}")
    if key in ("checkpoint", "name", "modulation"):
        return sorted(rows, key=lambda r: (getattr(r, key), r.mod_order))
    if key == "variant":
        return sorted(rows, key=lambda r: r.variant_label)
    value = {"hm_zs": lambda r: r.hm_zs, "trade_off": lambda r: r.trade_off}.get(
        key, lambda r: r.value(extras.get(key, key)))
    return sorted(rows, key=lambda r: (value(r) is None, -(value(r) or 0.0)))


def _pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{100 * x:.2f}"


def cell_text(cell: Cell | None) -> str:
    """'83.40 ± 0.70' over several splits, '72.10 (split 1)' for one."""
    if cell is None:
        return "-"
    if len(cell.splits) > 1:
        return f"{_pct(cell.mean)} ± {_pct(cell.std)}"
    if cell.zero_shot and cell.splits[0] != "-":
        return f"{_pct(cell.mean)} (split {cell.splits[0]})"  # one split of several: say which
    return _pct(cell.mean)


def notes(row: Row) -> str:
    parts = []
    if row.chosen:
        parts.append("chosen on test: " + "; ".join(f"{ROLE_TITLES.get(c, c)} {m}" for c, m in row.chosen.items()))
    if row.missing:
        parts.append("missing " + ", ".join(row.missing))
    return "; ".join(parts)


def display_columns(rows: list[Row]) -> list[tuple[str, str]]:
    """(title, column) of the table, the fixed columns then other datasets."""
    return [(ROLE_TITLES[c], c) for c in ("ucf", "hmdb", "k600", "k400_1x1", "k400_4x3")] + [
        (c, c) for c in extra_columns(rows)]


def table_cells(rows: list[Row], *, compact: bool = False) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, text cells and notes. Full (markdown): every fixed column and a notes column.
    Compact (the console): checkpoint as 'name id', no column that is empty in every row,
    the variant only when rows differ in it, and notes as numbered lines under the table."""
    columns = display_columns(rows)
    if compact:
        columns = [(t, c) for t, c in columns if any(c in row.cells for row in rows)]
    show_variant = not compact or len({row.variant_label for row in rows}) > 1
    header = (["#", "checkpoint"] if compact else ["checkpoint", "name"]) + (["variant"] if show_variant else [])
    header += ["modulation"] + [t for t, _ in columns] + ["HM_ZS", "trade-off"] + ([] if compact else ["notes"])
    body, footnotes = [], []
    for i, row in enumerate(rows, start=1):
        trade = _pct(row.trade_off) + (f" ({row.k400[1]})" if row.trade_off is not None else "")
        line = [str(i), f"{row.name} {row.checkpoint}"] if compact else [row.checkpoint, row.name]
        line += ([row.variant_label] if show_variant else []) + [row.modulation]
        line += [cell_text(row.cells.get(c)) for _, c in columns] + [_pct(row.hm_zs) or "-", trade or "-"]
        if compact:
            footnotes += [f"#{i}: {notes(row)}"] if notes(row) else []
        else:
            line.append(notes(row))
        body.append(line)
    return header, body, footnotes


def to_text(rows: list[Row], *, title: str = "") -> str:
    """The console table: plain aligned text (rich measures every cell and takes about
    0.5 s for 300 rows; this takes milliseconds), then the numbered notes."""
    header, body, footnotes = table_cells(rows, compact=True)
    widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h) for i, h in enumerate(header)]
    left = {"checkpoint", "variant", "modulation"}

    def fmt(line: list[str]) -> str:
        return "  ".join(c.ljust(w) if h in left else c.rjust(w) for c, w, h in zip(line, widths, header)).rstrip()

    lines = ([title] if title else []) + [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(b) for b in body]
    return "\n".join(lines + footnotes) + "\n"


def to_markdown(rows: list[Row]) -> str:
    header, body, _ = table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    """Percentages with two decimals; empty where a figure is missing."""
    roles = ["ucf", "hmdb", "k600"] + [column_key(c) for c in extra_columns(rows)]
    columns = {column_key(c): c for c in extra_columns(rows)} | {r: r for r in ROLE_TITLES}
    header = ["checkpoint", "name", "variant", "modulation", "chosen_on_test"]
    for key in roles:
        header += [key, f"{key}_std", f"{key}_splits"]
    header += ["k400_1x1", "k400_4x3", "hm_zs", "trade_off", "trade_off_views", "missing", "files"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        line = [row.checkpoint, row.name, row.variant_label, row.modulation, str(row.chosen_on_test).lower()]
        for key in roles:
            cell = row.cells.get(columns[key])
            line += ["", "", ""] if cell is None else [_pct(cell.mean), _pct(cell.std), " ".join(cell.splits)]
        line += [_pct(row.value("k400_1x1")), _pct(row.value("k400_4x3")), _pct(row.hm_zs), _pct(row.trade_off),
                 row.k400[1] or "", "; ".join(row.missing), " ".join(row.files)]
        writer.writerow(line)
    return buf.getvalue()


def row_dict(row: Row) -> dict:
    """A row for JSON: fractions, not percentages."""
    k400, views = row.k400
    return dict(
        checkpoint=row.checkpoint, name=row.name, model=row.model, variant=row.variant_label, modulation=row.modulation,
        chosen_on_test=row.chosen_on_test, chosen=row.chosen,
        cells={c: dict(top1=cell.mean, std=cell.std, splits=cell.splits, files=cell.files) for c, cell in row.cells.items()},
        hm_zs=row.hm_zs, k400=k400, k400_views=views, trade_off=row.trade_off, missing=row.missing, files=row.files,
    )


def to_json(rows: list[Row], skipped: list[str], *, few_shot: list[dict] | None = None) -> str:
    """`few_shot`: the folder's few-shot grids (fewshot_table.grid_dict), under their own key."""
    out = dict(format=TABLE_FORMAT, format_version=TABLE_VERSION, rows=[row_dict(r) for r in rows], skipped=skipped)
    if few_shot:
        out["few_shot"] = few_shot
    return json.dumps(out, indent=1) + "\n"


def summary_rows(results_dir: str | Path, checkpoints: set[str], *, best_scale: bool = False) -> list[Row]:
    """The rows of these checkpoint ids, from every results file in the folder."""
    runs, _ = read_results_dir(results_dir)
    return [row for row in build_rows(runs, best_scale=best_scale) if row.checkpoint in checkpoints]
