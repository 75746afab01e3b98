"""The one exception type a user is meant to see.

Anything raised as `MoteError` is printed by the CLI as a single line and the
process exits non-zero; other exceptions are bugs and are reported the same
way but with a hint to re-run with `--debug` for the traceback.
"""

import re

# torch's DataLoader re-raises a worker's exception in the main process as
# `type(text)`, text being "Caught NAME in DataLoader worker process N.\nOriginal
# Traceback ...\n<module>.NAME: <message>": a MoteError keeps only its message.
_WORKER_WRAPPED = re.compile(r"\ACaught (\w+) in [^\n]*\.\nOriginal Traceback")


def worker_message(text: str) -> str:
    """The worker's own message inside torch's re-raised text, or `text` unchanged."""
    wrapped = _WORKER_WRAPPED.match(text)
    if wrapped is None:
        return text
    last = re.findall(rf"^(?:[\w.]+\.)?{wrapped.group(1)}: (.*)$", text, flags=re.M)
    return last[-1] if last else text


class MoteError(Exception):
    """Bad input or an unusable environment, explained in one line."""

    exit_code = 1
    worker_traceback: str | None = None  # torch's text of a worker's error, kept for --debug

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and worker_message(args[0]) != args[0]:
            self.worker_traceback = args[0]
            args = (worker_message(args[0]),)
        super().__init__(*args)
