"""Warm copies: a ready copy of the most recent snapshots makes a rollback only the swap.

Checked here: the warm rollback serves the snapshot's exact data and schema; a consumed
warm copy is made again in the background; warm copies are no branches, never
connectable, and go with their snapshot and project; a warm-up killed at each step is
repaired by `recover()`; a mutation waits for a warm-up's brief catalog step instead of
getting "locked".
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineLocked
from checkpoints.engines.local import WARM_STEPS, LocalEngine, _warm_key
from checkpoints.engines.local.core import WARM_STEP_WAIT
from tests.engines.test_local_crash import ROOT, wait_for_other_engines_gone
from tests.postgres_plugin import engine_url

SCHEMA_SQL = (
    "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
)


def state(uri: str) -> tuple[list[tuple], list[tuple]]:
    return run_sql(uri, SCHEMA_SQL), run_sql(uri, "SELECT * FROM items ORDER BY 1")


def catalog(engine: LocalEngine, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(engine._control_conninfo, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def warm_rows(engine: LocalEngine, project_id: str) -> dict[str, tuple[str, str]]:
    rows = catalog(
        engine,
        "SELECT snapshot_id, dbname, state FROM warm_copies WHERE project_id = %s",
        (project_id,),
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def databases(engine: LocalEngine) -> dict[str, bool]:
    prefix = engine.names.prefix
    rows = catalog(
        engine,
        "SELECT datname, datallowconn FROM pg_database WHERE left(datname, %s) = %s",
        (len(prefix), prefix),
    )
    return dict(rows)


def assert_known(engine: LocalEngine) -> None:
    """Every prefixed database is a branch, snapshot or warm copy; every row is ready."""
    known = {
        row[0]
        for row in catalog(
            engine,
            "SELECT dbname FROM branches UNION ALL SELECT dbname FROM snapshots "
            "UNION ALL SELECT dbname FROM warm_copies",
        )
    }
    assert set(databases(engine)) == known
    assert catalog(engine, "SELECT dbname FROM warm_copies WHERE state <> 'ready'") == []


def two_versions(engine: LocalEngine):
    created = engine.project_create(name="warm")
    pid, main = created.project.id, created.branch.id
    uri = engine.connection_uri(pid)
    run_sql(uri, "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
    run_sql(uri, "INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    v1_state = state(uri)
    v1 = engine.snapshot_create(pid, main, name="v1").snapshot
    run_sql(uri, "ALTER TABLE items ADD COLUMN tags text[] DEFAULT '{}'")
    run_sql(uri, "INSERT INTO items VALUES (3, 'three', '{x}')")
    v2_state = state(uri)
    v2 = engine.snapshot_create(pid, main, name="v2").snapshot
    return pid, main, uri, (v1, v1_state), (v2, v2_state)


def test_warm_rollback_serves_the_snapshot_exactly_and_is_rewarmed(local):
    pid, main, uri, (v1, v1_state), (v2, v2_state) = two_versions(local)

    assert sorted(local.warm_up(pid)) == sorted([v1.id, v2.id])
    assert local.warm_up(pid) == []  # nothing left to do
    storage = local.warm_storage(pid)
    assert [sid for sid, _ in storage] == [v2.id, v1.id]
    assert all(size > 0 for _, size in storage)
    warm = warm_rows(local, pid)
    present = databases(local)
    for dbname, row_state in warm.values():
        assert row_state == "ready" and present[dbname] is False  # never connectable
    assert [b.name for b in local.branch_list(pid)] == ["main"]  # no branches

    run_sql(uri, "DROP TABLE items")  # work after v2, to be rolled back
    restored = local.snapshot_restore(pid, v1.id, target_branch_id=main, finalize_restore=True)
    assert local.connection_uri(pid) == uri
    assert state(uri) == v1_state
    assert warm[v1.id][0] not in databases(local)  # renamed onto the endpoint: consumed
    assert restored.branch.default and restored.orphan_branch_id == main

    assert local.warm_wait(timeout=30)  # the consumed one is made again in the background
    rewarmed = warm_rows(local, pid)
    assert set(rewarmed) == {v1.id, v2.id}
    assert rewarmed[v1.id][0] != warm[v1.id][0] and rewarmed[v2.id] == warm[v2.id]

    local.snapshot_restore(pid, v2.id, target_branch_id=restored.branch.id, finalize_restore=True)
    assert state(uri) == v2_state
    assert local.warm_wait(timeout=30)
    assert_known(local)


def test_warm_copies_follow_the_most_recent_snapshots(local):
    pid, main, uri, (v1, _), (v2, _) = two_versions(local)
    local.warm_copies = 1
    try:
        assert local.warm_up(pid) == [v2.id]
        run_sql(uri, "INSERT INTO items VALUES (4, 'four', '{}')")
        v3 = local.snapshot_create(pid, main, name="v3").snapshot
        old = warm_rows(local, pid)[v2.id][0]
        assert local.warm_up(pid) == [v3.id]
        assert set(warm_rows(local, pid)) == {v3.id}
        assert old not in databases(local)  # the older one's copy is dropped
        local.warm_copies = 0
        assert local.warm_up(pid) == []
        assert warm_rows(local, pid) == {}
    finally:
        local.warm_copies = 2
    assert_known(local)


def test_warm_copies_go_with_their_snapshot_and_project(local):
    pid, main, uri, (v1, _), (v2, _) = two_versions(local)
    local.warm_up(pid)
    warm = warm_rows(local, pid)
    local.snapshot_delete(pid, v2.id)
    assert set(warm_rows(local, pid)) == {v1.id}
    assert warm[v2.id][0] not in databases(local)
    assert [sid for sid, _ in local.warm_storage(pid)] == [v1.id]

    local.project_delete(pid)
    assert warm[v1.id][0] not in databases(local)
    assert catalog(local, "SELECT * FROM warm_copies WHERE project_id = %s", (pid,)) == []
    assert_known(local)


def test_cold_rollback_and_preview_leave_warm_copies_alone(local):
    pid, main, uri, (v1, v1_state), _ = two_versions(local)
    local.warm_copies = 1  # only v2 is warm; v1 is a cold rollback
    try:
        local.warm_up(pid)
        warm = warm_rows(local, pid)
        preview = local.snapshot_restore(pid, v1.id, name="preview").branch
        restored = local.snapshot_restore(pid, v1.id, target_branch_id=main, finalize_restore=True)
        assert state(uri) == v1_state
        assert warm_rows(local, pid) == warm
        local.branch_delete(pid, preview.id)
        local.branch_delete(pid, restored.orphan_branch_id)
    finally:
        local.warm_copies = 2
    assert_known(local)


def test_a_mutation_waits_for_a_warm_ups_brief_step_but_not_for_a_mutation(local):
    pid, main, uri, (v1, _), _ = two_versions(local)
    key = (local.control_db, pid)
    with psycopg.connect(local._control_conninfo, autocommit=True) as holder:
        # Hold the project's lock as a warm-up does (it also holds its warm-up lock) …
        holder.execute(
            "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (key[0], _warm_key(pid))
        )
        holder.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", key)
        release = threading.Timer(
            0.2,
            lambda: holder.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", key),
        )
        release.start()
        started = time.monotonic()
        local.snapshot_rename(pid, v1.id, "v1 renamed")  # … the mutation waits, then runs
        assert time.monotonic() - started >= 0.15
        release.join()
        # … but a mutation holding it (no warm-up lock) still means "locked" at once.
        holder.execute(
            "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (key[0], _warm_key(pid))
        )
        holder.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", key)
        started = time.monotonic()
        with pytest.raises(EngineLocked):
            local.snapshot_rename(pid, v1.id, "again")
        assert time.monotonic() - started < WARM_STEP_WAIT / 2  # refused, not waited out


CHILD = """
import json, os, signal, sys
from checkpoints.engines.local import LocalEngine
args = json.loads(sys.argv[1])
def hook(step):
    if step == args["step"]:
        os.kill(os.getpid(), signal.SIGKILL)
