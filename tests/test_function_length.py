"""No function in motecli/ over MAX_LINES lines without a reason written down here.

Lines run from the `def` to the last line of the body, docstring included (ast, so
nothing is imported). A long function that has earned it goes into ALLOWED with
its reason; an entry that no longer needs its place must leave.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "motecli"
MAX_LINES = 60

# "path relative to motecli/:function" -> why it may be longer.
ALLOWED: dict[str, str] = {}


def long_functions(package: Path = PACKAGE, limit: int = MAX_LINES) -> dict[str, int]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found[f"{path.relative_to(package)}:{node.name}"] = lines
    return found


def test_no_long_function_without_a_reason():
    unexplained = {name: lines for name, lines in long_functions().items() if name not in ALLOWED}
    assert unexplained == {}, f"over {MAX_LINES} lines: shorten them, or add them to ALLOWED with a reason"


def test_allowed_entries_are_still_needed():
    assert sorted(set(ALLOWED) - set(long_functions())) == []


def test_the_check_counts_lines(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert long_functions(tmp_path) == {"m.py:long": MAX_LINES + 1}
