"""The layers hold (import-linter's contracts in pyproject.toml) and no app module is in
an import cycle, counting imports inside functions; every job kind finds its runner."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from django.utils.module_loading import import_string

from checkpoints import tasks
from checkpoints.jobs.run import RUNNERS
from checkpoints.models import Job

ROOT = Path(__file__).resolve().parent.parent

#: Cycles allowed, each with its reason (none today: keep it so).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _cycles(*packages: str) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan), from grimp's graph."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(group)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_import_contracts_are_kept():
    # In a process of its own: import-linter configures logging with dictConfig, which
    # disables every logger that exists already (later tests would see no log records).
    linted = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_no_app_module_is_in_an_import_cycle():
    cycles = _cycles("checkpoints", "contacts")
    unknown = [sorted(group) for group in cycles if frozenset(group) not in KNOWN_CYCLES]
    assert unknown == []


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path, monkeypatch):
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from cyclic_pkg import high\n    return high\n")
    (package / "high.py").write_text("from cyclic_pkg import low\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("cyclic_pkg") == [{"cyclic_pkg.low", "cyclic_pkg.high"}]


@pytest.mark.parametrize("kind", Job.Kind.values)
def test_every_job_kind_has_its_runner_found_by_grepping_its_kind(kind):
    runner = RUNNERS[kind]
    source = Path(inspect.getsourcefile(runner)).read_text()
    name = Job.Kind(kind).name
    assert re.search(rf"@runner\([^)]*Job\.Kind\.{name}\b", source), runner.__module__
    assert runner.__module__.startswith("checkpoints.jobs.")


def test_the_stored_task_paths_still_point_at_tasks():
    for path in (
        "checkpoints.tasks.job_run",
        "checkpoints.tasks.preview_expire",
        "checkpoints.tasks.cleanup_periodic",
    ):
        assert import_string(path).module_path == path
    assert set(tasks.LEGACY_TASK_PATHS.values()) == {tasks.PERIODIC_TASK_PATH}


#: Modules that may be longer: the models and the settings are declarations, not code.
LONG_ALLOWED = {"checkpoints/models.py", "checkpoints/settings.py"}
MAX_MODULE_LINES = 250
MAX_FUNCTION_LINES = 50


def _app_modules() -> list[Path]:
    found = []
    for package in ("checkpoints", "contacts", "neon_emulator"):
        found += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return sorted(found)


def test_every_app_module_has_at_most_250_lines():
    long = [
        f"{path.relative_to(ROOT)}: {lines}"
        for path in _app_modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
        and str(path.relative_to(ROOT)) not in LONG_ALLOWED
    ]
    assert long == []


def test_every_app_function_has_at_most_50_lines():
    long = []
    for path in _app_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines}")
    assert long == []
