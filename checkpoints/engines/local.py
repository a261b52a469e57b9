"""The local engine: Neon's snapshot semantics on one PostgreSQL server.

- branch = a database; snapshot = a database copied with `CREATE DATABASE … TEMPLATE`,
  not connectable (`ALLOW_CONNECTIONS false`) and owned by the engine's role, so nobody
  can connect to it or change it; endpoint = the stable database name a connection string
  carries, held by the branch it serves.
- each project has its own login role (random password) that owns its branch databases;
  PUBLIC may not connect to them, so a project's connection string opens nothing else.
- the catalog (projects, roles, branches, snapshots, endpoints, operations) lives in the
  control database on the same server: a rollback renames the active database away, the
  new one onto the endpoint's name and moves the catalog rows in ONE transaction.
- one mutation per project at a time: a session-level advisory lock, held on the control
  connection that also runs the CREATE/DROP DATABASE statements (so a crashed caller's
  server-side work ends before anyone else may touch the project); a second caller gets
  `EngineLocked`, Neon's 423.
- intent first: rows in state `init`/`deleting` and operations `running` are committed
  before any database is created or dropped; `recover()` undoes or finishes what a crash
  left (see its docstring).
- warm copies: after a snapshot, `warm_up()` (the app calls it in the background) keeps a
  ready, non-connectable copy of the project's `warm_copies` most recent snapshots, so a
  rollback to one of them is only the rename swap. A warm-up holds its own per-project
  lock while copying and the project's lock only for brief catalog steps; a mutation that
  finds the project's lock held by a warm-up waits those milliseconds instead of `423`.

The work is synchronous: operations are returned already `finished`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import local_catalog as cat
from . import local_contain as contain
from . import local_names as ids
from . import local_readonly as readonly
from . import local_sql as db
from .base import (
    BUSY_STATUSES,
    FAILED,
    FINISHED,
    ROOT_BRANCH_NAME,
    RUNNING,
    Branch,
    Endpoint,
    EndpointCreated,
    Engine,
    Operation,
    Project,
    ProjectCreated,
    RestoreResult,
    Snapshot,
    SnapshotCreated,
    mask_password,
)
from .errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineNotSupported,
    EngineTransientError,
)

log = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "project already has running conflicting operations, scheduling of new ones is prohibited"
)
INTERRUPTED = "interrupted: the engine stopped during this operation"

#: Steps of a rollback at which `fault_hook(step)` is called (tests kill the process there).
ROLLBACK_STEPS = (
    "after_branch_created",  # the snapshot copied into the new branch's database (`init`)
    "before_swap",  # the active database blocked and its sessions ended
    "before_orphan_recorded",  # inside the swap transaction: renames done, rows not yet
    "after_swap",  # renames and rows committed together; operations finished
)
# The orphan is recorded in the swap's own transaction, so "the swap happened but the
# orphan was not recorded" cannot be observed: a crash before the commit undoes both.
#: Steps of other mutations with a fault hook: a crash there must be repaired as well.
OTHER_STEPS = (
    "project_intent_recorded",  # project_create: rows and role committed, no database yet
    "copy_sessions_ended",  # snapshot_create: active database blocked, copy not started
    "snapshot_copied",  # snapshot_create: copy made, not yet recorded ready
    "delete_intent_recorded",  # branch_delete: branch marked deleting, database still there
)

#: Steps of a warm-up (a copy of a recent snapshot made ready for rollbacks).
WARM_STEPS = (
    "warm_intent_recorded",  # warm copy recorded `init`, copy not started
    "warm_copied",  # copy made, not yet recorded ready
)
#: How long a mutation waits for a warm-up's brief catalog step (it holds the project's
#: lock for milliseconds); and how long a warm-up waits for a mutation or another warm-up.
WARM_STEP_WAIT = 10.0
WARM_LOCK_WAIT = 120.0

OpSpec = tuple[str, str | None, str | None]  # (action, branch_id, endpoint_id)


class LocalEngine(Engine):
    """Projects, branches, snapshots and endpoints as databases on one PostgreSQL server."""

    name = "local"
    supports_point_in_time = False
    #: A restore's swap commits (connections allowed again) before `snapshot_restore`
    #: returns: the endpoint serves the restored database at once, no wait needed.
    serves_restore_at_once = True
    supports_readonly_roles = True

    def __init__(
        self,
        server_url: str,
        *,
        control_db: str = "checkpoints_engine",
        fault_hook: Callable[[str], None] | None = None,
        recover: bool = True,
        warm_copies: int = 2,
        limits: contain.RoleLimits | None = None,
    ) -> None:
        self.control_db = ids.check_control_db(control_db)
        self.limits = limits or contain.RoleLimits()
        self.warm_copies = max(0, int(warm_copies))
        self._warmers: list[threading.Thread] = []
        self._warmers_lock = threading.Lock()
        self.names = ids.Names(control_db)
        self.fault_hook = fault_hook
        params = conninfo_to_dict(server_url)
        self.host = str(params.get("host") or "localhost")
        self.port = int(params.get("port") or 5432)
        self._server_url = server_url
        self._server_conninfo = make_conninfo(server_url)
        self._control_conninfo = make_conninfo(server_url, dbname=control_db)
        self._bootstrap()
        if recover:
            self.recover()

    def __repr__(self) -> str:
        return f"LocalEngine({self.host}:{self.port}, control_db={self.control_db!r})"

    # ------------------------------------------------------------------ connections

    def _connect(self, conninfo: str | None = None) -> db.Conn:
        try:
            # The pid in application_name tells whose sessions these are (after a fork too).
            return psycopg.connect(
                conninfo or self._control_conninfo,
                autocommit=True,
                application_name=f"checkpoints-engine:{os.getpid()}",
            )
        except psycopg.OperationalError as error:
            raise EngineTransientError(
                "cannot reach the local engine's PostgreSQL server: "
                + mask_password(str(error)).strip()
            ) from None

    def _db_conninfo(self, dbname: str) -> str:
        return make_conninfo(self._server_url, dbname=dbname)

    @contextmanager
    def _reading(self) -> Iterator[db.Conn]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _mutation(self, project_id: str, *, existing: bool = True) -> Iterator[db.Conn]:
        """A control connection holding the project's lock for the whole mutation."""
        conn = self._connect()
        try:
            if not self._try_lock(conn, project_id) and not self._lock_after_warm_up(
                conn, project_id
            ):
                raise EngineLocked(LOCKED_MESSAGE, status=423)
            if existing:
                self._project_row(conn, project_id)
            yield conn
        finally:
            conn.close()  # ends the session: releases the advisory lock

    def _try_lock(self, conn: db.Conn, project_id: str) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
            (self.control_db, project_id),
        ).fetchone()
        return bool(row and row[0])

    def _lock_after_warm_up(self, conn: db.Conn, project_id: str) -> bool:
        """Take the project's lock if only a warm-up holds it (for a brief catalog step):
        poll until it is free. False as soon as anyone else holds it."""
        deadline = time.monotonic() + WARM_STEP_WAIT
        interval = 0.001
        while time.monotonic() < deadline:
            holder = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks w WHERE w.pid = m.pid "
                "  AND w.locktype = 'advisory' AND w.granted AND w.objsubid = 2 "
                "  AND w.classid = hashtext(%s)::oid AND w.objid = hashtext(%s)::oid) "
                "FROM pg_locks m WHERE m.locktype = 'advisory' AND m.granted "
                "AND m.objsubid = 2 AND m.classid = hashtext(%s)::oid "
                "AND m.objid = hashtext(%s)::oid",
                (self.control_db, _warm_key(project_id), self.control_db, project_id),
            ).fetchone()
            if holder is not None and not holder[0]:
                return False  # held by a mutation, not a warm-up
            if self._try_lock(conn, project_id):
                return True
            time.sleep(interval)
            interval = min(interval * 2, 0.01)
        return False

    def _unlock(self, conn: db.Conn, project_id: str) -> None:
        conn.execute(
            "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (self.control_db, project_id)
        )

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _bootstrap(self) -> None:
        with self._connect(self._server_conninfo) as conn:
            # Web and worker processes start engines at the same moment: concurrent GRANT/
            # REVOKE on one database fail with "tuple concurrently updated". Serialise.
            conn.execute("SELECT pg_advisory_lock(hashtext('checkpoints-engine-bootstrap'))")
            try:
                if not db.database_exists(conn, self.control_db):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.control_db))
                    )
                db.restrict_access(conn, self.control_db, None)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('checkpoints-engine-bootstrap'))")
        with self._reading() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('checkpoints-engine-schema'))")
            conn.execute(cat.SCHEMA)
            conn.execute(readonly.SCHEMA)
            conn.execute(
                "INSERT INTO engine_meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(cat.SCHEMA_VERSION),),
            )

    # ------------------------------------------------------------------ catalog reads

    def _project_row(self, conn: db.Conn, project_id: str) -> tuple[Any, ...]:
        return _one(
            conn,
            f"SELECT {cat.PROJECT_COLUMNS} FROM projects WHERE id = %s AND state = 'ready'",
            (project_id,),
            f"project {project_id} not found",
        )

    def _branch_row(self, conn: db.Conn, project_id: str, branch_id: str) -> tuple[Any, ...]:
        return _one(
            conn,
            f"SELECT {cat.BRANCH_COLUMNS} FROM branches b "
            "WHERE b.project_id = %s AND b.id = %s AND b.state = 'ready'",
            (project_id, branch_id),
            f"branch {branch_id} not found in project {project_id}",
        )

    def _default_branch_row(self, conn: db.Conn, project_id: str) -> tuple[Any, ...]:
        return _one(
            conn,
            f"SELECT {cat.BRANCH_COLUMNS} FROM branches b "
            "WHERE b.project_id = %s AND b.is_default AND b.state = 'ready'",
            (project_id,),
            f"project {project_id} has no default branch",
        )

    def _snapshot_row(self, conn: db.Conn, project_id: str, snapshot_id: str) -> tuple[Any, ...]:
        return _one(
            conn,
            f"SELECT {cat.SNAPSHOT_COLUMNS} FROM snapshots s "
            "WHERE s.project_id = %s AND s.id = %s AND s.state = 'ready'",
            (project_id, snapshot_id),
            f"snapshot {snapshot_id} not found in project {project_id}",
        )

    def _endpoint_of(self, conn: db.Conn, branch_id: str) -> tuple[str, str] | None:
        row = conn.execute(
            "SELECT id, dbname FROM endpoints WHERE branch_id = %s", (branch_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _role(self, conn: db.Conn, project_id: str) -> tuple[str, str]:
        row = conn.execute(
            "SELECT name, password FROM roles WHERE project_id = %s", (project_id,)
        ).fetchone()
        if row is None:
            raise EngineNotFound(f"project {project_id} has no role", status=404)
        return row[0], row[1]

    def _branch(self, conn: db.Conn, project_id: str, branch_id: str) -> Branch:
        row = self._branch_row(conn, project_id, branch_id)
        return cat.branch_from(row, self._size(conn, row[-1]))

    def _size(self, conn: db.Conn, dbname: str) -> int | None:
        try:
            return db.database_size(conn, dbname)
        except psycopg.Error:  # dropped or being created meanwhile
            return None

    # ------------------------------------------------------------------ operations

    def _ops_start(
        self,
        conn: db.Conn,
        project_id: str,
        specs: list[OpSpec],
        *,
        on_crash: str = "undo",
        status: str = RUNNING,
    ) -> list[str]:
        op_ids = []
        for action, branch_id, endpoint_id in specs:
            op_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO operations (id, project_id, branch_id, endpoint_id, action, "
                "status, on_crash) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (op_id, project_id, branch_id, endpoint_id, action, status, on_crash),
            )
            op_ids.append(op_id)
        return op_ids

    def _ops_end(
        self, conn: db.Conn, op_ids: list[str], status: str = FINISHED, error: str | None = None
    ) -> None:
        conn.execute(
            "UPDATE operations SET status = %s, error = %s, updated_at = clock_timestamp(), "
            "failures_count = failures_count + %s, total_duration_ms = "
            "(extract(epoch FROM clock_timestamp() - created_at) * 1000)::int "
            "WHERE id = ANY(%s::uuid[])",
            (status, error, 1 if status == FAILED else 0, op_ids),
        )

    def _ops(self, conn: db.Conn, op_ids: list[str]) -> list[Operation]:
        rows = conn.execute(
            f"SELECT {cat.OPERATION_COLUMNS} FROM operations WHERE id = ANY(%s::uuid[])",
            (op_ids,),
        ).fetchall()
        by_id = {row[0]: cat.operation_from(row) for row in rows}
        return [by_id[op_id] for op_id in op_ids if op_id in by_id]

    def _fail(self, conn: db.Conn, op_ids: list[str], error: BaseException) -> None:
        """Record a failure after the work was undone (best effort: the connection may be
        the reason we failed; recover() then marks the operations)."""
        try:
            with conn.transaction():
                self._ops_end(conn, op_ids, FAILED, mask_password(str(error))[:500] or "failed")
        except psycopg.Error:
            pass

    # ------------------------------------------------------------------ projects

    def project_create(self, *, name: str) -> ProjectCreated:
        project_id = ids.project_id()
        branch_id = ids.branch_id()
        endpoint_id = ids.endpoint_id()
        role = self.names.role(project_id)
        dbname = self.names.endpoint_db(endpoint_id)
        with self._mutation(project_id, existing=False) as conn:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO projects (id, name, state) VALUES (%s, %s, 'init')",
                    (project_id, name or project_id),
                )
                password = ids.password()
                conn.execute(
                    "INSERT INTO roles (project_id, name, password) VALUES (%s, %s, %s)",
                    (project_id, role, password),
                )
                db.create_role(conn, role, password)
                contain.apply_role_state(conn, role, password, self.limits, force=True)
                conn.execute(
                    "INSERT INTO branches (id, project_id, name, is_default, state, dbname) "
                    "VALUES (%s, %s, %s, true, 'init', %s)",
                    (branch_id, project_id, ROOT_BRANCH_NAME, dbname),
                )
                conn.execute(
                    "INSERT INTO endpoints (id, project_id, branch_id, dbname) "
                    "VALUES (%s, %s, %s, %s)",
                    (endpoint_id, project_id, branch_id, dbname),
                )
                op_ids = self._ops_start(
                    conn,
                    project_id,
                    [
                        ("create_timeline", branch_id, None),
                        ("start_compute", branch_id, endpoint_id),
                    ],
                )
            try:
                self._fault("project_intent_recorded")
                db.create_empty_database(conn, dbname)
                with self._connect(self._db_conninfo(dbname)) as branch_conn:
                    contain.give_public_schema(branch_conn, role)
                contain.grant_branch(conn, dbname, role)
                with conn.transaction():
                    conn.execute("UPDATE projects SET state = 'ready' WHERE id = %s", (project_id,))
                    conn.execute("UPDATE branches SET state = 'ready' WHERE id = %s", (branch_id,))
                    self._ops_end(conn, op_ids)
            except BaseException:
                self._remove_project(conn, project_id)
                raise
            project = cat.project_from(self._project_row(conn, project_id))
            return ProjectCreated(
                project=project,
                branch=self._branch(conn, project_id, branch_id),
                endpoint=Endpoint(
                    id=endpoint_id, project_id=project_id, branch_id=branch_id, host=self.host
                ),
                operations=self._ops(conn, op_ids),
            )

    def project_get(self, project_id: str) -> Project:
        with self._reading() as conn:
            return cat.project_from(self._project_row(conn, project_id))

    def project_list(self) -> list[Project]:
        """Every ready project (local only: for cleanup tools and tests)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.PROJECT_COLUMNS} FROM projects WHERE state = 'ready' "
                "ORDER BY created_at"
            ).fetchall()
        return [cat.project_from(row) for row in rows]

    def project_delete(self, project_id: str) -> None:
        with self._mutation(project_id) as conn:
            with conn.transaction():
                conn.execute(
                    "UPDATE projects SET state = 'deleting', updated_at = now() WHERE id = %s",
                    (project_id,),
                )
            self._remove_project(conn, project_id)

    def _remove_project(self, conn: db.Conn, project_id: str) -> None:
        """Drop every database and the role of a project, then its catalog rows."""
        rows = conn.execute(
            "SELECT dbname FROM branches WHERE project_id = %s "
            "UNION ALL SELECT dbname FROM snapshots WHERE project_id = %s",
            (project_id, project_id),
        ).fetchall()
        for (dbname,) in rows:
            db.drop_database(conn, dbname)
        # Warm copies last: dropping a snapshot waited for a warm-up copying from it.
        for (dbname,) in conn.execute(
            "SELECT dbname FROM warm_copies WHERE project_id = %s", (project_id,)
        ).fetchall():
            db.drop_database(conn, dbname)
        readonly.drop_for_project(conn, project_id)
        role = conn.execute(
            "SELECT name FROM roles WHERE project_id = %s", (project_id,)
        ).fetchone()
        with conn.transaction():
            for (branch_role,) in conn.execute(
                "DELETE FROM branch_roles WHERE project_id = %s RETURNING name", (project_id,)
            ).fetchall():
                db.drop_role(conn, branch_role)
            if role:
                db.drop_role(conn, role[0])
            conn.execute("DELETE FROM projects WHERE id = %s", (project_id,))

    # ------------------------------------------------------------------ branches

    def branch_list(self, project_id: str) -> list[Branch]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.BRANCH_COLUMNS}, {cat.SIZE_OF.format(col='b.dbname')} "
                "FROM branches b WHERE b.project_id = %s AND b.state <> 'deleting' "
                "ORDER BY b.created_at, b.id",
                (project_id,),
            ).fetchall()
        return [cat.branch_from(row[:-1], row[-1]) for row in rows]

    def branch_get(self, project_id: str, branch_id: str) -> Branch:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            return self._branch(conn, project_id, branch_id)

    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch:
        name = _check_name(name, "branch")
        with self._mutation(project_id) as conn:
            self._branch_row(conn, project_id, branch_id)
            conn.execute(
                "UPDATE branches SET name = %s, updated_at = now() WHERE id = %s",
                (name, branch_id),
            )
            return self._branch(conn, project_id, branch_id)

    def branch_create(
        self, project_id: str, *, parent_id: str | None = None, name: str | None = None
    ) -> Branch:
        """A child branch copying its parent's data now (local only; no endpoint)."""
        with self._mutation(project_id) as conn:
            parent = (
                self._branch_row(conn, project_id, parent_id)
                if parent_id
                else self._default_branch_row(conn, project_id)
            )
            role, _ = self._role(conn, project_id)
            branch_id = ids.branch_id()
            dbname = self.names.branch_db()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO branches (id, project_id, name, parent_id, state, dbname) "
                    "VALUES (%s, %s, %s, %s, 'init', %s)",
                    (branch_id, project_id, name or branch_id, parent[0], dbname),
                )
                op_ids = self._ops_start(conn, project_id, [("create_branch", branch_id, None)])
            try:
                self._copy_live(conn, parent[0], parent[-1], dbname)
                contain.grant_branch(conn, dbname, role)
                with conn.transaction():
                    conn.execute("UPDATE branches SET state = 'ready' WHERE id = %s", (branch_id,))
                    self._ops_end(conn, op_ids)
            except BaseException as error:
                self._undo_branch(conn, branch_id, dbname)
                self._fail(conn, op_ids, error)
                raise
            return self._branch(conn, project_id, branch_id)

    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        with self._mutation(project_id) as conn:
            row = self._branch_row(conn, project_id, branch_id)
            if row[5]:
                raise EngineInvalidRequest(
                    f"branch {branch_id} is the project's default branch and cannot be deleted",
                    status=400,
                )
            child = conn.execute(
                "SELECT id FROM branches WHERE parent_id = %s LIMIT 1", (branch_id,)
            ).fetchone()
            if child:
                raise EngineInvalidRequest(
                    f"branch {branch_id} has child branches (e.g. {child[0]}); delete them first",
                    status=400,
                )
            endpoint = self._endpoint_of(conn, branch_id)
            specs: list[OpSpec] = []
            if endpoint:
                specs.append(("suspend_compute", branch_id, endpoint[0]))
            specs.append(("delete_timeline", branch_id, None))
            with conn.transaction():
                conn.execute(
                    "UPDATE branches SET state = 'deleting', updated_at = now() WHERE id = %s",
                    (branch_id,),
                )
                op_ids = self._ops_start(conn, project_id, specs, on_crash="complete")
            self._fault("delete_intent_recorded")
            self._finish_branch_delete(conn, branch_id, row[-1])
            with conn.transaction():
                self._ops_end(conn, op_ids)
            return self._ops(conn, op_ids)

    def _finish_branch_delete(self, conn: db.Conn, branch_id: str, dbname: str) -> None:
        db.drop_database(conn, dbname)
        readonly.drop_for_branch(conn, branch_id)
        with conn.transaction():
            for (role,) in conn.execute(
                "DELETE FROM branch_roles WHERE branch_id = %s RETURNING name", (branch_id,)
            ).fetchall():
                db.drop_role(conn, role)
            conn.execute("DELETE FROM endpoints WHERE branch_id = %s", (branch_id,))
            conn.execute("DELETE FROM branches WHERE id = %s", (branch_id,))

    def _undo_branch(self, conn: db.Conn, branch_id: str, dbname: str) -> None:
        try:
            db.drop_database(conn, dbname)
            with conn.transaction():
                conn.execute("DELETE FROM branches WHERE id = %s AND state = 'init'", (branch_id,))
        except psycopg.Error:
            log.warning("could not undo branch %s; recover() will", branch_id)

    def _copy_live(
        self, conn: db.Conn, branch_id: str, source_db: str, target_db: str, **kw: Any
    ) -> None:
        """Copy a branch's database, ending its sessions for the copy when it has an
        endpoint (PostgreSQL refuses to copy a database others are connected to)."""
        served = self._endpoint_of(conn, branch_id) is not None
        try:
            if served:
                db.allow_connections(conn, source_db, False)
                db.end_sessions(conn, source_db)
                self._fault("copy_sessions_ended")
            db.copy_database(conn, target_db, template=source_db, **kw)
        finally:
            if served:
                db.allow_connections(conn, source_db, True)

    # ------------------------------------------------------------------ snapshots

    def snapshot_create(
        self,
        project_id: str,
        branch_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        lsn: str | None = None,
        timestamp: datetime | None = None,
    ) -> SnapshotCreated:
        if lsn is not None or timestamp is not None:
            raise EngineNotSupported(
                "point-in-time snapshots (lsn/timestamp) are not supported by the local engine"
            )
        with self._mutation(project_id) as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            if branch[4] is not None:
                raise EngineInvalidRequest(
                    f"snapshots can only be taken of root branches; branch {branch_id} has "
                    f"parent {branch[4]}",
                    status=400,
                )
            snapshot_id = ids.snapshot_id()
            dbname = self.names.snapshot_db()
            default_name = f"{branch[2]} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
            with conn.transaction():
                conn.execute(
                    "INSERT INTO snapshots (id, project_id, name, source_branch_id, state, "
                    "dbname, expires_at) VALUES (%s, %s, %s, %s, 'init', %s, %s)",
                    (snapshot_id, project_id, name or default_name, branch_id, dbname, expires_at),
                )
                op_ids = self._ops_start(conn, project_id, [("create_timeline", branch_id, None)])
            try:
                # Owned by the engine's role, not connectable: immutable for the project.
                self._copy_live(conn, branch_id, branch[-1], dbname)
                db.restrict_access(conn, dbname, None)
                self._fault("snapshot_copied")
                with conn.transaction():
                    conn.execute(
                        "UPDATE snapshots SET state = 'ready' WHERE id = %s", (snapshot_id,)
                    )
                    self._ops_end(conn, op_ids)
            except BaseException as error:
                self._undo_snapshot(conn, snapshot_id, dbname)
                self._fail(conn, op_ids, error)
                raise
            return SnapshotCreated(
                snapshot=cat.snapshot_from(
                    self._snapshot_row(conn, project_id, snapshot_id), self._size(conn, dbname)
                ),
                operations=self._ops(conn, op_ids),
            )

    def _undo_snapshot(self, conn: db.Conn, snapshot_id: str, dbname: str) -> None:
        try:
            db.drop_database(conn, dbname)
            with conn.transaction():
                conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
        except psycopg.Error:
            log.warning("could not undo snapshot %s; recover() will", snapshot_id)

    def snapshot_list(self, project_id: str) -> list[Snapshot]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.SNAPSHOT_COLUMNS}, {cat.SIZE_OF.format(col='s.dbname')} "
                "FROM snapshots s WHERE s.project_id = %s AND s.state = 'ready' "
                "ORDER BY s.created_at, s.id",
                (project_id,),
            ).fetchall()
        return [cat.snapshot_from(row[:-1], row[-1]) for row in rows]

    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot:
        name = _check_name(name, "snapshot")
        with self._mutation(project_id) as conn:
            row = self._snapshot_row(conn, project_id, snapshot_id)
            conn.execute(
                "UPDATE snapshots SET name = %s, updated_at = now() WHERE id = %s",
                (name, snapshot_id),
            )
            return cat.snapshot_from(
                self._snapshot_row(conn, project_id, snapshot_id), self._size(conn, row[-1])
            )

    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]:
        with self._mutation(project_id) as conn:
            row = self._snapshot_row(conn, project_id, snapshot_id)
            return self._delete_snapshot(conn, project_id, row)

    def _delete_snapshot(
        self, conn: db.Conn, project_id: str, row: tuple[Any, ...]
    ) -> list[Operation]:
        snapshot_id, dbname = row[0], row[-1]
        with conn.transaction():
            conn.execute(
                "UPDATE snapshots SET state = 'deleting', updated_at = now() WHERE id = %s",
                (snapshot_id,),
            )
            op_ids = self._ops_start(
                conn, project_id, [("delete_timeline", row[3], None)], on_crash="complete"
            )
            # Its warm copy goes too (unknown to the catalog from here: recover() drops it).
            warm = conn.execute(
                "DELETE FROM warm_copies WHERE snapshot_id = %s RETURNING dbname", (snapshot_id,)
            ).fetchall()
        db.drop_database(conn, dbname)  # waits for a warm-up copying from it
        for (warm_db,) in warm:
            db.drop_database(conn, warm_db)
        with conn.transaction():
            conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
            self._ops_end(conn, op_ids)
        return self._ops(conn, op_ids)

    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        with self._mutation(project_id) as conn:
            rows = conn.execute(
                f"SELECT {cat.SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.project_id = %s "
                "AND s.state = 'ready' AND s.expires_at <= now() ORDER BY s.created_at",
                (project_id,),
            ).fetchall()
            for row in rows:
                self._delete_snapshot(conn, project_id, row)
            return [row[0] for row in rows]

    def snapshot_restore(
        self,
        project_id: str,
        snapshot_id: str,
        *,
        target_branch_id: str | None = None,
        finalize_restore: bool = False,
        name: str | None = None,
    ) -> RestoreResult:
        with self._mutation(project_id) as conn:
            snap = self._snapshot_row(conn, project_id, snapshot_id)
            target_id = target_branch_id or snap[3]
            if target_id is None:
                raise EngineInvalidRequest(
                    "cannot determine the target branch: pass target_branch_id", status=400
                )
            try:
                target = self._branch_row(conn, project_id, target_id)
            except EngineNotFound:
                if target_branch_id is None:
                    raise EngineInvalidRequest(
                        f"the snapshot's source branch {target_id} no longer exists: "
                        "pass target_branch_id",
                        status=400,
                    ) from None
                raise
            role, _ = self._role(conn, project_id)
            repaired: list[str] = []
            endpoint = self._endpoint_of(conn, target_id) if finalize_restore else None
            branch_id = ids.branch_id()
            temp_db = self.names.branch_db()
            specs: list[OpSpec] = [
                ("timeline_unarchive", target_id, None),
                ("create_branch", branch_id, None),
            ]
            if endpoint:
                specs += [
                    ("start_compute", branch_id, endpoint[0]),
                    ("suspend_compute", target_id, endpoint[0]),
                ]
            touched = None
            with conn.transaction():
                warm = None
                if endpoint:
                    # A ready warm copy becomes the new branch: no copy, only the swap.
                    warm = conn.execute(
                        "DELETE FROM warm_copies WHERE snapshot_id = %s AND state = 'ready' "
                        "RETURNING dbname",
                        (snapshot_id,),
                    ).fetchone()
                    if warm and contain.untouched(conn, warm[0]):
                        temp_db = warm[0]
                    elif warm:  # someone changed or opened it: copy the snapshot instead
                        log.warning("warm copy %s was touched; not used", warm[0])
                        touched, warm = warm[0], None
                conn.execute(
                    "INSERT INTO branches (id, project_id, name, state, dbname, restore_status, "
                    "restored_from, restored_as) VALUES (%s, %s, %s, 'init', %s, 'restored', "
                    "%s, %s)",
                    (
                        branch_id,
                        project_id,
                        name or f"{snap[1]} (restored)",
                        temp_db,
                        snapshot_id,
                        target_id,
                    ),
                )
                op_ids = self._ops_start(conn, project_id, specs)
            swapped = False
            if endpoint and touched:
                _quietly(db.drop_database, conn, touched)
            try:
                if not warm:
                    db.copy_database(conn, temp_db, template=snap[-1])
                contain.grant_branch(conn, temp_db, role)
                self._fault("after_branch_created")
                if not finalize_restore:
                    with conn.transaction():
                        conn.execute(
                            "UPDATE branches SET state = 'ready' WHERE id = %s", (branch_id,)
                        )
                        self._ops_end(conn, op_ids)
                else:
                    swapped = self._finalize(
                        conn, project_id, target, branch_id, temp_db, endpoint, op_ids
                    )
                    self._fault("after_swap")
                    repaired = self._role_state(conn, project_id)
            except BaseException as error:
                if swapped:
                    raise  # the rollback is done and recorded; nothing to undo
                if endpoint:
                    _quietly(db.allow_connections, conn, endpoint[1], True)
                self._undo_branch(conn, branch_id, temp_db)
                self._fail(conn, op_ids, error)
                raise
            result = RestoreResult(
                branch=self._branch(conn, project_id, branch_id),
                operations=self._ops(conn, op_ids),
                orphan_branch_id=target_id if finalize_restore else None,
                repaired=tuple(repaired) if finalize_restore else (),
            )
        if warm and self.warm_copies:
            self.warm_up(project_id, background=True)  # a fresh warm copy for next time
        return result

    def _finalize(
        self,
        conn: db.Conn,
        project_id: str,
        target: tuple[Any, ...],
        branch_id: str,
        temp_db: str,
        endpoint: tuple[str, str] | None,
        op_ids: list[str],
    ) -> bool:
        """Move the target's endpoint (its database name) onto the new branch, the new
        branch into the target's name and settings, the target away as `<name> (old)`.

        The renames and the catalog rows commit in one transaction: at every instant the
        endpoint's name belongs to one complete database, the old one or the new one."""
        target_id, target_name, is_default, target_db = target[0], target[2], target[5], target[-1]
        orphan_name = self._orphan_name(conn, project_id, target_name)
        orphan_db = self.names.branch_db() if endpoint else target_db
        new_db = endpoint[1] if endpoint else temp_db
        # The live database gone (dropped behind the engine's back): the rollback rebuilds it.
        live = bool(endpoint) and db.database_exists(conn, endpoint[1])
        if endpoint and not live:
            log.warning("the endpoint's database %s is missing; rebuilding it", endpoint[1])
        if live:
            db.allow_connections(conn, endpoint[1], False)
            db.end_sessions(conn, endpoint[1])
        self._fault("before_swap")
        for attempt in range(3):
            try:
                with conn.transaction():
                    if endpoint:
                        if live:
                            # Catch a straggler that slipped in before connections were
                            # blocked.
                            db.terminate_sessions(conn, endpoint[1])
                            db.rename_database(conn, endpoint[1], orphan_db)
                        db.rename_database(conn, temp_db, endpoint[1])
                        db.allow_connections(conn, endpoint[1], True)
                    self._fault("before_orphan_recorded")
                    conn.execute(
                        "UPDATE branches SET name = %s, is_default = false, dbname = %s, "
                        "updated_at = now() WHERE id = %s",
                        (orphan_name, orphan_db, target_id),
                    )
                    conn.execute(
                        "UPDATE branches SET name = %s, is_default = %s, dbname = %s, "
                        "state = 'ready', restore_status = 'finalized', updated_at = now() "
                        "WHERE id = %s",
                        (target_name, is_default, new_db, branch_id),
                    )
                    conn.execute(
                        "UPDATE endpoints SET branch_id = %s, updated_at = now() "
                        "WHERE branch_id = %s",
                        (branch_id, target_id),
                    )
                    self._ops_end(conn, op_ids)
                return True
            except psycopg.errors.ObjectInUse:
                if attempt == 2 or not endpoint:
                    raise
                db.end_sessions(conn, endpoint[1])
        return False  # pragma: no cover

    def _orphan_name(self, conn: db.Conn, project_id: str, name: str) -> str:
        taken = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM branches WHERE project_id = %s", (project_id,)
            ).fetchall()
        }
        candidate, n = f"{name} (old)", 2
        while candidate in taken:
            candidate, n = f"{name} (old {n})", n + 1
        return candidate

    # ------------------------------------------------------------------ endpoints

    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        with self._mutation(project_id) as conn:
            branch = self._branch_row(conn, project_id, branch_id)
            if self._endpoint_of(conn, branch_id):
                raise EngineInvalidRequest(
                    f"branch {branch_id} already has a read-write endpoint", status=409
                )
            endpoint_id = ids.endpoint_id()
            dbname = self.names.endpoint_db(endpoint_id)
            with conn.transaction():
                # A branch without endpoint is not connectable, so nobody is on it.
                db.rename_database(conn, branch[-1], dbname)
                db.allow_connections(conn, dbname, True)
                conn.execute(
                    "UPDATE branches SET dbname = %s, updated_at = now() WHERE id = %s",
                    (dbname, branch_id),
                )
                conn.execute(
                    "INSERT INTO endpoints (id, project_id, branch_id, dbname) "
                    "VALUES (%s, %s, %s, %s)",
                    (endpoint_id, project_id, branch_id, dbname),
                )
                op_ids = self._ops_start(
                    conn, project_id, [("start_compute", branch_id, endpoint_id)]
                )
                self._ops_end(conn, op_ids)
                own = None if branch[5] else self._branch_role_create(conn, project_id, branch)
            if own is not None:
                self._branch_role_adopt(conn, project_id, dbname, own)
            return EndpointCreated(
                endpoint=Endpoint(
                    id=endpoint_id, project_id=project_id, branch_id=branch_id, host=self.host
                ),
                operations=self._ops(conn, op_ids),
            )

    def _branch_role_create(self, conn: db.Conn, project_id: str, branch: tuple[Any, ...]) -> str:
        """In the endpoint's transaction: a login role of the branch's own."""
        role = self.names.role(branch[0])
        password = ids.password()
        conn.execute(
            "INSERT INTO branch_roles (branch_id, project_id, name, password) "
            "VALUES (%s, %s, %s, %s)",
            (branch[0], project_id, role, password),
        )
        db.create_role(conn, role, password)
        contain.apply_role_state(conn, role, password, self.limits, force=True)
        return role

    def _branch_role_adopt(self, conn: db.Conn, project_id: str, dbname: str, role: str) -> None:
        """The branch's objects pass to its own role; the project's role loses its grants."""
        project_role, _ = self._role(conn, project_id)
        with self._connect(self._db_conninfo(dbname)) as branch_conn:
            branch_conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(project_role), sql.Identifier(role)
                )
            )
        contain.grant_branch(conn, dbname, role)
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(dbname), sql.Identifier(project_role)
            )
        )

    def endpoint_list(self, project_id: str) -> list[Endpoint]:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT {cat.ENDPOINT_COLUMNS} FROM endpoints WHERE project_id = %s "
                "ORDER BY created_at",
                (project_id,),
            ).fetchall()
        return [cat.endpoint_from(row, self.host) for row in rows]

    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            if branch_id is None:
                branch_id = self._default_branch_row(conn, project_id)[0]
            else:
                self._branch_row(conn, project_id, branch_id)
            endpoint = self._endpoint_of(conn, branch_id)
            if endpoint is None:
                raise EngineInvalidRequest(
                    f"branch {branch_id} has no endpoint: create one with endpoint_create "
                    "before connecting",
                    status=400,
                )
            role, password = self._role(conn, project_id)
            own = conn.execute(
                "SELECT name, password FROM branch_roles WHERE branch_id = %s", (branch_id,)
            ).fetchone()
            if own is not None:  # a preview: its own role, which opens nothing else
                role, password = own
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{host}:{self.port}/"
            f"{quote(endpoint[1], safe='')}"
        )

    # ------------------------------------------------------------------ operations

    def operation_get(self, project_id: str, operation_id: str) -> Operation:
        ops = self.operations_get(project_id, [operation_id])
        if not ops:
            raise EngineNotFound(f"operation {operation_id} not found", status=404)
        return ops[0]

    def operations_get(self, project_id: str, operation_ids: list[str]) -> list[Operation]:
        valid = [op_id for op_id in operation_ids if _is_uuid(op_id)]
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.OPERATION_COLUMNS} FROM operations "
                "WHERE project_id = %s AND id = ANY(%s::uuid[])",
                (project_id, valid),
            ).fetchall()
        by_id = {row[0]: cat.operation_from(row) for row in rows}
        missing = [op_id for op_id in operation_ids if op_id not in by_id]
        if missing:
            raise EngineNotFound(f"operation {missing[0]} not found", status=404)
        return [by_id[op_id] for op_id in operation_ids]

    def operation_list(self, project_id: str) -> list[Operation]:
        """A project's operations, newest first (local only)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {cat.OPERATION_COLUMNS} FROM operations WHERE project_id = %s "
                "ORDER BY created_at DESC",
                (project_id,),
            ).fetchall()
        return [cat.operation_from(row) for row in rows]

    # ------------------------------------------------------------------ read-only roles

    def readonly_role_ensure(self, project_id: str, branch_id: str) -> None:
        owner_uri = self.connection_uri(project_id, branch_id=branch_id)
        with self._mutation(project_id) as conn:
            dbname = self._branch_row(conn, project_id, branch_id)[-1]
            readonly.ensure(
                conn,
                self.names,
                project_id=project_id,
                branch_id=branch_id,
                dbname=dbname,
                owner_uri=owner_uri,
            )

    def readonly_connection_uri(self, project_id: str, branch_id: str) -> str:
        with self._reading() as conn:
            self._project_row(conn, project_id)
            dbname = self._branch_row(conn, project_id, branch_id)[-1]
            return readonly.connection_uri(
                conn, branch_id=branch_id, host=self.host, port=self.port, dbname=dbname
            )

    # ------------------------------------------------------------------ the project's role

    def _role_state(self, conn: db.Conn, project_id: str) -> list[str]:
        role, password = self._role(conn, project_id)
        repaired = contain.apply_role_state(conn, role, password, self.limits)
        if repaired:
            log.warning("role of project %s repaired: %s", project_id, ", ".join(repaired))
        return repaired

    def role_repair(self, project_id: str) -> list[str]:
        """Put the project role's password, settings and connection limit back to the
        engine's; return what had been changed ("password", "settings", "connection
        limit"; empty when nothing). Local only."""
        with self._mutation(project_id) as conn:
            return self._role_state(conn, project_id)

    def role_password_reset(self, project_id: str) -> str:
        """Give the project's role a new password: the old one stops working at once and
        the role's open sessions end. Returns the new connection string (local only; Neon:
        `POST …/branches/{b}/roles/{r}/reset_password`)."""
        with self._mutation(project_id) as conn:
            role, _ = self._role(conn, project_id)
            password = ids.password()
            with conn.transaction():
                conn.execute(
                    "UPDATE roles SET password = %s WHERE project_id = %s", (password, project_id)
                )
                contain.apply_role_state(conn, role, password, self.limits, force=True)
            contain.end_role_sessions(conn, role)
        return self.connection_uri(project_id)

    # ------------------------------------------------------------------ warm copies

    def warm_up(self, project_id: str, *, background: bool = False) -> list[str]:
        """Make warm copies of the project's `warm_copies` most recent snapshots (and drop
        those of older ones); return the snapshot ids warmed now (local only).

        `background=True` runs it in a daemon thread and returns at once (the app calls it
        after recording a version; the engine after a rollback consumed a warm copy).
        Intent first: a warm copy is recorded `init` before its copy starts and `ready`
        after; a crash in between leaves a row `recover()` drops with its database. Warm
        copies are owned by the project's role but not connectable, and are no branches."""
        if background:
            thread = threading.Thread(
                target=self._warm_up_logged, args=(project_id,), name="warm-up", daemon=True
            )
            with self._warmers_lock:
                self._warmers = [t for t in self._warmers if t.is_alive()] + [thread]
            thread.start()
            return []
        warmed: list[str] = []
        conn = self._connect()
        try:
            # One warm-up per project at a time: wait for one already running.
            if not self._lock_waiting(conn, _warm_key(project_id), WARM_LOCK_WAIT):
                return warmed
            self._drop_warm_leftovers(conn, project_id)  # init rows: a crashed warm-up's
            while True:
                with self._held(conn, project_id):
                    todo, stale = self._warm_plan(conn, project_id)
                for dbname in stale:
                    db.drop_database(conn, dbname)
                if todo is None:
                    return warmed
                snapshot_id, snapshot_db, warm_db, role = todo
                try:
                    self._fault("warm_intent_recorded")
                    # The engine's and not connectable: nobody can open or change it.
                    db.copy_database(conn, warm_db, template=snapshot_db)
                    db.restrict_access(conn, warm_db, None)
                    self._fault("warm_copied")
                except BaseException:
                    _quietly(db.drop_database, conn, warm_db)
                    _quietly(conn.execute, "DELETE FROM warm_copies WHERE dbname = %s", (warm_db,))
                    raise
                with self._held(conn, project_id):
                    ready = conn.execute(
                        "UPDATE warm_copies SET state = 'ready' WHERE dbname = %s "
                        "AND state = 'init' RETURNING snapshot_id",
                        (warm_db,),
                    ).fetchone()
                if ready is None:  # its snapshot was deleted meanwhile
                    db.drop_database(conn, warm_db)
                    continue
                warmed.append(snapshot_id)
        finally:
            conn.close()  # releases the warm-up lock

    def _warm_up_logged(self, project_id: str) -> None:
        try:
            self.warm_up(project_id)
        except EngineNotFound:
            pass
        except Exception as error:  # a background thread: nobody else would see it
            log.warning("warm-up of project %s failed: %s", project_id, mask_password(str(error)))

    def warm_wait(self, timeout: float | None = None) -> bool:
        """Wait for this engine's background warm-ups; False if some still run."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._warmers_lock:
            threads = list(self._warmers)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def warm_storage(self, project_id: str) -> list[tuple[str, int]]:
        """(snapshot id, bytes) of the project's ready warm copies, newest snapshot first."""
        with self._reading() as conn:
            self._project_row(conn, project_id)
            rows = conn.execute(
                f"SELECT w.snapshot_id, {cat.SIZE_OF.format(col='w.dbname')} "
                "FROM warm_copies w JOIN snapshots s ON s.id = w.snapshot_id "
                "WHERE w.project_id = %s AND w.state = 'ready' "
                "ORDER BY s.created_at DESC, s.id DESC",
                (project_id,),
            ).fetchall()
        return [(row[0], int(row[1] or 0)) for row in rows]

    def _warm_plan(
        self, conn: db.Conn, project_id: str
    ) -> tuple[tuple[str, str, str, str] | None, list[str]]:
        """Under the project's lock: claim the warm copies no longer wanted (returned to
        be dropped) and record the intent for the next one to make, if any."""
        if (
            conn.execute(
                "SELECT 1 FROM projects WHERE id = %s AND state = 'ready'", (project_id,)
            ).fetchone()
            is None
        ):
            return None, []
        wanted = conn.execute(
            "SELECT id, dbname FROM snapshots WHERE project_id = %s AND state = 'ready' "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (project_id, self.warm_copies),
        ).fetchall()
        with conn.transaction():
            stale = conn.execute(
                "DELETE FROM warm_copies WHERE project_id = %s AND state = 'ready' "
                "AND NOT (snapshot_id = ANY(%s)) RETURNING dbname",
                (project_id, [row[0] for row in wanted]),
            ).fetchall()
            have = {
                row[0]
                for row in conn.execute(
                    "SELECT snapshot_id FROM warm_copies WHERE project_id = %s", (project_id,)
                ).fetchall()
            }
            todo = next(((sid, sdb) for sid, sdb in wanted if sid not in have), None)
            if todo is None:
                return None, [row[0] for row in stale]
            warm_db = self.names.warm_db()
            role, _ = self._role(conn, project_id)
            conn.execute(
                "INSERT INTO warm_copies (snapshot_id, project_id, state, dbname) "
                "VALUES (%s, %s, 'init', %s)",
                (todo[0], project_id, warm_db),
            )
        return (todo[0], todo[1], warm_db, role), [row[0] for row in stale]

    def _drop_warm_leftovers(self, conn: db.Conn, project_id: str) -> None:
        """With the warm-up lock held: `init` warm copies are a crashed warm-up's."""
        for (dbname,) in conn.execute(
            "SELECT dbname FROM warm_copies WHERE project_id = %s AND state = 'init'",
            (project_id,),
        ).fetchall():
            db.drop_database(conn, dbname)
            conn.execute("DELETE FROM warm_copies WHERE dbname = %s", (dbname,))

    def _repair_warm(self, conn: db.Conn, project_id: str) -> None:
        if not self._try_lock(conn, _warm_key(project_id)):
            return  # a live warm-up is copying: its `init` row is not a leftover
        try:
            self._drop_warm_leftovers(conn, project_id)
        finally:
            self._unlock(conn, _warm_key(project_id))

    def _lock_waiting(self, conn: db.Conn, key: str, timeout: float) -> bool:
        """Take an advisory lock of this engine, waiting up to `timeout`."""
        conn.execute(
            sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(timeout * 1000)}ms"))
        )
        try:
            conn.execute(
                "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (self.control_db, key)
            )
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            conn.execute("RESET lock_timeout")
        return True

    @contextmanager
    def _held(self, conn: db.Conn, project_id: str) -> Iterator[None]:
        """The project's lock for a warm-up's brief catalog step (waits for a mutation)."""
        if not self._lock_waiting(conn, project_id, WARM_LOCK_WAIT):
            raise EngineLocked(LOCKED_MESSAGE, status=423)
        try:
            yield
        finally:
            self._unlock(conn, project_id)

    def close(self) -> None:
        self.warm_wait(timeout=WARM_STEP_WAIT)

    # ------------------------------------------------------------------ recovery

    def recover(self) -> dict[str, int]:
        """Repair what crashed engines left; safe while other processes work.

        Only projects whose lock this process can take are touched (a project someone is
        working on is theirs). For each: a project left `init` (creation interrupted) or
        `deleting` is removed completely; branches/snapshots left `deleting` are deleted
        (their operations `finished`); those left `init` (a copy the caller never got) are
        dropped (their operations `failed`); endpoints' databases accept connections again
        (a crash while they were blocked for a swap or a copy). Then databases and roles
        with this engine's prefix that the catalog does not know are dropped: the catalog
        records intent before anything is created and renames commit with their rows, so
        those are leftovers, found in one consistent snapshot of catalog and pg_database.
        Warm copies left `init` are dropped unless a live warm-up holds the project's
        warm-up lock.
        """
        summary = {"projects": 0, "skipped_locked": 0, "dropped_databases": 0, "roles_repaired": 0}
        with self._reading() as conn:
            candidates = [
                row[0]
                for row in conn.execute(
                    "SELECT p.id FROM projects p WHERE p.state <> 'ready' "
                    "OR EXISTS (SELECT 1 FROM branches b WHERE b.project_id = p.id "
                    "           AND b.state <> 'ready') "
                    "OR EXISTS (SELECT 1 FROM snapshots s WHERE s.project_id = p.id "
                    "           AND s.state <> 'ready') "
                    "OR EXISTS (SELECT 1 FROM warm_copies w WHERE w.project_id = p.id "
                    "           AND w.state <> 'ready') "
                    "OR EXISTS (SELECT 1 FROM operations o WHERE o.project_id = p.id "
                    "           AND o.status = ANY(%s)) "
                    "OR EXISTS (SELECT 1 FROM endpoints e JOIN pg_database d "
                    "           ON d.datname = e.dbname WHERE e.project_id = p.id "
                    "           AND NOT d.datallowconn)",
                    (list(BUSY_STATUSES),),
                ).fetchall()
            ]
            for project_id in candidates:
                if not self._try_lock(conn, project_id):
                    summary["skipped_locked"] += 1
                    continue
                try:
                    self._repair(conn, project_id)
                    summary["projects"] += 1
                finally:
                    self._unlock(conn, project_id)
            summary["dropped_databases"] = self._drop_unknown(conn)
            summary["roles_repaired"] = self._repair_roles(conn)
            self._contain_legacy(conn)
        if summary["projects"] or summary["dropped_databases"] or summary["roles_repaired"]:
            log.info("local engine recovered: %s", summary)
        return summary

    def _repair(self, conn: db.Conn, project_id: str) -> None:
        state = conn.execute("SELECT state FROM projects WHERE id = %s", (project_id,)).fetchone()
        if state is None:
            return
        if state[0] in ("init", "deleting"):
            self._remove_project(conn, project_id)
            return
        for branch_id, dbname, bstate in conn.execute(
            "SELECT id, dbname, state FROM branches WHERE project_id = %s AND state <> 'ready'",
            (project_id,),
        ).fetchall():
            if bstate == "deleting":
                self._finish_branch_delete(conn, branch_id, dbname)
            else:
                self._undo_branch(conn, branch_id, dbname)
        for snapshot_id, dbname in conn.execute(
            "SELECT id, dbname FROM snapshots WHERE project_id = %s AND state <> 'ready'",
            (project_id,),
        ).fetchall():
            db.drop_database(conn, dbname)
            with conn.transaction():
                conn.execute("DELETE FROM snapshots WHERE id = %s", (snapshot_id,))
        self._repair_warm(conn, project_id)
        for (dbname,) in conn.execute(
            "SELECT e.dbname FROM endpoints e JOIN pg_database d ON d.datname = e.dbname "
            "WHERE e.project_id = %s AND NOT d.datallowconn",
            (project_id,),
        ).fetchall():
            db.allow_connections(conn, dbname, True)
        conn.execute(
            "UPDATE operations SET "
            "status = CASE on_crash WHEN 'complete' THEN 'finished' ELSE 'failed' END, "
            "error = CASE on_crash WHEN 'complete' THEN NULL ELSE %s END, "
            "failures_count = failures_count + CASE on_crash WHEN 'complete' THEN 0 ELSE 1 END, "
            "updated_at = clock_timestamp() WHERE project_id = %s AND status = ANY(%s)",
            (INTERRUPTED + "; undone on restart", project_id, list(BUSY_STATUSES)),
        )

    def _repair_roles(self, conn: db.Conn) -> int:
        """Every project role's password, settings and limit back to the engine's. Only the
        roles found changed take their project's lock (briefly): every process start runs
        this, and a lock held for nothing would refuse a concurrent mutation."""
        repaired = 0
        for project_id, role, password in conn.execute(
            "SELECT p.id, r.name, r.password FROM projects p JOIN roles r "
            "ON r.project_id = p.id WHERE p.state = 'ready'"
        ).fetchall():
            if not contain.role_state_differs(conn, role, password, self.limits)[0]:
                continue
            if not self._try_lock(conn, project_id):
                continue
            try:
                repaired += bool(self._role_state(conn, project_id))
            finally:
                self._unlock(conn, project_id)
        return repaired

    def _contain_legacy(self, conn: db.Conn) -> None:
        """Once: databases made before containment belonged to the project's role. The
        engine takes them over (schema `public` passes to the role, which owned it through
        the database), and drops such warm copies (a warm-up makes them again)."""
        if conn.execute("SELECT 1 FROM engine_meta WHERE key = 'contained'").fetchone():
            return
        rows = conn.execute(
            "SELECT x.kind, x.dbname, r.name, x.project_id, d.datallowconn FROM ("
            "  SELECT 'branch' AS kind, dbname, project_id FROM branches WHERE state = 'ready' "
            "  UNION ALL SELECT 'snapshot', dbname, project_id FROM snapshots "
            "  WHERE state = 'ready' "
            "  UNION ALL SELECT 'warm', dbname, project_id FROM warm_copies) x "
            "JOIN roles r ON r.project_id = x.project_id "
            "JOIN pg_database d ON d.datname = x.dbname "
            "WHERE d.datdba <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "OR x.kind = 'snapshot'"
        ).fetchall()
        complete = True
        for kind, dbname, role, project_id, allowed in rows:
            if not self._try_lock(conn, project_id):
                complete = False
                continue
            try:
                if kind == "warm":
                    conn.execute("DELETE FROM warm_copies WHERE dbname = %s", (dbname,))
                    db.drop_database(conn, dbname)
                    continue
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(
                        sql.Identifier(dbname)
                    )
                )
                if not allowed:
                    db.allow_connections(conn, dbname, True)
                try:
                    with self._connect(self._db_conninfo(dbname)) as inner:
                        owner = inner.execute(
                            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace "
                            "WHERE nspname = 'public'"
                        ).fetchone()
                        if owner and owner[0] == "pg_database_owner":
                            contain.give_public_schema(inner, role)
                finally:
                    if not allowed:
                        db.allow_connections(conn, dbname, False)
                if kind == "branch":
                    contain.grant_branch(conn, dbname, role)
            except psycopg.Error as error:
                complete = False
                log.warning("could not take over %s: %s", dbname, mask_password(str(error)))
            finally:
                self._unlock(conn, project_id)
        if complete:
            conn.execute("INSERT INTO engine_meta VALUES ('contained', '1') ON CONFLICT DO NOTHING")

    def _drop_unknown(self, conn: db.Conn) -> int:
        prefix = self.names.prefix
        unknown = conn.execute(
            "SELECT datname FROM pg_database WHERE left(datname, %s) = %s "
            "AND datname NOT IN (SELECT dbname FROM branches UNION ALL "
            "SELECT dbname FROM snapshots UNION ALL SELECT dbname FROM warm_copies)",
            (len(prefix), prefix),
        ).fetchall()
        for (dbname,) in unknown:
            log.warning("dropping database %s unknown to the local engine's catalog", dbname)
            _quietly(db.drop_database, conn, dbname)
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE left(rolname, %s) = %s "
            "AND rolname NOT IN (SELECT name FROM roles UNION ALL SELECT name FROM branch_roles)",
            (len(prefix), prefix),
        ).fetchall()
        for (role,) in roles:
            _quietly(db.drop_role, conn, role)
        return len(unknown)

    def destroy(self) -> None:
        """Drop every project, database and role of this engine, and its control database
        (tests and `reset` tools only)."""
        for project in self.project_list():
            try:
                self.project_delete(project.id)
            except EngineError:
                pass
        with self._connect(self._server_conninfo) as conn:
            prefix = self.names.prefix
            for (dbname,) in conn.execute(
                "SELECT datname FROM pg_database WHERE left(datname, %s) = %s",
                (len(prefix), prefix),
            ).fetchall():
                db.drop_database(conn, dbname)
            for (role,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE left(rolname, %s) = %s",
                (len(prefix), prefix),
            ).fetchall():
                _quietly(db.drop_role, conn, role)
            db.drop_database(conn, self.control_db)


def _warm_key(project_id: str) -> str:
    """The second advisory lock of a project, held by its warm-up while it copies."""
    return f"warm:{project_id}"


def _one(conn: db.Conn, query: str, params: tuple[Any, ...], missing: str) -> tuple[Any, ...]:
    """The one catalog row `query` finds, or EngineNotFound (Neon's 404) saying `missing`."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise EngineNotFound(missing, status=404)
    return row


def _check_name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 256:
        raise EngineInvalidRequest(f"{what} name must be 1 to 256 characters", status=400)
    return name


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except psycopg.Error as error:
        log.warning("ignored: %s", mask_password(str(error)).strip())
