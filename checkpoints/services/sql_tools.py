"""Reading a project's database with SQL: `sql_run` (one statement, read-only, capped) and
`schema_describe` (tables, columns, keys, indexes, row estimates), live or as of a version.

Every read runs as the project's reader (`Engine.sql_reader_uri`: a role that can only
read) inside a read-only transaction it cannot lift (`engines/sql_read.py`). A read as of
a version runs on a read-only copy of that version (`SqlCopy`), opened on the first read,
reused by the next ones and dropped `CHECKPOINTS_SQL_COPY_TTL_SECONDS` after the last:
never on the live database, and nobody but the reader can connect to it. Writes go through
`save_version` (a version) or `migration_prepare` / `migration_apply`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from checkpoints import connections
from checkpoints.engines import sql_read
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError, EngineLocked, EngineNotFound
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.models import AgentProject, SqlCopy, Version
from checkpoints.rules import permissions, version_rules, version_sql

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

ONE_STATEMENT = (
    "run_sql takes exactly one statement (it got {count}). Send them one at a time; to "
    "change the database use save_version or prepare_migration."
)
SQL_EMPTY = "The SQL is empty: send one statement, e.g. SELECT * FROM my_table LIMIT 10."
NO_SQL_READS = "The {engine} engine cannot run SQL reads here (no reader role)."
COPY_BUSY = (
    "Another operation is changing this project right now, so the copy of {label} cannot "
    "be opened yet: try again in a few seconds."
)
INSUFFICIENT_PRIVILEGE = "42501"
#: A lock key for opening a project's read copies one at a time (pg_advisory_xact_lock).
COPY_LOCK = 32_000_001

SCHEMA_SQL = """
SELECT coalesce(json_agg(t ORDER BY t.schema, t.name), '[]') FROM (
 SELECT n.nspname AS schema, c.relname AS name,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
   WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END AS kind,
  CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END AS row_estimate,
  (SELECT coalesce(json_agg(json_build_object('name', a.attname,
     'type', format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull,
     'default', pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum), '[]')
   FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(json_build_object('name', k.conname, 'type',
     CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key'
      WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion'
      ELSE k.contype::text END, 'definition', pg_get_constraintdef(k.oid))
     ORDER BY k.conname), '[]')
   FROM pg_constraint k WHERE k.conrelid = c.oid) AS keys,
  (SELECT coalesce(json_agg(json_build_object('name', i.relname, 'unique', x.indisunique,
     'primary', x.indisprimary, 'definition', pg_get_indexdef(x.indexrelid))
     ORDER BY i.relname), '[]')
   FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS indexes
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND n.nspname <> 'checkpoints_events'
) t
"""


def sql_caps() -> sql_read.Caps:
    """Rows, answer bytes and seconds a read may take (CHECKPOINTS_SQL_MAX_ROWS,
    CHECKPOINTS_SQL_MAX_BYTES, CHECKPOINTS_SQL_TIMEOUT_SECONDS)."""
    return sql_read.Caps(
        rows=int(settings.CHECKPOINTS_SQL_MAX_ROWS),
        bytes=int(settings.CHECKPOINTS_SQL_MAX_BYTES),
        seconds=float(settings.CHECKPOINTS_SQL_TIMEOUT_SECONDS),
    )


def copy_ttl() -> timedelta:
    """How long a version's read copy stays after its last read."""
    return timedelta(seconds=float(settings.CHECKPOINTS_SQL_COPY_TTL_SECONDS))


class SqlRefused(ServiceError):
    """The statement was refused before it ran, or PostgreSQL refused or failed it."""

    status = 400
    code = "sql_refused"


class SqlTimedOut(SqlRefused):
    status = 408
    code = "statement_timeout"


class NotSupported(ServiceError):
    """The project's engine cannot do this (the Neon engine: no reader role, no copies)."""

    status = 501
    code = "not_supported"


class CopyBusy(ServiceError):
    status = 409
    code = "busy"


def one_statement(sql: str) -> str:
    """The one statement of `sql` (parsed by PostgreSQL's parser), else `SqlRefused`."""
    try:
        statements = version_sql.statements(sql)
    except version_sql.SqlRefused as refused:
        raise SqlRefused(refused.message) from None
    if not statements:
        raise SqlRefused(SQL_EMPTY)
    if len(statements) != 1:
        raise SqlRefused(ONE_STATEMENT.format(count=len(statements)))
    return statements[0]


def sql_run(
    *, project: AgentProject, user: User, sql: str, version: Version | None = None
) -> dict[str, Any]:
    """Run one read-only statement on the live database, or on `version`'s read copy."""
    permissions.require(user, project, "view")
    statement = one_statement(sql)
    return {**_read(project, version, statement, sql_caps()).as_dict(), **_where(version)}


def schema_describe(
    *, project: AgentProject, user: User, version: Version | None = None
) -> dict[str, Any]:
    """Tables, views, columns, keys, indexes and row estimates (from the planner's
    statistics, so approximate) of the live database or of `version`."""
    permissions.require(user, project, "view")
    caps = sql_caps()
    caps = sql_read.Caps(rows=1, bytes=max(caps.bytes, 20_000_000), seconds=caps.seconds)
    result = _read(project, version, SCHEMA_SQL, caps)
    tables = result.rows[0][0] if result.rows else []
    return {"tables": tables, **_where(version)}


def _where(version: Version | None) -> dict[str, Any]:
    return {"version": version.number if version else None, "read_on": _read_on(version)}


def _read_on(version: Version | None) -> str:
    return f"a read-only copy of {version.label}" if version else "the live database"


def _read(
    project: AgentProject, version: Version | None, statement: str, caps: sql_read.Caps
) -> sql_read.SqlResult:
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    engine = connections.engine_for(project=project)
    if not engine.supports_sql_reads:
        raise NotSupported(NO_SQL_READS.format(engine=engine.name))
    if version is not None:
        version_rules.version_require_live(version)
    copies_expire(project=project, engine=engine)
    try:
        try:
            return sql_read.read(_reader_uri(project, engine, version), statement, caps)
        except sql_read.SqlReadError as denied:
            # A schema made since the last grant: grant again on live (a copy is fixed).
            if denied.sqlstate != INSUFFICIENT_PRIVILEGE or version is not None:
                raise
            uri = _reader_uri(project, engine, version, grant=True)
            return sql_read.read(uri, statement, caps)
        except sql_read.ReaderNotGranted:
            # Live after a rollback (grants are per database), or a copy dropped meanwhile.
            if version is not None:
                SqlCopy.objects.filter(project=project, version=version).update(
                    closed_at=timezone.now()
                )
            uri = _reader_uri(project, engine, version, grant=True)
            return sql_read.read(uri, statement, caps)
    except sql_read.SqlReadTimeout as timed_out:
        raise SqlTimedOut(f"The statement failed: {timed_out.message}.") from None
    except sql_read.SqlReadError as failed:
        raise SqlRefused(f"The statement failed: {failed.message}") from None


def _reader_uri(
    project: AgentProject, engine: Engine, version: Version | None, *, grant: bool = False
) -> str:
    pid = project.engine_project_id
    if version is None:
        return engine.sql_reader_uri(pid, grant=grant)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [COPY_LOCK, project.pk])
        now = timezone.now()
        live = project.sql_copies.filter(version=version, closed_at__isnull=True)
        copy = live.filter(expires_at__gt=now).first()
        if copy is not None:
            SqlCopy.objects.filter(pk=copy.pk).update(expires_at=now + copy_ttl())
            return engine.sql_reader_uri(pid, copy.branch_id)
        copy = _copy_open(project, engine, version)
        return engine.sql_reader_uri(pid, copy.branch_id, exclusive=True)


