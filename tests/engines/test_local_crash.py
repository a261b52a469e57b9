"""Crash safety: a process killed (SIGKILL) at any step leaves nothing a restart can't fix.

Each test runs one mutation in a child process whose fault hook kills it at a step, then
builds a fresh engine here (its constructor runs `recover()`) and checks: the endpoint
serves one complete version, no data lost, no operation left running, no database the
catalog does not know, the orphan recorded when the swap happened.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from checkpoints.engines.base import BUSY_STATUSES
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import OTHER_STEPS, ROLLBACK_STEPS, LocalEngine
from tests.postgres_plugin import engine_url

ROOT = Path(__file__).resolve().parents[2]


def run_child(engine: LocalEngine, server_url: str, **args) -> None:
    payload = json.dumps({"server_url": server_url, "control_db": engine.control_db, **args})
    child = subprocess.run(
        [sys.executable, "-m", "tests.engines.crash_child", payload],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr[-2000:])
    wait_for_other_engines_gone(server_url)


def wait_for_other_engines_gone(server_url: str, timeout: float = 15) -> None:
    """A killed client's server sessions (with its advisory locks, and a CREATE DATABASE
    it started) end on their own; wait for that, as a restarted app would find them."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(server_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            alive = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name LIKE 'checkpoints-engine:%%' "
                "AND application_name <> %s",
                (f"checkpoints-engine:{os.getpid()}",),
            ).fetchone()[0]
            if not alive:
                return
            time.sleep(0.01)
    raise AssertionError("the killed child's sessions did not end")


def version(uri: str) -> str:
    return run_sql(uri, "SELECT v FROM marker")[0][0]


def set_version(uri: str, value: str) -> None:
    """The marker row, and its statistics flushed before this returns: a session's counts
    otherwise reach pg_stat_database up to a second later, or as its process exits after
    the client has gone (a count read then would race them)."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS marker (v text)")
        conn.execute("DELETE FROM marker")
        conn.execute("INSERT INTO marker VALUES (%s)", (value,))
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # answered after the idle backend flushed


def assert_consistent(engine: LocalEngine, project_id: str) -> None:
    """No operation running, every prefixed database known, endpoints connectable."""
    busy = [op for op in engine.operation_list(project_id) if op.status in BUSY_STATUSES]
    assert busy == []
    with psycopg.connect(engine._control_conninfo, autocommit=True) as conn:
        known = {
            row[0]
            for row in conn.execute(
                "SELECT dbname FROM branches UNION ALL SELECT dbname FROM snapshots"
            )
        }
        prefix = engine.names.prefix
        present = {
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE left(datname, %s) = %s",
                (len(prefix), prefix),
            )
        }
        assert present == known
        states = conn.execute(
            "SELECT state FROM branches UNION ALL SELECT state FROM snapshots"
        ).fetchall()
        assert {s for (s,) in states} <= {"ready"}
        blocked = conn.execute(
            "SELECT e.dbname FROM endpoints e JOIN pg_database d ON d.datname = e.dbname "
            "WHERE NOT d.datallowconn"
        ).fetchall()
        assert blocked == []


@pytest.mark.parametrize("step", ROLLBACK_STEPS)
def test_rollback_killed_at_each_step(local, pg_server, step):
    server_url = engine_url()
    created = local.project_create(name="crash")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    set_version(uri, "v1")
    snap = local.snapshot_create(pid, main.id, name="v1").snapshot
    set_version(uri, "v2")

    run_child(
        local,
        server_url,
        step=step,
        call="rollback",
        project_id=pid,
        snapshot_id=snap.id,
        branch_id=main.id,
    )

    fresh = LocalEngine(server_url, control_db=local.control_db)  # recover() runs
    swapped = step == "after_swap"
    assert fresh.connection_uri(pid) == uri
    assert version(uri) == ("v1" if swapped else "v2")
    assert_consistent(fresh, pid)
    branches = {b.id: b for b in fresh.branch_list(pid)}
    if swapped:
        assert len(branches) == 2
        assert branches[main.id].name == "main (old)" and not branches[main.id].default
        (new,) = [b for b in branches.values() if b.id != main.id]
        assert new.default and new.name == "main" and new.restored_from == snap.id
        # No data lost: the orphan still holds v2.
        fresh.endpoint_create(pid, main.id)
        assert version(fresh.connection_uri(pid, branch_id=main.id)) == "v2"
        target = new.id
    else:
        assert list(branches) == [main.id] and branches[main.id].default
        target = main.id
    # The project is not wedged: the next rollback works.
    fresh.snapshot_restore(pid, snap.id, target_branch_id=target, finalize_restore=True)
    assert version(uri) == "v1"
    assert_consistent(fresh, pid)


@pytest.mark.parametrize("step", OTHER_STEPS)
def test_other_mutations_killed(local, pg_server, step):
    server_url = engine_url()
    created = local.project_create(name="crash")
    pid, main = created.project.id, created.branch
    uri = local.connection_uri(pid)
    set_version(uri, "v1")
    snap = local.snapshot_create(pid, main.id, name="v1").snapshot
    preview = local.snapshot_restore(pid, snap.id, name="preview").branch
    projects_before = {p.id for p in local.project_list()}

    call = {
        "project_intent_recorded": "create_project",
        "snapshot_dumped": "snapshot",
        "snapshot_copied": "snapshot",
        "delete_intent_recorded": "delete_branch",
    }[step]
    branch = preview.id if call == "delete_branch" else main.id
    # An app connected to the live database: a save then dumps (with nobody there it
    # copies by template, and never reaches `snapshot_dumped`).
    with psycopg.connect(uri, autocommit=True) as app:
        run_child(local, server_url, step=step, call=call, project_id=pid, branch_id=branch)
        if call == "snapshot":
            assert app.execute("SELECT 1").fetchone() == (1,)  # the save did not end it

    fresh = LocalEngine(server_url, control_db=local.control_db)
    assert {p.id for p in fresh.project_list()} == projects_before
    assert version(uri) == "v1"  # connectable again, data intact
    assert [s.id for s in fresh.snapshot_list(pid)] == [snap.id]
    expected = {main.id} if call == "delete_branch" else {main.id, preview.id}
    assert {b.id for b in fresh.branch_list(pid)} == expected
    assert_consistent(fresh, pid)
    saving = fresh._saving_dir()  # a killed save's temporary archive is gone too
    assert not saving.is_dir() or list(saving.iterdir()) == []
    with psycopg.connect(fresh._control_conninfo, autocommit=True) as conn:
        orphan_roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE left(rolname, %s) = %s "
            "AND rolname NOT IN (SELECT name FROM roles)",
            (len(fresh.names.prefix), fresh.names.prefix),
        ).fetchall()
    assert orphan_roles == []
