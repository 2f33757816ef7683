"""House rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import pathlib

import nephos

PACKAGE = pathlib.Path(nephos.__file__).parent
FACES = {"cli", "tui"}
UI_LIBRARIES = {"typer", "rich", "textual", "click"}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_ui_library() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in FACES:
            continue
        bad = _imports(path) & UI_LIBRARIES
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []


def test_every_module_starts_with_a_docstring() -> None:
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []
