"""A restore finalized apart (Neon's `finalize_restore` call), over HTTP against the
emulator on both backends: the restored branch takes the live name and endpoint, the
replaced branch gets the name asked for, only a not-yet-finalized restore is eligible."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from checkpoints.engines.errors import EngineError
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations
from neon_emulator import FakeBackend, NeonEmulator
from neon_emulator.schema import OpenAPIChecker
from tests.postgres_plugin import engine_url

API_KEY = "napi_finalize_key_" + uuid.uuid4().hex


class Recording(httpx.HTTPTransport):
    """Remembers every request (method, path, JSON body)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, object]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        return super().handle_request(request)


@pytest.fixture(params=["fake", "local"])
def emulator(request) -> Iterator[NeonEmulator]:
    if request.param == "fake":
        backend, destroy = FakeBackend(), None
    else:
        request.getfixturevalue("pg_server")
        backend = LocalEngine(engine_url(), control_db=f"cknf_{uuid.uuid4().hex[:8]}")
        destroy = backend.destroy
    try:
        with NeonEmulator(
            backend, api_key=API_KEY, op_duration=0.05, checker=OpenAPIChecker()
        ) as emu:
            yield emu
    finally:
        if destroy:
            destroy()


def test_restore_then_finalize_names_the_replaced_branch(emulator: NeonEmulator) -> None:
    transport = Recording()
    with NeonEngine(API_KEY, api_url=emulator.url, transport=transport) as neon:
        created = neon.project_create(name="finalize")
        pid, main = created.project.id, created.branch.id
        wait_for_operations(neon, pid, created.operations)
        snap = neon.snapshot_create(pid, main, name="v1")
        wait_for_operations(neon, pid, snap.operations)

        restored = neon.snapshot_restore(
            pid, snap.snapshot.id, target_branch_id=main, name="v1 (restoring, job #7)"
        )
        wait_for_operations(neon, pid, restored.operations)
        new = restored.branch.id
        # Not finalized: the target keeps its name and endpoint.
        assert restored.orphan_branch_id is None
        assert neon.branch_get(pid, new).restore_status == "restored"
        assert neon.branch_get(pid, main).name == "main"
        assert {e.branch_id for e in neon.endpoint_list(pid)} == {main}

        ops = neon.branch_finalize_restore(pid, new, old_name="before v1 (old, job #7)")
        wait_for_operations(neon, pid, ops)
        assert neon.branch_get(pid, main).name == "before v1 (old, job #7)"
        finalized = neon.branch_get(pid, new)
        assert (finalized.name, finalized.restore_status, finalized.default) == (
            "main",
            "finalized",
            True,
        )
        assert {e.branch_id for e in neon.endpoint_list(pid)} == {new}
        posts = [(path, body) for method, path, body in transport.sent if method == "POST"]
        assert posts[-2][1] == {
            "finalize_restore": False,
            "target_branch_id": main,
            "name": "v1 (restoring, job #7)",
        }
        assert posts[-1] == (
            f"/api/v2/projects/{pid}/branches/{new}/finalize_restore",
            {"name": "before v1 (old, job #7)"},
        )

        # Only a restored, not yet finalized branch is eligible: a 4xx, nothing changed.
        for branch_id in (new, main):
            with pytest.raises(EngineError) as info:
                neon.branch_finalize_restore(pid, branch_id, old_name="again")
            assert info.value.status is not None and 400 <= info.value.status < 500
        assert neon.branch_get(pid, main).name == "before v1 (old, job #7)"
        assert {e.branch_id for e in neon.endpoint_list(pid)} == {new}

        # Cleanup deletes exactly the replaced branch.
        wait_for_operations(neon, pid, neon.branch_delete(pid, main))
        assert [b.id for b in neon.branch_list(pid)] == [new]
        neon.project_delete(pid)
    assert emulator.schema_errors == []


def test_finalize_refuses_a_name_already_taken(emulator: NeonEmulator) -> None:
    with NeonEngine(API_KEY, api_url=emulator.url) as neon:
        created = neon.project_create(name="taken")
        pid, main = created.project.id, created.branch.id
        wait_for_operations(neon, pid, created.operations)
        snap = neon.snapshot_create(pid, main, name="v1")
        wait_for_operations(neon, pid, snap.operations)
        first = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=main, name="r1")
        second = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=main, name="r2")
        wait_for_operations(neon, pid, [*first.operations, *second.operations])
        with pytest.raises(EngineError) as info:
            neon.branch_finalize_restore(pid, second.branch.id, old_name="r1")
        assert info.value.status is not None and 400 <= info.value.status < 500
        assert neon.branch_get(pid, main).name == "main"
        assert {e.branch_id for e in neon.endpoint_list(pid)} == {main}
        neon.project_delete(pid)
    assert emulator.schema_errors == []