def _copy_open(project: AgentProject, engine: Engine, version: Version) -> SqlCopy:
    try:
        restored = engine.snapshot_restore(
            project.engine_project_id,
            version.snapshot_id,
            target_branch_id=project.active_branch_id or None,
            finalize_restore=False,
            name=f"sql-read-{version.label}",
        )
    except EngineLocked:
        raise CopyBusy(COPY_BUSY.format(label=version.label)) from None
    return SqlCopy.objects.create(
        project=project,
        version=version,
        branch_id=restored.branch.id,
        expires_at=timezone.now() + copy_ttl(),
    )


def copies_expire(*, project: AgentProject, engine: Engine | None = None) -> int:
    """Drop the project's read copies whose time is up; return how many went. A copy the
    engine cannot drop now (another operation runs) is tried again next time."""
    expired = project.sql_copies.filter(closed_at__isnull=True, expires_at__lte=timezone.now())
    dropped = 0
    for copy in expired:
        engine = engine or connections.engine_for(project=project)
        try:
            engine.branch_delete(project.engine_project_id, copy.branch_id)
        except EngineNotFound:
            pass
        except EngineError as error:
            logger.info("read copy %s stays for now: %s", copy.branch_id, error)
            continue
        SqlCopy.objects.filter(pk=copy.pk).update(closed_at=timezone.now())
        dropped += 1
    return dropped
