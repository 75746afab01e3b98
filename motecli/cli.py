"""Entry point of the `mote` command. Each stage's commands live in `motecli/commands/`."""

from .cli_app import app
from .commands import text as _text  # noqa: F401  (registers commands)

def main() -> None:
    app()
