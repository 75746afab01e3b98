"""The Typer application object and its error handling.

Command modules under `motecli/commands/` attach themselves to `app`; each
command imports its stage inside its body so that `mote --help` never pays
for torch, open_clip or h5py.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click
import typer
from typer.core import TyperGroup

from .env import debug_enabled, enable_debug
from .errors import MoteError

log = logging.getLogger("mote")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_flags_as_flags(params) -> None:
    """Typer's help shows `<bool>` after a flag (`--plot --no-plot <bool>`), which reads
    as if it took a value: a flag gets an empty metavar, so its row shows no type.
    (Duck-typed: typer ships its own copy of click, whose classes are not click's.)"""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class MoteGroup(TyperGroup):
    """Turns every failure into one line on stderr and a non-zero exit; flags show as flags in --help."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _show_flags_as_flags(params)
        return params

    def get_command(self, ctx, cmd_name: str):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _show_flags_as_flags(command.get_params(ctx))
        return command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, typer.Exit, typer.Abort):
            # Typer's own Exit/Abort are RuntimeErrors, not click's: normal control flow.
            raise
        except KeyboardInterrupt:
            click.echo("mote: interrupted", err=True)
            sys.exit(130)
        except MoteError as err:
            if debug_enabled():
                traceback.print_exc()
            click.echo(f"mote: error: {_one_line(err)}", err=True)
            sys.exit(err.exit_code)
        except Exception as err:  # a bug, not bad input: still no traceback by default
            if debug_enabled():
                traceback.print_exc()
            click.echo(
                f"mote: internal error: {type(err).__name__}: {_one_line(err)} "
                "(re-run with --debug for the traceback)",
                err=True,
            )
            sys.exit(1)


app = typer.Typer(
    cls=MoteGroup,
    name="mote",
    help="MoTE on CLIP: decode videos, encode text, train, merge, cache frame features, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def setup_logging(verbose: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("mote")
    root.handlers.clear()
    root.addHandler(RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False))
    root.setLevel(level)
    root.propagate = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output."),
) -> None:
    if debug:
        enable_debug()
    setup_logging(verbose)
