"""The package graph reads top to bottom: a module imports from its own package or
from a strictly lower level, never from a higher one or a sibling at its level.

Parsed with ast (nothing is imported), so the test also sees imports inside
function bodies, where the CLI defers its heavy ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "motecli"

# Highest first. A name is a subpackage or a top-level module of motecli.
LEVELS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"commands"},
    {"cli_app"},
    {"demo", "fewshot"},
    {"eval", "doctor", "inventory"},
    {"cache"},
    {"merge", "train", "decode", "pretrain"},
    {"data", "text", "checkpoints"},
    {"model"},
    # Ground: small torch-free modules every stage may use.
    {"hashing", "progress", "cachecard"},
    {"atomic", "env", "textfile", "lifeline"},
    {"constants", "errors", "__init__", "assets"},
]
LEVEL_OF = {name: i for i, names in enumerate(LEVELS) for name in names}


def unit_of(path: Path, package: Path) -> str:
    """The subpackage or top-level module that `path` belongs to."""
    rel = path.relative_to(package)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_units(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, unit) of every motecli unit that `path` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = list(path.relative_to(package).parts[:-1])  # the package `path` is in
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)] if node.level > 1 else package_parts
                target = [*base, *(node.module.split(".") if node.module else [])]
                if not target:  # `from . import x` at the top of the package
                    target = [alias.name for alias in node.names][:1]
            elif node.module and node.module.split(".")[0] == "motecli":
                target = node.module.split(".")[1:]
            else:
                continue
            if not target and node.names:
                target = [node.names[0].name]
            found.append((node.lineno, target[0]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "motecli" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        unit = unit_of(path, package)
        if unit not in LEVEL_OF:
            problems.append(f"{path.relative_to(package)}: '{unit}' has no level in LEVELS")
            continue
        for line, target in imported_units(path, package):
            if target == unit:
                continue
            if target not in LEVEL_OF:
                problems.append(f"{path.relative_to(package)}:{line}: imports '{target}', which has no level")
            elif LEVEL_OF[target] <= LEVEL_OF[unit]:
                problems.append(f"{path.relative_to(package)}:{line}: {unit} imports {target} (same or higher level)")
    return problems


def test_every_import_points_down():
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path):
    """A lower package importing a higher one, at module level or inside a function, is caught."""
    pkg = tmp_path / "motecli"
    (pkg / "model").mkdir(parents=True)
    (pkg / "eval").mkdir()
    (pkg / "model" / "head.py").write_text("def f():\n    from ..eval.runner import evaluate\n")
    (pkg / "eval" / "runner.py").write_text("from ..model.head import f\nimport motecli.model\n")
    (pkg / "data").mkdir()
    (pkg / "data" / "layouts.py").write_text("from motecli.text.labels import read\n")
    found = violations(pkg)
    assert any("model imports eval" in p for p in found), found
    assert any("data imports text" in p for p in found), found
    assert not any(p.startswith("eval") for p in found), found


@pytest.mark.parametrize("unit", sorted(LEVEL_OF))
def test_levels_name_real_units(unit):
    assert (PACKAGE / unit).is_dir() or (PACKAGE / f"{unit}.py").is_file(), f"LEVELS names {unit}, which does not exist"