engine = LocalEngine(args["server_url"], control_db=args["control_db"], fault_hook=hook,
                     recover=False)
engine.warm_up(args["project_id"])
sys.exit(3)
"""


@pytest.mark.parametrize("step", WARM_STEPS)
def test_warm_up_killed_at_each_step_is_repaired(local, pg_server, step):
    server_url = engine_url()
    pid, main, uri, (v1, v1_state), (v2, _) = two_versions(local)
    payload = json.dumps(
        {"server_url": server_url, "control_db": local.control_db, "step": step, "project_id": pid}
    )
    child = subprocess.run(
        [sys.executable, "-c", CHILD, payload], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr[-2000:])
    wait_for_other_engines_gone(server_url)
    assert [row[1] for row in warm_rows(local, pid).values()] == ["init"]

    fresh = LocalEngine(server_url, control_db=local.control_db)  # recover() runs
    assert warm_rows(fresh, pid) == {}
    assert_known(fresh)
    # Not wedged: warming and a warm rollback work.
    assert sorted(fresh.warm_up(pid)) == sorted([v1.id, v2.id])
    fresh.snapshot_restore(pid, v1.id, target_branch_id=main, finalize_restore=True)
    assert state(uri) == v1_state
    assert fresh.warm_wait(timeout=30)
    assert_known(fresh)
