"""Two teams, each with its own Neon account on one emulator over the local engine (real
databases behind the API), over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations
from neon_emulator import NeonEmulator
from tests.postgres_plugin import engine_url

#: One key per account; the emulator refuses every other key.
KEY_A = "napi_team_a_" + uuid.uuid4().hex
KEY_B = "napi_team_b_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def emulator(pg_server) -> Iterator[NeonEmulator]:
    backend = LocalEngine(engine_url(), control_db=f"cknb_{uuid.uuid4().hex[:8]}")
    try:
        with NeonEmulator(backend, op_duration=0) as emu:
            emu.account_add(KEY_A, "team-a")
            emu.account_add(KEY_B, "team-b")
            yield emu
    finally:
        backend.destroy()


def neon_engine(emulator: NeonEmulator, key: str) -> NeonEngine:
    return NeonEngine(key, api_url=emulator.url, backoff_initial=0.01, backoff_max=0.05)


def raw_project(emulator: NeonEmulator, key: str, name: str):
    """A Neon project made outside Checkpoints (as in the account's console)."""
    with neon_engine(emulator, key) as engine:
        created = engine.project_create(name=name)
        wait_for_operations(engine, created.project.id, created.operations)
    return created
