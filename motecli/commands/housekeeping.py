"""`mote doctor`, `mote cache list` and `mote cache clear`: the environment and the cache root."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from ..cli_app import MoteGroup, app, complete_dataset

cache_app = typer.Typer(cls=MoteGroup, no_args_is_help=True,
                        help="List the caches under the cache root, or remove some of them.")
app.add_typer(cache_app, name="cache")

SORT_KEYS = ("size", "age", "kind", "path")


@app.command("doctor")
def doctor(
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of lines."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE",
                                          help="Datasets config to check (default $MOTE_DATASETS or ./datasets.toml)."),
) -> None:
    """Check what a run needs: torch, decoders, HDF5, the cache root, datasets, the default checkpoint."""
    from ..doctor import FAIL, run_checks, summary

    started = time.perf_counter()
    checks = run_checks(config=config, progress=None if as_json else lambda c: typer.echo(c.line()))
    report = summary(checks)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        c = report["counts"]
        verdict = "all checks passed" if report["ok"] else f"{c['fail']} check(s) failed"
        typer.echo(f"{verdict} ({c['ok']} ok, {c['warn']} warnings, {c['fail']} failed) "
                   f"in {time.perf_counter() - started:.1f} s")
    if any(check.status == FAIL for check in checks):
        raise typer.Exit(1)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return "just now"


def _sorted(entries, sort: str):
    if sort not in SORT_KEYS:
        from ..errors import MoteError

        raise MoteError(f"--sort {sort!r}: expected one of {', '.join(SORT_KEYS)}")
    key = {"size": lambda e: -e.size, "age": lambda e: e.last_used, "kind": lambda e: (e.kind, -e.size),
           "path": lambda e: str(e.path)}[sort]
    return sorted(entries, key=key)


def _print_table(entries, root: Path, *, title: str) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    from ..doctor import human_bytes

    now = time.time()
    table = Table(title=title, title_justify="left")
    for column in ("kind", "size", "complete", "last used", "belongs to", "path"):
        table.add_column(column, justify="right" if column == "size" else "left", overflow="fold")
    for e in entries:
        complete = {True: "yes", False: "no", None: "-"}[e.complete]
        if e.writers:
            complete += f" (writing: pid {e.writers[0]})"
        table.add_row(e.kind, human_bytes(e.size), complete, _age(now - e.last_used), e.describe(),
                      os.path.relpath(e.path, root))
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def _totals(entries) -> dict[str, dict]:
    totals: dict[str, dict] = {}
    for e in entries:
        t = totals.setdefault(e.kind, dict(count=0, size=0))
        t["count"] += 1
        t["size"] += e.size
    return totals


def _list(as_json: bool, sort: str) -> None:
    from ..doctor import human_bytes
    from ..env import cache_root
    from ..inventory.scan import scan

    root = cache_root()
    entries = _sorted(scan(root), sort)
    totals = _totals(entries)
    if as_json:
        typer.echo(json.dumps(dict(root=str(root.resolve()), entries=[e.to_json(root) for e in entries],
                                   totals=totals), indent=2, default=str))
        return
    _print_table(entries, root, title=f"caches under {root.resolve()}")
    for kind, t in sorted(totals.items(), key=lambda kv: -kv[1]["size"]):
        typer.echo(f"{kind}: {t['count']} ({human_bytes(t['size'])})")
    typer.echo(f"total: {len(entries)} ({human_bytes(sum(t['size'] for t in totals.values()))})")


_json = typer.Option(False, "--json", help="One JSON object instead of a table.")
_sort = typer.Option("size", "--sort", metavar="KEY", help=f"Order by {', '.join(SORT_KEYS)} (size: largest first).")


@cache_app.command("list")
def cache_list(as_json: bool = _json, sort: str = _sort) -> None:
    """Every cache under the cache root: kind, size, owner, completeness, last use (reads no tensors)."""
    _list(as_json, sort)


@cache_app.command("ls", hidden=True)
def cache_ls(as_json: bool = _json, sort: str = _sort) -> None:
    """Alias of `mote cache list`."""
    _list(as_json, sort)


@cache_app.command("clear")
def cache_clear(
    kind: Optional[List[str]] = typer.Option(None, "--kind", metavar="KIND",
                                             help="text, frame-embeddings, head-cache, frame-store, synthetic, demo, pretrained, "
                                                  "temporary, other; checkpoint and state only when named. Repeatable."),
    checkpoint: Optional[List[str]] = typer.Option(None, "--checkpoint", metavar="FILE|ID",
                                                   help="Caches made with this merged model (path or id). Repeatable."),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", metavar="NAME", help="Caches of this dataset. Repeatable.",
                                                  autocompletion=complete_dataset),
    unused_for: Optional[str] = typer.Option(None, "--unused-for", metavar="AGE", help="Not used for this long: 12h, 30d, 2w."),
    incomplete: bool = typer.Option(False, "--incomplete", help="Only caches that are not complete."),
    everything: bool = typer.Option(False, "--all", help="Every cache (checkpoints and state still only when named by --kind)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be removed and the space it frees; remove nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (needed when not on a terminal)."),
) -> None:
    """Remove caches by kind, checkpoint, dataset, age, or completeness (filters combine)."""
    from ..doctor import human_bytes
    from ..env import cache_root
    from ..errors import MoteError
    from ..inventory.clear import Selection, checkpoint_ref, parse_duration, remove, select
    from ..inventory.scan import scan

    selection = Selection(kinds=tuple(kind or ()), checkpoints=tuple(checkpoint_ref(c) for c in checkpoint or ()),
                          datasets=tuple(dataset or ()),
                          unused_for_s=None if unused_for is None else parse_duration(unused_for),
                          incomplete=incomplete, everything=everything)
    if selection.empty and not everything:
        raise MoteError("name what to clear: --kind, --checkpoint, --dataset, --unused-for, --incomplete, or --all")
    root = cache_root()
    chosen = select(scan(root), selection)
    busy = [e for e in chosen if e.writers]
    chosen = [e for e in chosen if not e.writers]
    freed = sum(e.size for e in chosen)
    for e in busy:
        typer.echo(f"kept (being written by pid {e.writers[0]}): {e.path}", err=True)
    if not chosen:
        typer.echo("nothing to remove")
        return
    _print_table(chosen, root, title=f"{'would remove' if dry_run else 'to remove'}: {len(chosen)}, {human_bytes(freed)}")
    if dry_run:
        typer.echo(f"dry run: {len(chosen)} caches, {human_bytes(freed)} would be freed; nothing removed")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise MoteError("not on a terminal: pass --yes to remove these caches, or --dry-run to only list them")
        typer.confirm(f"Remove {len(chosen)} caches ({human_bytes(freed)})?", abort=True)
    for e in chosen:
        remove(e, root=root)
    typer.echo(f"removed {len(chosen)} caches, freed {human_bytes(freed)}")
