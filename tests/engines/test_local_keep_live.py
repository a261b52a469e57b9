"""A rollback keeps the live state without copying it (issue 31): the swap renames the
replaced live database to a snapshot's, in the swap's own transaction. The kept snapshot
holds the live data, is the engine's alone like any snapshot, and a crash right after
the swap leaves it kept and the project consistent."""

from __future__ import annotations

import psycopg
import pytest

from checkpoints.engines.base import KeepLive
from checkpoints.engines.local import LocalEngine
from tests.engines.test_local_crash import assert_consistent, run_child, set_version, version
from tests.postgres_plugin import engine_url


def _project(local: LocalEngine) -> tuple[str, str, str, str]:
    made = local.project_create(name="keep")
    pid, main = made.project.id, made.branch.id
    uri = local.connection_uri(pid)
    set_version(uri, "v1")
    snap = local.snapshot_create(pid, main, name="v1").snapshot
    set_version(uri, "v2")
    return pid, main, uri, snap.id


def _kept_db_is_the_engines(local: LocalEngine, dbname: str) -> None:
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user), "
            "d.datallowconn, (SELECT count(*) FROM aclexplode(d.datacl) x "
            "WHERE x.grantee <> d.datdba) FROM pg_database d WHERE d.datname = %s",
            (dbname,),
        ).fetchone()
    assert row == (True, False, 0)


def _holds(local: LocalEngine, pid: str, snapshot_id: str) -> str:
    branch = local.snapshot_restore(pid, snapshot_id, name="look").branch
    local.endpoint_create(pid, branch.id)
    return version(local.connection_uri(pid, branch_id=branch.id))


def _counts(local: LocalEngine, oid: int) -> tuple:
    """The database's write counters one by one, and who is connected to it: what a
    mismatch of the write counts would need to be explained."""
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        counts = conn.execute(
            "SELECT tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datid = %s",
            (oid,),
        ).fetchone()
        sessions = conn.execute(
            "SELECT application_name, backend_type, state, left(query, 80) "
            "FROM pg_stat_activity WHERE datid = %s",
            (oid,),
        ).fetchall()
    return counts, sessions


def test_a_rollback_keeps_the_live_database_as_a_snapshot_by_renaming_it(local: LocalEngine):
    pid, main, uri, v1 = _project(local)
    live_db = psycopg.conninfo.conninfo_to_dict(uri)["dbname"]
    writes = local.live_writes(pid)
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        live_oid = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (live_db,)
        ).fetchone()[0]
    before = _counts(local, live_oid)
    done = local.snapshot_restore(
        pid, v1, target_branch_id=main, finalize_restore=True, keep_live=KeepLive("Before rollback")
    )
    assert version(uri) == "v1"
    kept = done.kept
    assert kept is not None and kept.name == "Before rollback"
    assert done.orphan_branch_id is None  # no orphan: it became the snapshot
    # Nothing written between: a manifest read then is exact.
    assert done.kept_writes == writes, (before, _counts(local, live_oid))
    assert [b.id for b in local.branch_list(pid)] == [done.branch.id]
    assert {s.id for s in local.snapshot_list(pid)} == {v1, kept.id}
    with psycopg.connect(local._control_conninfo, autocommit=True) as conn:
        kept_db, kept_oid = conn.execute(
            "SELECT s.dbname, d.oid FROM snapshots s JOIN pg_database d ON d.datname = s.dbname "
            "WHERE s.id = %s",
            (kept.id,),
        ).fetchone()
    assert kept_oid == live_oid  # the same database, renamed: no copy
    _kept_db_is_the_engines(local, kept_db)
    assert _holds(local, pid, kept.id) == "v2"
    # And a rollback to it brings v2 back.
    local.snapshot_restore(pid, kept.id, target_branch_id=done.branch.id, finalize_restore=True)
    assert version(uri) == "v2"


def test_a_write_after_the_count_shows_in_the_kept_writes(local: LocalEngine):
    pid, main, uri, v1 = _project(local)
    writes = local.live_writes(pid)
    set_version(uri, "v2b")
    done = local.snapshot_restore(
        pid, v1, target_branch_id=main, finalize_restore=True, keep_live=KeepLive("kept")
    )
    assert done.kept is not None and done.kept_writes is not None
    assert writes is not None and done.kept_writes > writes
    assert _holds(local, pid, done.kept.id) == "v2b"


def test_a_branch_with_its_own_read_only_role_is_kept_by_a_copy(local: LocalEngine):
    pid, main, uri, v1 = _project(local)
    local.readonly_role_ensure(pid, main)
    done = local.snapshot_restore(
        pid, v1, target_branch_id=main, finalize_restore=True, keep_live=KeepLive("kept")
    )
    assert done.kept is not None and done.orphan_branch_id == main
    assert _holds(local, pid, done.kept.id) == "v2"
    assert main in {b.id for b in local.branch_list(pid)}  # the orphan, as without keeping


@pytest.mark.parametrize("step", ["before_orphan_recorded", "after_swap"])
def test_a_kept_rollback_killed_at_the_swap(local: LocalEngine, pg_server, step: str):
    pid, main, uri, v1 = _project(local)
    run_child(
        local, engine_url(), step=step, call="rollback", project_id=pid,
        snapshot_id=v1, branch_id=main, keep="Before rollback",
    )  # fmt: skip
    fresh = LocalEngine(engine_url(), control_db=local.control_db)  # recover() runs
    assert_consistent(fresh, pid)
    snapshots = {s.name: s.id for s in fresh.snapshot_list(pid)}
    if step == "after_swap":
        assert version(uri) == "v1"
        assert set(snapshots) == {"v1", "Before rollback"}
        assert [b.id for b in fresh.branch_list(pid)] != [main]
        assert _holds(fresh, pid, snapshots["Before rollback"]) == "v2"
    else:  # the swap's transaction never committed: as before the rollback
        assert version(uri) == "v2"
        assert set(snapshots) == {"v1"}
        assert [b.id for b in fresh.branch_list(pid)] == [main]
