"""NeonEngine end to end over real HTTP against the Neon-API emulator.

Every exchange is checked against shared/neon-api/openapi-subset.json (requests and
responses); a mismatch fails the test that caused it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from checkpoints.engines.base import FINISHED
from checkpoints.engines.errors import (
    EngineInvalidRequest,
    EngineNotFound,
    EngineTransientError,
    OperationFailed,
    OperationTimeout,
)
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.neon import NeonEngine
from checkpoints.engines.operations import wait_for_operations
from neon_emulator import ERROR, HANG, RETRY, STAY_FAILED, FakeBackend, NeonEmulator
from neon_emulator.schema import OpenAPIChecker
from tests.postgres_plugin import engine_url

API_KEY = "napi_e2e_secret_key_abcdefghijklmnop0123"
FAST = {"initial_interval": 0.02, "max_interval": 0.1}


@pytest.fixture(scope="module")
def checker() -> OpenAPIChecker:
    return OpenAPIChecker()


@pytest.fixture(scope="module")
def emulator(checker) -> Iterator[NeonEmulator]:
    with NeonEmulator(FakeBackend(), api_key=API_KEY, op_duration=0.1, checker=checker) as emu:
        yield emu


@pytest.fixture(scope="module")
def local_emulator(checker, pg_server) -> Iterator[NeonEmulator]:
    """The emulator over the local engine: real databases behind the API."""
    backend = LocalEngine(engine_url(), control_db=f"ckne_{uuid.uuid4().hex[:8]}")
    try:
        with NeonEmulator(backend, api_key=API_KEY, op_duration=0.1, checker=checker) as emu:
            yield emu
    finally:
        backend.destroy()


@pytest.fixture(params=["fake", "local"])
def any_emulator(request) -> Iterator[NeonEmulator]:
    emu = request.getfixturevalue("emulator" if request.param == "fake" else "local_emulator")
    emu.clear_faults()
    emu.schema_errors.clear()
    yield emu
    emu.clear_faults()
    assert emu.schema_errors == [], "emulator traffic drifted from Neon's OpenAPI shapes"


@pytest.fixture(autouse=True)
def _schema_clean(emulator: NeonEmulator) -> Iterator[None]:
    emulator.clear_faults()
    emulator.schema_errors.clear()
    yield
    emulator.clear_faults()
    assert emulator.schema_errors == [], "emulator traffic drifted from Neon's OpenAPI shapes"


def make_engine(emulator: NeonEmulator, **kwargs) -> NeonEngine:
    options = {"backoff_initial": 0.02, "backoff_max": 0.2, **kwargs}
    return NeonEngine(API_KEY, api_url=emulator.url, **options)


@pytest.fixture
def neon(emulator: NeonEmulator) -> Iterator[NeonEngine]:
    with make_engine(emulator) as engine:
        yield engine


def wait(engine: NeonEngine, project_id: str, ops, **kwargs):
    return wait_for_operations(engine, project_id, ops, **{**FAST, **kwargs})


def new_project(engine: NeonEngine, name: str = "agent"):
    created = engine.project_create(name=name)
    wait(engine, created.project.id, created.operations)
    return created


def test_versions_rollback_and_preview(any_emulator: NeonEmulator) -> None:
    with make_engine(any_emulator) as neon:
        check_versions_rollback_and_preview(neon)


def check_versions_rollback_and_preview(neon: NeonEngine) -> None:
    created = new_project(neon)
    pid, main = created.project.id, created.branch.id
    assert created.branch.name == "main" and created.branch.is_root
    uri_before = neon.connection_uri(pid)

    v1 = neon.snapshot_create(pid, main, name="v1")
    assert all(op.status != FINISHED for op in v1.operations)
    done = wait(neon, pid, v1.operations)
    assert all(op.status == FINISHED for op in done)
    assert [s.name for s in neon.snapshot_list(pid)] == ["v1"]

    rollback = neon.snapshot_restore(
        pid, v1.snapshot.id, target_branch_id=main, finalize_restore=True
    )
    wait(neon, pid, rollback.operations)
    new_main = rollback.branch.id
    assert new_main != main
    assert rollback.orphan_branch_id == main
    assert rollback.branch.restored_from == v1.snapshot.id
    names = {b.id: b.name for b in neon.branch_list(pid)}
    assert names == {new_main: "main", main: "main (old)"}
    assert neon.connection_uri(pid) == uri_before  # the endpoint moved, same string
    [endpoint] = neon.endpoint_list(pid)
    assert endpoint.branch_id == new_main

    preview = neon.snapshot_restore(pid, v1.snapshot.id, target_branch_id=new_main, name="p1")
    assert preview.orphan_branch_id is None
    ep = neon.endpoint_create(pid, preview.branch.id)
    wait(neon, pid, [*preview.operations, *ep.operations])
    preview_uri = neon.connection_uri(pid, branch_id=preview.branch.id)
    assert preview_uri != uri_before

    wait(neon, pid, neon.branch_delete(pid, main))
    wait(neon, pid, neon.branch_delete(pid, preview.branch.id))
    assert {b.id for b in neon.branch_list(pid)} == {new_main}
    wait(neon, pid, neon.snapshot_delete(pid, v1.snapshot.id))
    assert neon.snapshot_list(pid) == []
    renamed = neon.branch_rename(pid, new_main, "main")
    assert renamed.id == new_main

    with pytest.raises(EngineInvalidRequest):
        neon.branch_delete(pid, new_main)  # the default branch
    with pytest.raises(EngineNotFound):
        neon.branch_get(pid, "br-missing-00000000")
    assert neon.branch_delete(pid, "br-missing-00000000") == []  # Neon: 204
    neon.project_delete(pid)
    with pytest.raises(EngineNotFound):
        neon.project_get(pid)


def test_429_with_retry_after(neon: NeonEngine, emulator: NeonEmulator) -> None:
    pid = new_project(neon).project.id
    emulator.inject("status", path="/snapshots$", status=429, retry_after=0.3)
    started = time.monotonic()
    assert neon.snapshot_list(pid) == []
    assert time.monotonic() - started >= 0.3
    assert [s for m, p, s in emulator.requests if p.endswith("/snapshots")][-2:] == [429, 200]


def test_rate_limit_is_absorbed(checker) -> None:
    backend = FakeBackend()
    with (
        NeonEmulator(backend, op_duration=0, rate_limit=4, rate_window=0.3, checker=checker) as emu,
        make_engine(emu) as engine,
    ):
        pid = engine.project_create(name="busy").project.id
        for _ in range(8):
            engine.project_get(pid)
        statuses = [s for _, _, s in emu.requests]
        assert statuses.count(429) >= 1
        assert statuses.count(200) == 8
        assert emu.schema_errors == []


def test_423_then_success(neon: NeonEngine, emulator: NeonEmulator) -> None:
    created = neon.project_create(name="locked")  # its operations are still running
    pid = created.project.id
    snap = neon.snapshot_create(pid, created.branch.id, name="v1")
    statuses = [
        s
        for m, p, s in emulator.requests
        if m == "POST" and p.endswith(f"{pid}/branches/{created.branch.id}/snapshot")
    ]
    assert statuses[0] == 423 and statuses[-1] == 200
    assert [s.id for s in neon.snapshot_list(pid)] == [snap.snapshot.id]


def test_503_twice_then_success(neon: NeonEngine, emulator: NeonEmulator) -> None:
    created = new_project(neon)
    emulator.inject("status", path="/snapshot$", method="POST", status=503, count=2)
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    assert [s.id for s in neon.snapshot_list(created.project.id)] == [snap.snapshot.id]
    statuses = [s for m, p, s in emulator.requests if m == "POST" and p.endswith("/snapshot")]
    assert statuses[-3:] == [503, 503, 200]


def test_dropped_connection_after_applied_posts_makes_no_duplicates(
    any_emulator: NeonEmulator,
) -> None:
    with make_engine(any_emulator) as neon:
        check_dropped_posts(neon, any_emulator)


def check_dropped_posts(neon: NeonEngine, emulator: NeonEmulator) -> None:
    drops_before = sum(1 for r in emulator.requests if r[2] == 0)
    emulator.inject("drop_after", path="/projects$", method="POST")
    created = neon.project_create(name="dropped-project")
    pid, main = created.project.id, created.branch.id
    wait(neon, pid, created.operations)
    assert neon.project_get(pid).name == "dropped-project"
    named = [p for p in emulator.project_ids() if neon.project_get(p).name == "dropped-project"]
    assert named == [pid]

    emulator.inject("drop_after", path="/snapshot$", method="POST")
    snap = neon.snapshot_create(pid, main, name="v1")
    wait(neon, pid, snap.operations)
    assert [s.id for s in neon.snapshot_list(pid)] == [snap.snapshot.id]

    emulator.inject("drop_after", path="/restore$", method="POST")
    rollback = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=main, finalize_restore=True)  # fmt: skip
    wait(neon, pid, rollback.operations)
    assert rollback.orphan_branch_id == main
    assert sorted(b.name for b in neon.branch_list(pid)) == ["main", "main (old)"]
    assert neon.branch_get(pid, rollback.branch.id).name == "main"

    emulator.inject("drop_after", path="/restore$", method="POST")
    preview = neon.snapshot_restore(pid, snap.snapshot.id, target_branch_id=rollback.branch.id, name="p1")  # fmt: skip
    wait(neon, pid, preview.operations)
    assert sorted(b.name for b in neon.branch_list(pid)) == ["main", "main (old)", "p1"]

    emulator.inject("drop_after", path="/endpoints$", method="POST")
    ep = neon.endpoint_create(pid, preview.branch.id)
    wait(neon, pid, ep.operations)
    assert [e.id for e in neon.endpoint_list(pid) if e.branch_id == preview.branch.id] == [
        ep.endpoint.id
    ]
    drops = sum(1 for r in emulator.requests if r[2] == 0)
    assert drops - drops_before == 5
    neon.project_delete(pid)


def test_dropped_connection_before_apply_is_sent_again(
    neon: NeonEngine, emulator: NeonEmulator
) -> None:
    created = new_project(neon)
    emulator.inject("drop", path="/snapshot$", method="POST")
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    assert [s.id for s in neon.snapshot_list(created.project.id)] == [snap.snapshot.id]
    posts = [s for m, p, s in emulator.requests if m == "POST" and p.endswith("/snapshot")]
    assert posts[-2:] == [0, 200]


def test_slow_answer_times_out_and_get_is_retried(emulator: NeonEmulator) -> None:
    with make_engine(emulator, timeout=httpx.Timeout(0.2)) as engine:
        pid = new_project(engine).project.id
        emulator.inject("slow", path="/snapshots$", delay=0.5)
        assert engine.snapshot_list(pid) == []


def test_operation_failed_then_retried_to_finished(
    neon: NeonEngine, emulator: NeonEmulator
) -> None:
    created = new_project(neon)
    emulator.fail_operations(RETRY, action="create_timeline", error="pageserver unavailable")
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    seen = []
    done = wait(neon, created.project.id, snap.operations, on_change=seen.append, failed_grace=0.05)
    assert [op.status for op in done] == [FINISHED]
    assert done[0].failures_count == 1
    assert "failed" in [op.status for op in seen]


def test_operation_that_stays_failed(neon: NeonEngine, emulator: NeonEmulator) -> None:
    created = new_project(neon)
    emulator.fail_operations(STAY_FAILED, action="create_timeline", error="disk full on ps-7")
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    with pytest.raises(OperationFailed, match="disk full on ps-7") as info:
        wait(neon, created.project.id, snap.operations, failed_grace=0.2)
    assert info.value.operation.status == "failed"


def test_operation_error(neon: NeonEngine, emulator: NeonEmulator) -> None:
    created = new_project(neon)
    emulator.fail_operations(ERROR, action="create_timeline", error="timeline corrupted")
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    with pytest.raises(OperationFailed, match="timeline corrupted"):
        wait(neon, created.project.id, snap.operations)


def test_operation_deadline(neon: NeonEngine, emulator: NeonEmulator) -> None:
    created = new_project(neon)
    emulator.fail_operations(HANG, action="create_timeline")
    snap = neon.snapshot_create(created.project.id, created.branch.id, name="v1")
    with pytest.raises(OperationTimeout) as info:
        wait(neon, created.project.id, snap.operations, deadline=0.4)
    assert [op.status for op in info.value.pending] == ["running"]


def test_wrong_key_is_an_error_without_the_key(emulator: NeonEmulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "napi_wrong_key_zzzzzzzzzzzzzzzzzzzzzz"
    with NeonEngine(wrong, api_url=emulator.url) as engine, pytest.raises(Exception) as info:
        engine.project_create(name="nope")
    assert info.value.status == 401
    assert "supplied credentials" in str(info.value)
    blob = str(info.value) + repr(info.value) + caplog.text
    assert wrong not in blob


def test_secrets_are_redacted_everywhere(emulator: NeonEmulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with make_engine(emulator) as engine:
        created = new_project(engine)
        pid = created.project.id
        uri = engine.connection_uri(pid)
        password = httpx.URL(uri).password
        assert password
        emulator.inject("status", path="/snapshot$", status=503, count=1)
        emulator.inject("drop_after", path="/restore$")
        snap = engine.snapshot_create(pid, created.branch.id, name="v1")
        wait(engine, pid, snap.operations)
        engine.snapshot_restore(pid, snap.snapshot.id, target_branch_id=created.branch.id)
        with pytest.raises(EngineNotFound) as info:
            engine.connection_uri(pid, branch_id="br-nope-00000000")
        blob = "\n".join(
            [repr(engine), str(info.value), repr(info.value), caplog.text]
            + [repr(r.args) for r in caplog.records]
        )
    assert caplog.records
    assert API_KEY not in blob
    assert password not in blob


def test_checker_catches_drift(checker: OpenAPIChecker) -> None:
    op = {"id": "x", "project_id": "p", "action": "create_branch", "status": "finished"}
    problems = checker.check_response("GET", "/projects/p/operations/x", 200, {"operation": op})
    assert any("failures_count" in p for p in problems)
    bad_status = {**op, "status": "done", "failures_count": 0, "total_duration_ms": 0,
                  "created_at": "2025-01-01T00:00:00Z", "updated_at": "yesterday"}  # fmt: skip
    problems = checker.check_response("GET", "/projects/p/operations/x", 200, {"operation": bad_status})  # fmt: skip
    assert any("'done'" in p for p in problems)
    assert any("yesterday" in p for p in problems)
    assert checker.check_response("GET", "/projects/p", 404, {"message": "gone"}) == [
        "GET /projects/p 404: <root>: 'code' is a required property"
    ]
    assert checker.check_request("POST", "/projects/p/endpoints", {"endpoint": {}}) != []


def test_snapshot_refusals_are_engine_refused_and_make_nothing(
    neon: NeonEngine, emulator: NeonEmulator
) -> None:
    from checkpoints.engines.errors import EngineRefused

    created = new_project(neon, "limits")
    pid, branch = created.project.id, created.branch.id
    emulator.snapshot_limit = 1
    try:
        wait(neon, pid, neon.snapshot_create(pid, branch, name="v0").operations)
        assert neon.snapshot_capacity(pid).used == 1
        with pytest.raises(EngineRefused) as refused:
            neon.snapshot_create(pid, branch, name="v1")
        assert refused.value.reason == "limit" and refused.value.status == 422
        emulator.snapshot_limit = None
        with pytest.raises(EngineRefused) as taken:
            neon.snapshot_create(pid, branch, name="v0")  # names are unique in a project
        assert taken.value.reason == "name" and taken.value.status == 409
        for reason, status in (("quota", 403), ("refused", 400)):
            emulator.refuse_snapshots(reason)
            with pytest.raises(EngineRefused) as other:
                neon.snapshot_create(pid, branch, name=f"v-{reason}")
            assert (other.value.reason, other.value.status) == (reason, status)
        assert [s.name for s in neon.snapshot_list(pid)] == ["v0"]
        # A 429 or 423 that outlasts the retries is not a refusal: nothing says there is no room.
        emulator.inject("status", path=r"/snapshot$", status=429, count=100)
        with pytest.raises(EngineTransientError):
            make_engine(emulator, max_attempts=2).snapshot_create(pid, branch, name="v9")
    finally:
        emulator.snapshot_limit = None


def test_snapshot_options_are_query_parameters_a_json_body_is_ignored(
    neon: NeonEngine, emulator: NeonEmulator
) -> None:
    created = new_project(neon, "query")
    pid, branch = created.project.id, created.branch.id
    response = httpx.post(
        f"{emulator.url}/projects/{pid}/branches/{branch}/snapshot",
        params={"name": "from-query"},
        json={"name": "from-body"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 200
    assert response.json()["snapshot"]["name"] == "from-query"
    emulator.schema_errors.clear()  # the spec declares no body here: that is the point
