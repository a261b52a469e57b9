"""The local engine's history window: a version as of a past time, LSN or transaction
(from a team server's WAL archive and base backups) holds what the database held then;
a recovery killed at any step leaves no scratch instance, folder or snapshot behind."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest

from checkpoints.engines.base import AsOf
from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineInvalidRequest
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.history import basebackup, reaping, wal
from checkpoints.servers.pgroles import ENGINE_ROLE
from tests.engines.test_local_crash import run_child
from tests.engines.test_trojan_catalog import MARK, RECORDER
from tests.history_server import History, history_server


@pytest.fixture(scope="module")
def history():
    with history_server() as made:
        yield made


@pytest.fixture(scope="module")
def engine(history):
    engine = history.engine()
    try:
        yield engine
    finally:
        engine.close()  # the server and its folder go with the module


def state(uri: str) -> tuple[list[tuple], list[tuple]]:
    """(the contacts table's columns, its rows): what a version must give back."""
    columns = run_sql(
        uri,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'contacts' ORDER BY ordinal_position",
    )
    rows = run_sql(uri, "SELECT * FROM contacts ORDER BY id") if columns else []
    return [tuple(c) for c in columns], [tuple(r) for r in rows]


def now(uri: str):
    return run_sql(uri, "SELECT clock_timestamp()")[0][0]


def project(engine: LocalEngine, history: History) -> tuple[str, str, str]:
    made = engine.project_create(name="history")
    uri = engine.connection_uri(made.project.id)
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL)")
    run_sql(uri, "INSERT INTO contacts SELECT i, 'contact ' || i FROM generate_series(1, 40) i")
    return made.project.id, made.branch.id, uri


def rolled_back_to(engine: LocalEngine, project_id: str, snapshot_id: str):
    """The live database's state after a rollback to the snapshot (onto the active
    branch, whose id a rollback changes)."""
    [active] = [b for b in engine.branch_list(project_id) if b.default]
    engine.snapshot_restore(
        project_id, snapshot_id, target_branch_id=active.id, finalize_restore=True
    )
    return state(engine.connection_uri(project_id))


def test_a_version_as_of_a_past_time_holds_what_the_database_held_then(engine, history):
    project_id, branch_id, uri = project(engine, history)
    run_sql(uri, "UPDATE contacts SET name = 'renamed' WHERE id <= 5")
    then, moment = state(uri), now(uri)
    run_sql(uri, "ALTER TABLE contacts ADD COLUMN email text")
    run_sql(uri, "DELETE FROM contacts WHERE id > 10")
    assert state(uri) != then
    created = engine.snapshot_create(project_id, branch_id, name="as of", timestamp=moment)
    assert created.snapshot.tier == "cold"
    assert [s.id for s in engine.snapshot_list(project_id)] == [created.snapshot.id]
    assert rolled_back_to(engine, project_id, created.snapshot.id) == then
    assert len(then[1]) == 40 and then[1][0] == (1, "renamed")


