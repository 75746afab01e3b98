"""The one exception type a user is meant to see.

Anything raised as `MoteError` is printed by the CLI as a single line and the
process exits non-zero; other exceptions are bugs and are reported the same
way but with a hint to re-run with `--debug` for the traceback.
"""


class MoteError(Exception):
    """Bad input or an unusable environment, explained in one line."""

    exit_code = 1
