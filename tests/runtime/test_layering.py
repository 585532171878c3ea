"""runtime/ is the Flask-free core: nothing under it may import flask or a web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import modelserve.runtime

FORBIDDEN = {"flask", "flask_wtf", "flask_babel", "flask_bootstrap", "werkzeug", "wtforms"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level >= 2:
            roots.add("modelserve-outside-runtime")  # `from ..web import x` escapes runtime/
    return roots


def test_runtime_never_imports_flask() -> None:
    folder = Path(modelserve.runtime.__file__).parent
    offenders = {
        str(p.relative_to(folder)): sorted(
            imported_roots(p) & (FORBIDDEN | {"modelserve-outside-runtime"})
        )
        for p in folder.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_catches_a_flask_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from flask import Flask\nimport werkzeug.exceptions\n")
    assert {"flask", "werkzeug"} <= imported_roots(bad)
