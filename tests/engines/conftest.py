"""Engine fixtures: `engine` runs each contract test on every engine in ENGINE_FACTORIES.

A factory takes the pytest request (to reach other fixtures) and returns a context manager
yielding an isolated engine that cleans up after itself. The Neon engine adds itself here
("neon": its factory over the HTTP emulator); contract tests use only the Engine interface.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from checkpoints.engines.base import Engine
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import LocalEngine


@contextmanager
def local_engine(request: pytest.FixtureRequest, **kwargs: Any) -> Iterator[LocalEngine]:
    """A LocalEngine on the test server with its own control database, destroyed after."""
    server = request.getfixturevalue("pg_server")
    engine = LocalEngine(
        server.url("postgres"), control_db=f"ckt_{uuid.uuid4().hex[:10]}", **kwargs
    )
    try:
        yield engine
    finally:
        engine.destroy()


ENGINE_FACTORIES: dict[str, Callable[..., AbstractContextManager[Engine]]] = {
    "local": local_engine,
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
