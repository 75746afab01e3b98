"""Entry point of the `mote` command. Each stage's commands live in `motecli/commands/`."""

from .cli_app import app
from .commands import data, demo, evaluate, fewshot, housekeeping, merge, predict, pretrain, results, text, train  # noqa: F401  (attach commands to app)


def main() -> None:
    app(prog_name="mote")
