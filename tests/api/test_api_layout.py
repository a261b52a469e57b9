"""The API, the MCP server and the commands: small modules, short functions, and the MCP
server imports nothing of /api/v1 (what both need lives below them), counting imports
inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "checkpoints"
SHARED = ["serialize.py", "refusals.py", "paging.py", "tokens.py"]
MODULES = sorted(
    [
        *(ROOT / "api").glob("*.py"),
        *(ROOT / "mcp").glob("*.py"),
        *(p for p in (ROOT / "management").rglob("*.py") if p.name != "benchmark.py"),
        *(ROOT / name for name in SHARED),
    ]
)


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small_and_functions_short(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 250
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 50, node.name


def test_mcp_imports_nothing_of_the_api():
    for path in (ROOT / "mcp").glob("*.py"):
        sideways = {
            m for m in _imports(ast.parse(path.read_text())) if m.startswith("checkpoints.api")
        }
        assert sideways == set(), (path.name, sideways)
    for path in [*(ROOT / "api").glob("*.py"), *(ROOT / name for name in SHARED)]:
        upward = {m for m in _imports(ast.parse(path.read_text())) if "checkpoints.mcp" in m}
        assert upward == set(), (path.name, upward)


def test_the_openapi_description_is_a_data_file():
    source = (ROOT / "api" / "openapi.py").read_text()
    assert (ROOT / "api" / "openapi.json").is_file() and len(source.splitlines()) < 60
