"""The local engine's package keeps its shape: no Django, nothing of the app above the
engines, small modules and functions (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import checkpoints.engines.local as package

ROOT = Path(package.__file__).parent
MODULES = sorted(ROOT.glob("*.py"))


def _imports(tree: ast.Module) -> list[tuple[str, int]]:
    """(module, relative level) of every import, at any depth (functions included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_the_package_has_its_modules():
    names = {path.stem for path in MODULES}
    assert {"engine", "core", "restore", "swap", "warm", "recover", "sql"} <= names


def test_no_module_imports_django_or_the_app_above_the_engines():
    for path in MODULES:
        for module, level in _imports(ast.parse(path.read_text())):
            where = f"{path.name} imports {'.' * level}{module}"
            assert level <= 2, where  # at most checkpoints.engines.<x>
            if level == 0:
                assert not module.startswith("django"), where
                assert (
                    module == "checkpoints.engines"
                    or not module.startswith("checkpoints")
                    or module.startswith("checkpoints.engines.")
                ), where


def test_modules_and_functions_stay_small():
    for path in MODULES:
        text = path.read_text()
        assert len(text.splitlines()) <= 250, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 50, f"{path.name}: {node.name} has {length} lines"
