"""Deleting a branch drops its database (a forced checkpoint: seconds under load) without
the project's lock: the project's next mutation — a rollback right after a rollback whose
orphan is being deleted — is not refused as locked, and `recover()` in another process
leaves a delete in flight alone."""

from __future__ import annotations

import psycopg

from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import LocalEngine
from tests.postgres_plugin import engine_url


def _database_exists(local: LocalEngine, dbname: str) -> bool:
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            is not None
        )


def _rolled_back(local: LocalEngine):
    project = local.project_create(name="delete-unlocked").project
    uri = local.connection_uri(project.id)
    run_sql(uri, "CREATE TABLE marker (v int); INSERT INTO marker VALUES (1)")
    main = next(b.id for b in local.branch_list(project.id) if b.default)
    snapshot = local.snapshot_create(project.id, main).snapshot
    restored = local.snapshot_restore(
        project.id, snapshot.id, target_branch_id=main, finalize_restore=True
    )
    return project, uri, snapshot, restored


def test_a_rollback_runs_while_the_previous_orphan_is_being_dropped(local):
    project, uri, snapshot, first = _rolled_back(local)
    run_sql(uri, "UPDATE marker SET v = 2")
    seen: dict[str, object] = {}

    def meanwhile(step: str) -> None:
        if step == "delete_intent_recorded" and "second" not in seen:
            local.fault_hook = None
            seen["second"] = local.snapshot_restore(
                project.id, snapshot.id, target_branch_id=first.branch.id, finalize_restore=True
            )

    local.fault_hook = meanwhile
    local.branch_delete(project.id, first.orphan_branch_id)
    assert "second" in seen, "the delete never reached its drop"
    assert run_sql(uri, "SELECT v FROM marker") == [(1,)]
    assert first.orphan_branch_id not in {b.id for b in local.branch_list(project.id)}


def test_recover_elsewhere_leaves_a_delete_in_flight_alone(local):
    project, _, _, first = _rolled_back(local)
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        dbname = conn.execute(
            "SELECT dbname FROM branches WHERE id = %s", (first.orphan_branch_id,)
        ).fetchone()[0]
    other = LocalEngine(engine_url(), control_db=local.control_db, recover=False)
    found: dict[str, object] = {}

    def meanwhile(step: str) -> None:
        if step == "delete_intent_recorded":
            other.recover()
            found["exists"] = _database_exists(local, dbname)
            with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
                found["state"] = conn.execute(
                    "SELECT state FROM branches WHERE id = %s", (first.orphan_branch_id,)
                ).fetchone()

    local.fault_hook = meanwhile
    local.branch_delete(project.id, first.orphan_branch_id)
    assert found == {"exists": True, "state": ("deleting",)}
    assert not _database_exists(local, dbname)