def test_code_planted_before_the_moment_runs_as_the_project_at_most(engine, history):
    """The as-of path's trojan step: a CHECK calling the agent's function, planted before
    the moment, runs when the recovered version is loaded (a cold load) — as the
    project's role, logged in as it, and none of its escalations holds."""
    project_id, branch_id, uri = project(engine, history)
    run_sql(uri, RECORDER.format(mark=MARK, engine=ENGINE_ROLE, other=ENGINE_ROLE))
    run_sql(uri, "CREATE TABLE t_check (id int CHECK (public.trojan('as-of')))")
    run_sql(uri, "INSERT INTO t_check VALUES (1), (2)")
    moment = now(uri)
    run_sql(uri, "DELETE FROM t_check")
    seen = len(history.server.log_file.read_text(errors="replace"))
    created = engine.snapshot_create(project_id, branch_id, timestamp=moment).snapshot
    assert rolled_back_to(engine, project_id, created.id)[0] != []  # contacts came back
    assert run_sql(engine.connection_uri(project_id), "SELECT count(*) FROM t_check") == [(2,)]
    said = history.server.log_file.read_text(errors="replace")[seen:]
    ran = re.findall(rf"{MARK}\|as-of\|([^|]*)\|([^|]*)\|([^|]*)\|", said)
    role = engine.names.role(project_id)
    assert ran and set(ran) == {(role, role, "")}
    roles = run_sql(history.url, f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{MARK}%'")
    assert roles == []


def test_as_of_an_lsn_and_just_before_a_transaction(engine, history):
    project_id, branch_id, uri = project(engine, history)
    before = state(uri)
    with psycopg.connect(uri, autocommit=True) as conn:
        with conn.transaction():
            xid = conn.execute("SELECT txid_current()").fetchone()[0]
            conn.execute("DROP TABLE contacts")
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL)")
    by_lsn = engine.snapshot_create(project_id, branch_id, lsn=lsn).snapshot
    just_before = engine.snapshot_as_of(
        project_id, branch_id, AsOf(xid=xid, inclusive=False), name="before the drop"
    ).snapshot
    assert rolled_back_to(engine, project_id, by_lsn.id) == ([], [])
    assert rolled_back_to(engine, project_id, just_before.id) == before


def test_a_moment_before_the_window_or_without_a_database_is_refused(engine, history):
    [oldest] = basebackup.backups(history.dir)
    made = engine.project_create(name="before")
    with pytest.raises(EngineInvalidRequest, match="history window"):
        engine.snapshot_create(made.project.id, made.branch.id, timestamp=oldest.finished_at)
    moment = now(engine.connection_uri(made.project.id))
    young = engine.project_create(name="young")
    with pytest.raises(EngineInvalidRequest, match="no database at that moment"):
        engine.snapshot_create(young.project.id, young.branch.id, timestamp=moment)
    assert engine.snapshot_list(young.project.id) == []


def postmasters_under(folder: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(proc.pid)
    return found


@pytest.mark.parametrize("step", ["scratch_recovered", "as_of_archived"])
def test_a_killed_recovery_leaves_nothing_behind(engine, history, step):
    project_id, branch_id, uri = project(engine, history)
    moment = now(uri)
    scratch = history.dir / wal.SCRATCH_DIR
    run_child(
        engine,
        history.url,
        step=step,
        call="as_of",
        project_id=project_id,
        branch_id=branch_id,
        timestamp=moment.isoformat(),
        archive_dir=str(history.root / "cold"),
        history_dir=str(history.dir),
    )
    left = [folder.name for folder in scratch.iterdir()]
    assert left  # the killed process left its scratch folder
    if step == "scratch_recovered":
        assert postmasters_under(scratch)  # and its instance running
    else:
        assert run_sql(
            history.server.url(engine.control_db),
            "SELECT state FROM snapshots WHERE project_id = %s",
            (project_id,),
        ) == [("init",)]
    restarted = history.engine(control_db=engine.control_db, recover=False)
    try:
        assert restarted.recover()["scratch_reaped"] == len(left) == 1
    finally:
        restarted.close()
    assert list(scratch.iterdir()) == []
    assert postmasters_under(scratch) == []
    for name in left:
        assert not (Path(tempfile.gettempdir()) / f"{reaping.SOCKET_PREFIX}{name}").exists()
    assert engine.snapshot_list(project_id) == []
    assert list((history.root / "cold" / engine.control_db / project_id).rglob("*")) == []


def test_a_reap_leaves_the_staging_folder_of_a_backup_being_taken(tmp_path):
    """Every engine start reaps half-made backups; another process's backup in progress
    holds the history's backup lock, and its staging folder is not a leftover."""
    staging = tmp_path / wal.BASE_DIR / ".tmp-20261207T000000000000Z-full"
    staging.mkdir(parents=True)
    with basebackup._taking(tmp_path, wait=True):  # as `take` holds it while it runs
        basebackup.reap(tmp_path)
        assert staging.is_dir()
    basebackup.reap(tmp_path)  # nobody takes one now: a leftover, removed
    assert not staging.exists()
