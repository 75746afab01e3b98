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

import typer
from typer.core import TyperGroup

from .env import debug_enabled, enable_debug
from .errors import MoteError

log = logging.getLogger("mote")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# Exit codes (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # bad input or an unusable environment: a MoteError, or a bug ("internal error")
# 2: the command line itself (unknown command or option, missing or malformed value): Click exits with it.
EXIT_SKIPPED = 3  # finished, but unreadable videos were excluded (only with --fail-on-skipped)
EXIT_INTERRUPTED = 130


def _show_flags_as_flags(params) -> None:
    """Typer's help shows `<bool>` after a flag (`--plot --no-plot <bool>`), which reads
    as if it took a value: a flag gets an empty metavar, so its row shows no type.
    (Duck-typed: typer ships its own copy of click, whose classes are not click's.)"""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _framework_exceptions() -> tuple[type[BaseException], ...]:
    """Exceptions that are Click's or Typer's control flow (usage errors, --help, exit,
    abort), which Click itself prints and turns into its exit codes. Typer >= 0.20 vendors
    Click, so both its classes and those of a separately installed click count."""
    classes: list[type[BaseException]] = [typer.Exit, typer.Abort]
    if hasattr(typer, "TyperException"):  # typer >= 0.20 only
        classes.append(typer.TyperException)
    try:
        import click

        classes += [click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort]
    except ImportError:
        pass
    return tuple(classes)


FRAMEWORK_EXCEPTIONS = _framework_exceptions()
# Click's UsageError, whichever Click Typer uses (public only through BadParameter).
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class MoteGroup(TyperGroup):
    """Our own errors as one line on stderr; Click's usage errors as Click prints them;
    flags show as flags in --help."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _show_flags_as_flags(params)
        return params

    def get_command(self, ctx, cmd_name: str):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _show_flags_as_flags(command.get_params(ctx))
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as err:
            if err.ctx is None:  # raised by the parser (e.g. an option without its value)
                self._attach_command_context(ctx, err)
            raise  # Click prints the usage block, "Try 'mote COMMAND -h'", the error; exit 2
        except FRAMEWORK_EXCEPTIONS:
            raise  # --help, a normal exit, an abort
        except KeyboardInterrupt:
            typer.echo("mote: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except MoteError as err:
            if debug_enabled():
                traceback.print_exc()
                if err.worker_traceback:  # raised in a DataLoader worker: where it was raised there
                    typer.echo(err.worker_traceback, err=True)
            typer.echo(f"mote: error: {_one_line(err)}", err=True)
            sys.exit(err.exit_code)
        except Exception as err:  # a bug, not bad input: still no traceback by default
            if debug_enabled():
                traceback.print_exc()
            typer.echo(
                f"mote: internal error: {type(err).__name__}: {_one_line(err)} "
                "(re-run with --debug for the traceback)",
                err=True,
            )
            sys.exit(EXIT_ERROR)

    def _attach_command_context(self, ctx, err) -> None:
        """Give a parser error the context of the command it is about, so that Click
        prints that command's usage line with it."""
        name = ctx.invoked_subcommand
        command = self.get_command(ctx, name) if name else None
        if command is None:
            return
        try:
            err.ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
            err.cmd = command
        except Exception:  # the error is still shown, only without the usage line
            pass


app = typer.Typer(
    cls=MoteGroup,
    name="mote",
    help="MoTE on CLIP: decode videos, encode text, train, merge, cache frame features, evaluate.",
    no_args_is_help=True,
    invoke_without_command=True,  # so that `mote --version` needs no command
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (README, "Shell completion")
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Set by the root option --fail-on-skipped; read by the commands that can skip videos.
_fail_on_skipped = False


def setup_logging(verbose: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("mote")
    root.handlers.clear()
    root.addHandler(RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False))
    root.setLevel(level)
    root.propagate = False


def finish_skipped(count: int, what: str) -> None:
    """End a command that finished with `count` unreadable videos excluded: a warning, and
    exit code 3 instead of 0 under `mote --fail-on-skipped`."""
    if count <= 0:
        return
    log.warning("%d unreadable video%s excluded from %s", count, "s" if count != 1 else "", what)
    if _fail_on_skipped:
        raise typer.Exit(EXIT_SKIPPED)


def complete_dataset(incomplete: str) -> list[str]:
    """Shell completion after --dataset: the dataset names of the datasets config."""
    import tomllib

    from .env import datasets_config

    try:
        config = tomllib.loads(datasets_config().read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    return [name for name, table in config.items() if isinstance(table, dict) and name.startswith(incomplete)]


def print_version(verbose: bool) -> None:
    from .hashing import package_version

    typer.echo(f"mote {package_version('motecli')}")
    if verbose:
        from .doctor import environment_report

        for name, value in environment_report().items():
            typer.echo(f"  {name}: {value}")


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print mote's version (with --verbose: the environment's too) and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output."),
    fail_on_skipped: bool = typer.Option(
        False, "--fail-on-skipped", help="Exit with code 3 when a run finished but excluded unreadable videos."),
) -> None:
    global _fail_on_skipped
    if debug:
        enable_debug()
    if version:
        print_version(verbose)
        raise typer.Exit(EXIT_OK)
    if ctx.invoked_subcommand is None:
        raise UsageError("Missing command.", ctx)
    _fail_on_skipped = fail_on_skipped
    setup_logging(verbose)
