"""The "neon" entry of the engine contract suite: NeonEngine over the emulator over the
local engine, one emulator for the whole session (started on first use)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from neon_emulator.schema import OpenAPIChecker
from neon_emulator.server import NeonEmulator
from tests.postgres_plugin import engine_url

API_KEY = "napi_contract_" + uuid.uuid4().hex
_lock = threading.Lock()
_emulator: NeonEmulator | None = None


def shared_emulator(request: pytest.FixtureRequest) -> NeonEmulator:
    """The session's emulator, backed by a LocalEngine on the test PostgreSQL server."""
    global _emulator
    with _lock:
        if _emulator is None:
            request.getfixturevalue("pg_server")  # the server is up
            backend = LocalEngine(engine_url(), control_db=f"ckn_{uuid.uuid4().hex[:10]}")
            _emulator = NeonEmulator(
                backend, api_key=API_KEY, op_duration=0.05, checker=OpenAPIChecker()
            ).start()
            request.config.add_cleanup(_stop)
        return _emulator


def _stop() -> None:
    global _emulator
    if _emulator is not None:
        _emulator.stop()
        _emulator = None


@contextmanager
def neon_engine(request: pytest.FixtureRequest) -> Iterator[NeonEngine]:
    """A NeonEngine talking HTTP to the shared emulator; its projects are removed after."""
    emulator = shared_emulator(request)
    before = set(emulator.project_ids())
    emulator.schema_errors.clear()
    engine = NeonEngine(API_KEY, api_url=emulator.url, backoff_initial=0.02, backoff_max=0.5)
    try:
        yield engine
    finally:
        engine.close()
        for project_id in set(emulator.project_ids()) - before:
            emulator.drop_project(project_id)
    assert emulator.schema_errors == [], "emulator traffic drifted from Neon's OpenAPI shapes"
