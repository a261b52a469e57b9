"""Connected clients during a rollback swap (and a snapshot copy), and `connect` retries."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from checkpoints.engines.connect import connect, is_transient, run_sql


def set_version(uri: str, value: str) -> None:
    run_sql(uri, "CREATE TABLE IF NOT EXISTS marker (v text); DELETE FROM marker")
    run_sql(uri, "INSERT INTO marker VALUES (%s)", (value,))


def sessions_on(local, dbname: str) -> int:
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
        ).fetchone()[0]


def gone_soon(check, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def branch_db(local, branch_id: str) -> str:
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        return conn.execute("SELECT dbname FROM branches WHERE id = %s", (branch_id,)).fetchone()[0]


def test_sessions_are_ended_at_the_swap_and_reconnect_to_the_restored_data(local):
    created = local.project_create(name="sessions")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    set_version(uri, "v1")
    snap = local.snapshot_create(pid, main.id).snapshot
    set_version(uri, "v2")
    idle = psycopg.connect(uri, autocommit=True)
    in_txn = psycopg.connect(uri)
    in_txn.execute("SELECT v FROM marker FOR UPDATE")  # holds a transaction open
    started = time.monotonic()
    local.snapshot_restore(pid, snap.id, target_branch_id=main.id, finalize_restore=True)
    assert time.monotonic() - started < 5  # no 5 s "being accessed by other users" wait
    for conn in (idle, in_txn):
        with pytest.raises(psycopg.OperationalError, match="terminating connection"):
            conn.execute("SELECT v FROM marker")
        conn.close()
    with connect(uri) as again:
        assert again.execute("SELECT v FROM marker").fetchone() == ("v1",)
    assert sessions_on(local, branch_db(local, main.id)) == 0


def test_a_snapshot_leaves_the_apps_sessions_alone(local):
    """A save copies the live database from an MVCC snapshot (issue 31): a session held
    across it keeps working, inside an open transaction too."""
    created = local.project_create(name="snap-sessions")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    set_version(uri, "v1")
    held = psycopg.connect(uri, autocommit=True)
    in_transaction = psycopg.connect(uri)
    in_transaction.execute("SELECT v FROM marker").fetchone()
    local.snapshot_create(pid, main.id)
    assert held.execute("SELECT v FROM marker").fetchone() == ("v1",)
    in_transaction.execute("INSERT INTO marker VALUES ('v2')")
    in_transaction.commit()
    held.close()
    in_transaction.close()
    assert sorted(run_sql(uri, "SELECT v FROM marker")) == [("v1",), ("v2",)]


def test_no_client_slips_onto_the_old_database_during_rollbacks(local):
    """A thread hammers connections while rollbacks alternate between two versions.

    Every connect succeeds (swap errors are retried by `connect`); a connection opened
    after a rollback returned reads that rollback's version; no session is left on the
    detached databases.
    """
    created = local.project_create(name="hammer")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    set_version(uri, "A")
    snap_a = local.snapshot_create(pid, main.id, name="A").snapshot
    set_version(uri, "B")
    snap_b = local.snapshot_create(pid, main.id, name="B").snapshot

    stop = threading.Event()
    seen: list[tuple[float, str]] = []
    connect_errors: list[str] = []
    query_errors: list[str] = []

    def hammer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                conn = connect(uri, retry_for=5, autocommit=True)
            except psycopg.OperationalError as error:
                connect_errors.append(str(error))
                continue
            try:
                seen.append((started, conn.execute("SELECT v FROM marker").fetchone()[0]))
            except psycopg.OperationalError as error:
                # Connected just before the swap: the swap ends the session.
                query_errors.append(str(error))
            finally:
                conn.close()

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for worker in workers:
        worker.start()
    # (rollback called at, returned at, the version it restored)
    windows: list[tuple[float, float, str]] = []
    active = main.id
    try:
        time.sleep(0.05)
        for i in range(4):
            snap, expect = (snap_a, "A") if i % 2 == 0 else (snap_b, "B")
            called = time.monotonic()
            result = local.snapshot_restore(
                pid, snap.id, target_branch_id=active, finalize_restore=True
            )
            windows.append((called, time.monotonic(), expect))
            # Nobody stays on the orphan. (A client that was mid-connect when the names
            # changed can show there for an instant while it fails and retries.)
            assert gone_soon(lambda a=active: sessions_on(local, branch_db(local, a)) == 0)
            local.branch_delete(pid, active)
            active = result.branch.id
            time.sleep(0.03)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)

    assert connect_errors == []
    # Sessions the swap ended; never anything else (no "does not exist", no stale data).
    ended = ("terminating connection", "server closed the connection", "consuming input failed")
    assert all(any(e in text for e in ended) for text in query_errors), query_errors
    assert len(seen) > 20
    checked = 0
    for index, (_, returned_at, expect) in enumerate(windows):
        # Between this rollback's return and the next call, only this version is served.
        next_call = windows[index + 1][0] if index + 1 < len(windows) else float("inf")
        versions = {v for started, v in seen if returned_at <= started < next_call}
        assert versions <= {expect}, (index, versions)
        checked += bool(versions)
    assert checked >= 2


def test_connect_retries_a_database_that_appears_shortly(pg_server):
    name = "ckt_appears_later"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        timer = threading.Timer(0.15, lambda: run_sql(pg_server.url(), f"CREATE DATABASE {name}"))
        timer.start()
        try:
            with connect(pg_server.url(name), retry_for=5) as conn:
                assert conn.execute("SELECT current_database()").fetchone() == (name,)
        finally:
            timer.join()
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_connect_gives_up_fast_on_other_errors_and_masks_passwords(pg_server):
    bad = pg_server.url().replace("postgres:", "postgres:x", 1)  # wrong password
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as raised:
        connect(bad, retry_for=5)
    assert time.monotonic() - started < 2
    assert "password authentication failed" in str(raised.value)
    secret = pg_server.config.password
    missing = pg_server.url("ckt_never_there")
    with pytest.raises(psycopg.OperationalError) as raised:
        connect(missing, retry_for=0.1)
    assert secret not in str(raised.value)


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        (
            'database "x" does not exist\nDETAIL: It seems to have just been dropped or renamed.',
            True,
        ),
        ("FATAL: terminating connection due to administrator command", True),
        ('FATAL: database "x" is not currently accepting connections', True),
        ('connection to server at "127.0.0.1", port 1 failed: Connection refused', True),
        ('FATAL: password authentication failed for user "x"', False),
        ('FATAL: permission denied for database "x"', False),
    ],
)
def test_transient_errors(message, transient):
    assert is_transient(Exception(message)) is transient
