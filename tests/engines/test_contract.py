"""The engine contract: what every engine (local, neon over the emulator) must do.

Only the Engine interface, `wait_for_operations` and SQL through `connection_uri`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from checkpoints.engines.base import (
    BUSY_STATUSES,
    ROOT_BRANCH_NAME,
    TERMINAL_STATUSES,
    Engine,
    ProjectCreated,
    mask_password,
)
from checkpoints.engines.errors import (
    EngineError,
    EngineInvalidRequest,
    EngineNotFound,
)
from checkpoints.engines.operations import wait_for_operations


def make_project(engine: Engine, name: str = "contract") -> ProjectCreated:
    created = engine.project_create(name=name)
    wait_for_operations(engine, created.project.id, created.operations, deadline=60)
    return created


def version(sql, uri: str) -> str:
    return sql(uri, "SELECT v FROM marker")[0][0]


def set_version(sql, uri: str, value: str) -> None:
    sql(uri, "CREATE TABLE IF NOT EXISTS marker (v text NOT NULL); DELETE FROM marker")
    sql(uri, "INSERT INTO marker VALUES (%s)", (value,))


def snapshot(engine: Engine, project_id: str, branch_id: str, name: str, **kw):
    made = engine.snapshot_create(project_id, branch_id, name=name, **kw)
    wait_for_operations(engine, project_id, made.operations, deadline=60)
    return made.snapshot


def rollback(engine: Engine, project_id: str, snapshot_id: str, target: str):
    result = engine.snapshot_restore(
        project_id, snapshot_id, target_branch_id=target, finalize_restore=True
    )
    wait_for_operations(engine, project_id, result.operations, deadline=60)
    return result


def test_project_starts_with_root_branch_main_and_endpoint(engine, sql):
    created = make_project(engine, "starts")
    project, branch, endpoint = created.project, created.branch, created.endpoint
    assert project.name == "starts"
    assert engine.project_get(project.id).id == project.id
    assert branch.name == ROOT_BRANCH_NAME and branch.is_root and branch.default
    assert endpoint.branch_id == branch.id
    assert [e.id for e in engine.endpoint_list(project.id)] == [endpoint.id]
    assert [b.id for b in engine.branch_list(project.id)] == [branch.id]
    actions = {op.action for op in created.operations}
    assert {"create_timeline", "start_compute"} <= actions
    uri = engine.connection_uri(project.id)
    assert uri == engine.connection_uri(project.id, branch_id=branch.id)
    assert uri.startswith("postgresql://")
    assert "********" in mask_password(uri)
    assert sql(uri, "SELECT 1") == [(1,)]


def test_operations_are_readable_by_id(engine):
    created = make_project(engine, "ops")
    pid = created.project.id
    op_ids = [op.id for op in created.operations]
    got = engine.operations_get(pid, op_ids)
    assert [op.id for op in got] == op_ids
    one = engine.operation_get(pid, op_ids[0])
    assert one.project_id == pid
    assert one.status in TERMINAL_STATUSES | BUSY_STATUSES | {"failed"}


def test_rollback_keeps_the_connection_string_and_serves_the_snapshot(engine, sql):
    created = make_project(engine, "rollback")
    pid, main = created.project.id, created.branch
    uri = engine.connection_uri(pid)
    set_version(sql, uri, "v1")
    snap = snapshot(engine, pid, main.id, "v1")
    assert snap.source_branch_id == main.id
    set_version(sql, uri, "v2")
    sql(uri, "CREATE TABLE only_in_v2 (x int)")

    result = rollback(engine, pid, snap.id, main.id)

    assert engine.connection_uri(pid) == uri
    assert version(sql, uri) == "v1"
    assert sql(uri, "SELECT to_regclass('only_in_v2') IS NULL") == [(True,)]
    new = result.branch
    assert new.id != main.id
    assert result.orphan_branch_id == main.id
    assert {"create_branch"} <= {op.action for op in result.operations}
    fresh = engine.branch_get(pid, new.id)
    assert fresh.name == ROOT_BRANCH_NAME and fresh.default and fresh.is_root
    assert fresh.restored_from == snap.id
    assert fresh.restored_as == main.id
    orphan = engine.branch_get(pid, main.id)
    assert orphan.name == f"{ROOT_BRANCH_NAME} (old)"
    assert not orphan.default
    endpoints = engine.endpoint_list(pid)
    assert len(endpoints) == 1 and endpoints[0].branch_id == new.id
    assert engine.connection_uri(pid, branch_id=new.id) == uri

    # Writes after the rollback land on the new branch; a second rollback works the same.
    set_version(sql, uri, "v3")
    snap3 = snapshot(engine, pid, new.id, "v3")
    again = rollback(engine, pid, snap.id, new.id)
    assert version(sql, uri) == "v1"
    assert engine.connection_uri(pid) == uri
    engine.snapshot_restore(pid, snap3.id, target_branch_id=again.branch.id, finalize_restore=True)
    assert version(sql, uri) == "v3"


def test_preview_gets_its_own_branch_and_connection_string(engine, sql):
    created = make_project(engine, "preview")
    pid, main = created.project.id, created.branch
    uri = engine.connection_uri(pid)
    set_version(sql, uri, "v1")
    snap = snapshot(engine, pid, main.id, "v1")
    set_version(sql, uri, "v2")

    result = engine.snapshot_restore(pid, snap.id, finalize_restore=False, name="preview-v1")
    wait_for_operations(engine, pid, result.operations, deadline=60)
    preview = result.branch
    assert preview.id != main.id and preview.name == "preview-v1"
    assert preview.restored_from == snap.id
    assert result.orphan_branch_id is None
    with pytest.raises((EngineInvalidRequest, EngineNotFound)):
        engine.connection_uri(pid, branch_id=preview.id)

    made = engine.endpoint_create(pid, preview.id)
    wait_for_operations(engine, pid, made.operations, deadline=60)
    assert made.endpoint.branch_id == preview.id
    preview_uri = engine.connection_uri(pid, branch_id=preview.id)
    assert preview_uri != uri
    assert version(sql, preview_uri) == "v1"
    # The active branch is untouched.
    assert version(sql, uri) == "v2"
    assert engine.connection_uri(pid) == uri
    main_now = engine.branch_get(pid, main.id)
    assert main_now.name == ROOT_BRANCH_NAME and main_now.default
    # Writes on the preview stay there.
    set_version(sql, preview_uri, "p")
    assert version(sql, uri) == "v2"

    ops = engine.branch_delete(pid, preview.id)
    wait_for_operations(engine, pid, ops, deadline=60)
    with pytest.raises(EngineNotFound):
        engine.branch_get(pid, preview.id)
    assert {b.id for b in engine.branch_list(pid)} == {main.id}


def test_preview_default_name_is_generated(engine):
    created = make_project(engine, "preview-name")
    pid = created.project.id
    snap = snapshot(engine, pid, created.branch.id, "s")
    result = engine.snapshot_restore(pid, snap.id)
    assert result.branch.name and result.branch.name != ROOT_BRANCH_NAME


def test_snapshots_list_rename_delete_and_restored_snapshot_can_be_deleted(engine, sql):
    created = make_project(engine, "snapshots")
    pid, main = created.project.id, created.branch
    uri = engine.connection_uri(pid)
    set_version(sql, uri, "v1")
    s1 = snapshot(engine, pid, main.id, "one")
    s2 = snapshot(engine, pid, main.id, "two")
    assert [s.name for s in engine.snapshot_list(pid)] == ["one", "two"]
    renamed = engine.snapshot_rename(pid, s1.id, "first")
    assert renamed.name == "first" and renamed.id == s1.id

    result = rollback(engine, pid, s1.id, main.id)
    ops = engine.snapshot_delete(pid, s1.id)  # restored from: still deletable
    wait_for_operations(engine, pid, ops, deadline=60)
    assert [s.id for s in engine.snapshot_list(pid)] == [s2.id]
    assert version(sql, uri) == "v1"
    assert engine.branch_get(pid, result.branch.id).restored_from == s1.id


def test_default_branch_cannot_be_deleted_but_orphan_can(engine, sql):
    created = make_project(engine, "delete")
    pid, main = created.project.id, created.branch
    with pytest.raises(EngineInvalidRequest):
        engine.branch_delete(pid, main.id)
    set_version(sql, engine.connection_uri(pid), "v1")
    snap = snapshot(engine, pid, main.id, "v1")
    result = rollback(engine, pid, snap.id, main.id)
    with pytest.raises(EngineInvalidRequest):
        engine.branch_delete(pid, result.branch.id)
    ops = engine.branch_delete(pid, main.id)
    wait_for_operations(engine, pid, ops, deadline=60)
    assert "delete_timeline" in {op.action for op in ops}
    assert [b.id for b in engine.branch_list(pid)] == [result.branch.id]
    assert version(sql, engine.connection_uri(pid)) == "v1"


def test_branch_rename(engine):
    created = make_project(engine, "rename")
    pid = created.project.id
    snap = snapshot(engine, pid, created.branch.id, "s")
    preview = engine.snapshot_restore(pid, snap.id, name="p").branch
    renamed = engine.branch_rename(pid, preview.id, "preview-renamed")
    assert renamed.name == "preview-renamed"
    assert engine.branch_get(pid, preview.id).name == "preview-renamed"


def test_expired_snapshots_are_deleted(engine):
    created = make_project(engine, "expiry")
    pid, main = created.project.id, created.branch
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    short = snapshot(engine, pid, main.id, "short", expires_at=soon)
    keep = snapshot(engine, pid, main.id, "keep", expires_at=soon + timedelta(days=1))
    forever = snapshot(engine, pid, main.id, "forever")
    assert short.expires_at is not None
    if datetime.now(UTC) < soon - timedelta(seconds=0.1):
        assert engine.snapshots_delete_expired(pid) == []
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
    assert engine.snapshots_delete_expired(pid) == [short.id]
    assert {s.id for s in engine.snapshot_list(pid)} == {keep.id, forever.id}


def test_project_delete_removes_everything(engine, sql):
    created = make_project(engine, "gone")
    pid = created.project.id
    uri = engine.connection_uri(pid)
    snapshot(engine, pid, created.branch.id, "s")
    engine.project_delete(pid)
    with pytest.raises(EngineNotFound):
        engine.project_get(pid)
    with pytest.raises(EngineNotFound):
        engine.branch_list(pid)
    with pytest.raises(Exception):  # noqa: B017 - any failure to connect
        sql(uri, "SELECT 1", retry_for=0.2)


def test_unknown_ids_are_not_found(engine):
    created = make_project(engine, "unknown")
    pid = created.project.id
    with pytest.raises(EngineNotFound):
        engine.project_get("no-such-project-00000000")
    with pytest.raises(EngineNotFound):
        engine.branch_get(pid, "br-no-such-branch-00000000")
    with pytest.raises(EngineNotFound):
        engine.snapshot_restore(pid, "snap-no-such-snapshot-0000", finalize_restore=False)
    with pytest.raises(EngineError):
        engine.operation_get(pid, "00000000-0000-0000-0000-000000000000")
