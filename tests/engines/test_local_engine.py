"""Local-engine specifics: roles and grants, immutable snapshots, sizes, locking, recover,
get_engine. (The behaviour shared with Neon is in test_contract.py.)"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from checkpoints.engines import get_engine, local_server_url
from checkpoints.engines.base import BUSY_STATUSES, FINISHED
from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineInvalidRequest, EngineLocked, EngineNotSupported
from checkpoints.engines.local import LOCKED_MESSAGE, LocalEngine
from tests.postgres_plugin import engine_url


def with_database(uri: str, dbname: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path="/" + dbname))


def dbname_of(uri: str) -> str:
    return urlsplit(uri).path.lstrip("/")


def catalog(engine: LocalEngine, query: str, params=None) -> list[tuple]:
    with psycopg.connect(engine._control_conninfo, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def test_ids_have_neon_shapes(local):
    created = local.project_create(name="shapes")
    assert created.project.id.count("-") == 2
    assert created.project.id.rsplit("-", 1)[1].isdigit()
    assert len(created.project.id.rsplit("-", 1)[1]) == 8
    assert created.branch.id.startswith("br-")
    assert created.endpoint.id.startswith("ep-")
    snap = local.snapshot_create(created.project.id, created.branch.id).snapshot
    assert snap.id.startswith("snap-")
    assert all(op.status == FINISHED for op in created.operations)


def test_connection_uri_shape_and_host(local, pg_server):
    created = local.project_create(name="uri")
    uri = local.connection_uri(created.project.id)
    parts = urlsplit(uri)
    server = urlsplit(pg_server.url())
    assert parts.scheme == "postgresql"
    assert (parts.hostname, parts.port) == (server.hostname, server.port)
    assert parts.username == local.names.role(created.project.id)
    assert dbname_of(uri) == local.names.endpoint_db(created.endpoint.id)


def test_one_project_cannot_open_another_projects_databases(local, pg_server):
    a = local.project_create(name="a")
    b = local.project_create(name="b")
    uri_a = local.connection_uri(a.project.id)
    uri_b = local.connection_uri(b.project.id)
    assert run_sql(uri_a, "SELECT current_user")[0][0] == local.names.role(a.project.id)
    for other in (dbname_of(uri_b), local.control_db):
        with pytest.raises(psycopg.OperationalError, match="permission denied|CONNECT"):
            run_sql(with_database(uri_a, other), "SELECT 1", retry_for=0)
    # PUBLIC has no CONNECT on project databases, snapshots or the control database.
    acl = catalog(
        local,
        "SELECT datname, datacl::text FROM pg_database WHERE datname = ANY(%s)",
        ([dbname_of(uri_a), local.control_db],),
    )
    for _, text in acl:
        assert text is not None and "=Tc/" not in text and "=c/" not in text


def test_snapshot_cannot_be_connected_to_or_changed(local, pg_server):
    created = local.project_create(name="immutable")
    pid = created.project.id
    uri = local.connection_uri(pid)
    run_sql(uri, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    snap = local.snapshot_create(pid, created.branch.id, name="s").snapshot
    ((snap_db, allow, owner),) = catalog(
        local,
        "SELECT s.dbname, d.datallowconn, pg_get_userbyid(d.datdba) FROM snapshots s "
        "JOIN pg_database d ON d.datname = s.dbname WHERE s.id = %s",
        (snap.id,),
    )
    assert allow is False
    assert owner != local.names.role(pid)
    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        psycopg.connect(pg_server.url(snap_db)).close()  # not even the superuser
    for statement in (
        'ALTER DATABASE "{}" ALLOW_CONNECTIONS true',
        'ALTER DATABASE "{}" RENAME TO stolen',
        'DROP DATABASE "{}"',
    ):
        with pytest.raises(psycopg.Error, match="must be owner|permission denied|cannot"):
            run_sql(uri, statement.format(snap_db))


def test_snapshots_only_from_root_branches_and_parents_kept(local):
    created = local.project_create(name="roots")
    pid = created.project.id
    child = local.branch_create(pid, parent_id=created.branch.id, name="child")
    assert child.parent_id == created.branch.id and not child.is_root
    with pytest.raises(EngineInvalidRequest, match="root branches"):
        local.snapshot_create(pid, child.id)
    grandchild = local.branch_create(pid, parent_id=child.id, name="grandchild")
    with pytest.raises(EngineInvalidRequest, match="child branches"):
        local.branch_delete(pid, child.id)
    local.branch_delete(pid, grandchild.id)
    local.branch_delete(pid, child.id)


def test_point_in_time_message(local):
    """Without a history (a server that archives no WAL: here, the shared test server)."""
    created = local.project_create(name="pitr")
    with pytest.raises(EngineNotSupported, match="need the server's history"):
        local.snapshot_create(created.project.id, created.branch.id, lsn="0/1")
    with pytest.raises(EngineNotSupported, match="need the server's history"):
        local.snapshot_create(created.project.id, created.branch.id, timestamp=datetime.now(UTC))
    assert local.supports_point_in_time is False
    assert local.snapshot_list(created.project.id) == []


def test_sizes_are_database_sizes(local):
    created = local.project_create(name="sizes")
    pid = created.project.id
    uri = local.connection_uri(pid)
    run_sql(
        uri,
        "CREATE TABLE big AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g",
    )
    snap = local.snapshot_create(pid, created.branch.id, name="s").snapshot
    (branch,) = local.branch_list(pid)
    ((size,),) = catalog(local, "SELECT pg_database_size(%s)", (dbname_of(uri),))
    assert branch.logical_size == size > 10_000_000
    (listed,) = local.snapshot_list(pid)
    assert snap.full_size and listed.full_size and listed.full_size > 10_000_000
    assert local.branch_get(pid, branch.id).logical_size == size


def test_restore_reapplies_grants_on_the_copy(local):
    created = local.project_create(name="grants")
    pid = created.project.id
    snap = local.snapshot_create(pid, created.branch.id).snapshot
    local.snapshot_restore(pid, snap.id, target_branch_id=created.branch.id, finalize_restore=True)
    uri = local.connection_uri(pid)
    ((acl, allow),) = catalog(
        local,
        "SELECT datacl::text, datallowconn FROM pg_database WHERE datname = %s",
        (dbname_of(uri),),
    )
    assert allow and acl is not None and "=Tc/" not in acl
    assert run_sql(uri, "SELECT 1") == [(1,)]
    # The orphan has no endpoint: nobody connects to it.
    ((orphan_allow,),) = catalog(
        local,
        "SELECT d.datallowconn FROM branches b JOIN pg_database d ON d.datname = b.dbname "
        "WHERE b.id = %s",
        (created.branch.id,),
    )
    assert orphan_allow is False


def test_operations_record_neon_actions(local):
    created = local.project_create(name="ops")
    pid, main = created.project.id, created.branch
    snap = local.snapshot_create(pid, main.id)
    rolled = local.snapshot_restore(
        pid, snap.snapshot.id, target_branch_id=main.id, finalize_restore=True
    )
    preview = local.snapshot_restore(pid, snap.snapshot.id)
    endpoint = local.endpoint_create(pid, preview.branch.id)
    deleted = local.branch_delete(pid, preview.branch.id)
    assert [op.action for op in created.operations] == ["create_timeline", "start_compute"]
    assert [op.action for op in rolled.operations] == [
        "timeline_unarchive",
        "create_branch",
        "start_compute",
        "suspend_compute",
    ]
    assert [op.action for op in preview.operations] == ["timeline_unarchive", "create_branch"]
    assert [op.action for op in endpoint.operations] == ["start_compute"]
    assert [op.action for op in deleted] == ["suspend_compute", "delete_timeline"]
    everything = local.operation_list(pid)
    assert everything and all(op.status == FINISHED for op in everything)
    assert local.operation_get(pid, rolled.operations[0].id).status == FINISHED


def test_one_mutation_per_project_at_a_time(local, pg_server):
    created = local.project_create(name="locked")
    other = local.project_create(name="other")
    pid, main = created.project.id, created.branch
    snap = local.snapshot_create(pid, main.id).snapshot
    reached, release = threading.Event(), threading.Event()

    def hook(step: str) -> None:
        if step == "before_swap":
            reached.set()
            assert release.wait(30)

    slow = LocalEngine(engine_url(), control_db=local.control_db, fault_hook=hook)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = slow.snapshot_restore(
                pid, snap.id, target_branch_id=main.id, finalize_restore=True
            )
        except Exception as error:  # pragma: no cover - reported below
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert reached.wait(30)
        for attempt in (
            lambda: local.snapshot_create(pid, main.id),
            lambda: local.snapshot_restore(
                pid, snap.id, target_branch_id=main.id, finalize_restore=True
            ),
            lambda: local.branch_rename(pid, main.id, "x"),
            lambda: local.snapshot_delete(pid, snap.id),
            lambda: local.project_delete(pid),
        ):
            with pytest.raises(EngineLocked) as raised:
                attempt()
            assert str(raised.value) == LOCKED_MESSAGE and raised.value.status == 423
        # Other projects and reads are not blocked; reads see a whole state, mid-rollback.
        local.snapshot_create(other.project.id, other.branch.id)
        running = [op for op in local.operation_list(pid) if op.status in BUSY_STATUSES]
        assert {op.action for op in running} >= {"create_branch"}
        assert [b.id for b in local.branch_list(pid) if b.default] == [main.id]
    finally:
        release.set()
        worker.join(30)
    assert "error" not in outcome
    assert local.branch_get(pid, main.id).name == "main (old)"


def test_concurrent_rollbacks_one_wins_the_rest_are_locked(local):
    created = local.project_create(name="race")
    pid, main = created.project.id, created.branch
    snap = local.snapshot_create(pid, main.id).snapshot
    # The winner holds the project for at least 300 ms: every other caller overlaps it.
    local.fault_hook = lambda step: time.sleep(0.3) if step == "after_branch_created" else None
    barrier = threading.Barrier(4)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(
                local.snapshot_restore(
                    pid, snap.id, target_branch_id=main.id, finalize_restore=True
                )
            )
        except Exception as error:  # noqa: BLE001 - collected and checked below
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(type(r).__name__ for r in results) == ["EngineLocked"] * 3 + ["RestoreResult"]
    defaults = [b for b in local.branch_list(pid) if b.default]
    assert len(defaults) == 1 and defaults[0].name == "main"
    assert not [op for op in local.operation_list(pid) if op.status in BUSY_STATUSES]


def test_recover_repairs_leftovers(local, pg_server):
    created = local.project_create(name="recover")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    run_sql(uri, "CREATE TABLE t (x int)")
    stray = local.names.prefix + "br_straydatabase"
    with psycopg.connect(engine_url(), autocommit=True) as conn:  # as a crashed engine left it
        conn.execute(f'CREATE DATABASE "{stray}"')
        conn.execute(f'ALTER DATABASE "{dbname_of(uri)}" ALLOW_CONNECTIONS false')
    catalog(
        local,
        "INSERT INTO operations (id, project_id, branch_id, action, status) "
        "VALUES (gen_random_uuid(), %s, %s, 'create_branch', 'running')",
        (pid, main.id),
    )
    summary = LocalEngine(engine_url(), control_db=local.control_db, recover=False).recover()
    assert summary["dropped_databases"] == 1 and summary["projects"] == 1
    assert not catalog(local, "SELECT 1 FROM pg_database WHERE datname = %s", (stray,))
    assert run_sql(uri, "SELECT count(*) FROM t") == [(0,)]
    stuck = [op for op in local.operation_list(pid) if op.action == "create_branch"]
    assert stuck[0].status == "failed" and "interrupted" in (stuck[0].error or "")


def test_recover_skips_projects_locked_by_a_live_process(local, pg_server):
    created = local.project_create(name="busy")
    pid = created.project.id
    catalog(
        local,
        "INSERT INTO operations (id, project_id, action, status) "
        "VALUES (gen_random_uuid(), %s, 'create_branch', 'running')",
        (pid,),
    )
    holder = psycopg.connect(local._control_conninfo, autocommit=True)
    try:
        holder.execute(
            "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (local.control_db, pid)
        )
        summary = local.recover()
        assert summary["skipped_locked"] == 1
        assert any(op.status == "running" for op in local.operation_list(pid))
    finally:
        holder.close()
    local.recover()
    assert not any(op.status == "running" for op in local.operation_list(pid))


def test_project_delete_drops_role_and_databases(local):
    created = local.project_create(name="drop")
    pid = created.project.id
    local.snapshot_create(pid, created.branch.id)
    local.snapshot_restore(pid, local.snapshot_list(pid)[0].id)
    names = [
        row[0]
        for row in catalog(
            local,
            "SELECT dbname FROM branches WHERE project_id = %s "
            "UNION ALL SELECT dbname FROM snapshots WHERE project_id = %s",
            (pid, pid),
        )
    ]
    assert len(names) == 3
    role = local.names.role(pid)
    local.project_delete(pid)
    assert not catalog(local, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    assert not catalog(local, "SELECT 1 FROM pg_database WHERE datname = ANY(%s)", (names,))
    assert not catalog(local, "SELECT 1 FROM operations WHERE project_id = %s", (pid,))


def test_control_db_names_are_checked():
    with pytest.raises(ValueError):
        LocalEngine("postgresql://x@127.0.0.1:1/postgres", control_db="Bad__name")


def test_get_engine_caches_one_engine_per_name(settings, monkeypatch):
    import checkpoints.engines as engines

    built: list[str] = []

    def fake_build(name, _settings):
        built.append(name)
        return object()

    monkeypatch.setattr(engines, "_build", fake_build)
    monkeypatch.setattr(engines, "_engines", {})
    settings.CHECKPOINTS_ENGINE = "local"
    first = get_engine()
    assert get_engine("local") is first and built == ["local"]
    settings.CHECKPOINTS_ENGINE = "neon"
    assert get_engine() is not first and built == ["local", "neon"]


def test_get_engine_rejects_unknown_names(monkeypatch):
    import checkpoints.engines as engines

    monkeypatch.setattr(engines, "_engines", {})
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("nope")


def test_local_server_url_falls_back_to_the_embedded_server(settings, tmp_path: Path):
    settings.CHECKPOINTS_LOCAL_SERVER_URL = "postgresql://u:p@h:1/postgres"
    assert local_server_url(settings) == "postgresql://u:p@h:1/postgres"
    settings.CHECKPOINTS_LOCAL_SERVER_URL = ""
    settings.DATA_DIR = tmp_path
    with pytest.raises(RuntimeError, match="no PostgreSQL server"):
        local_server_url(settings)
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "server.json").write_text('{"port": 5999, "password": "pw"}')
    assert local_server_url(settings) == "postgresql://postgres:pw@127.0.0.1:5999/postgres"


def test_role_passwords_are_sent_as_scram_verifiers(local):
    created = local.project_create(name="scram")
    uri = local.connection_uri(created.project.id)
    password = urlsplit(uri).password
    ((stored,),) = catalog(
        local,
        "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
        (local.names.role(created.project.id),),
    )
    assert stored.startswith("SCRAM-SHA-256$4096:") and password not in stored
    assert run_sql(uri, "SELECT 1") == [(1,)]


def _build_engine_at(url: str, control_db: str, at: float) -> str:
    time.sleep(max(0.0, at - time.time()))
    try:
        LocalEngine(url, control_db=control_db)
    except Exception as error:  # reported to the test process
        return f"{type(error).__name__}: {error}"
    return "ok"


def test_engines_started_at_once_share_one_control_database(pg_server):
    """Web and worker processes build their engines at the same moment (first request):
    concurrent REVOKEs on the control database must not fail one of them."""
    import multiprocessing

    control_db = f"ckt_{uuid.uuid4().hex[:10]}"
    url = engine_url()
    context = multiprocessing.get_context("spawn")
    try:
        with context.Pool(8) as pool:
            at = time.time() + 3  # after every process has imported
            results = pool.starmap(_build_engine_at, [(url, control_db, at)] * 8)
        assert results == ["ok"] * 8
    finally:
        LocalEngine(url, control_db=control_db).destroy()
