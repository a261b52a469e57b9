"""Engine fixtures: `engine` runs each contract test on every engine in ENGINE_FACTORIES.

A factory takes the pytest request (to reach other fixtures) and returns a context manager
yielding an isolated engine (its own control database or emulator, per test or per module)
that cleans up after itself. The Neon engine adds itself here ("neon": its factory over
the HTTP emulator); contract tests use only the Engine interface.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from checkpoints.engines.base import Engine
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import LocalEngine
from tests.neon_contract import neon_engine
from tests.postgres_plugin import engine_url


@pytest.fixture(scope="module")
def local_module_engine(pg_server) -> Iterator[LocalEngine]:
    """One LocalEngine per test module, with its own control database, destroyed after."""
    engine = LocalEngine(engine_url(), control_db=f"ckt_{uuid.uuid4().hex[:10]}")
    try:
        yield engine
    finally:
        engine.destroy()


@contextmanager
def local_engine(request: pytest.FixtureRequest) -> Iterator[LocalEngine]:
    """The module's LocalEngine; projects made during the test are deleted after it."""
    engine: LocalEngine = request.getfixturevalue("local_module_engine")
    engine.fault_hook = None
    before = {project.id for project in engine.project_list()}
    try:
        yield engine
    finally:
        engine.fault_hook = None
        for project in engine.project_list():
            if project.id not in before:
                engine.project_delete(project.id)


ENGINE_FACTORIES: dict[str, Callable[..., AbstractContextManager[Engine]]] = {
    "local": local_engine,
    "neon": neon_engine,
}


@pytest.fixture(params=sorted(ENGINE_FACTORIES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with ENGINE_FACTORIES[request.param](request) as made:
        yield made


@pytest.fixture
def local(request: pytest.FixtureRequest) -> Iterator[LocalEngine]:
    """The local engine alone, for local-only tests."""
    with local_engine(request) as made:
        yield made


@pytest.fixture
def sql() -> Callable[..., list[tuple]]:
    """sql(uri, query, params=None) -> rows, through the swap-tolerant `connect`."""
    return run_sql
