"""Restoring some tables of a version into the live database, on any engine.

The version is open on a temporary branch (`source_uri`); the live database (`live_uri`,
as the role that owns its tables) gets, in ONE transaction, exactly those tables' schema
(`pg_dump --schema-only`: columns, defaults, constraints, indexes, owned sequences) and
rows (`COPY` from the source connection straight into the live one). Every other table is
untouched; any failure rolls the whole transaction back, so the live database is as it
was. Foreign keys that leave the chosen tables are refused (`TablesRefused` names them),
or followed when `include_dependencies` is asked.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from checkpoints.engines import table_guard as guard
from checkpoints.engines.base import mask_password
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.errors import EngineError
from checkpoints.engines.local.events_sql import recorder_entry
from checkpoints.engines.table_keys import dependency_problems, foreign_keys, with_dependencies
from checkpoints.servers.pgserver import pg_bin

#: How long the live side waits for a lock held by the app before it gives up.
LOCK_TIMEOUT_MS = 10_000

_OWNED_SEQUENCES = """
SELECT sn.nspname, s.relname
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
WHERE d.refobjid = %s::regclass AND d.deptype IN ('a', 'i')
"""

_COPY_COLUMNS = """
SELECT attname FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
ORDER BY attnum
"""

_GRANTS = """
SELECT grantee, privilege_type FROM information_schema.role_table_grants
WHERE table_schema = %s AND table_name = %s AND grantee <> current_user
"""


class TablesRefused(EngineError):
    """The chosen tables cannot be restored alone (foreign keys leave them)."""


@dataclass
class TablesRestored:
    tables: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def table_key(name: str) -> str:
    """`contacts` -> `public.contacts`; a qualified name stays."""
    return name if "." in name else f"public.{name}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _regclass(key: str) -> str:
    """`public.a"b` -> `"public"."a""b"` (a table named with `"` or `.` too)."""
    schema, _, name = key.partition(".")
    return f"{_quoted(schema)}.{_quoted(name)}"


def _ident(key: str) -> sql.Identifier:
    schema, _, name = key.partition(".")
    return sql.Identifier(schema, name)


def schema_ddl(source_uri: str, tables: list[str], section: str = "pre-data") -> str:
    """The version's definition of `tables` (and their owned sequences), as SQL without
    session settings, owners or grants (the live side keeps its own): `pre-data` the
    tables (columns, defaults, CHECK constraints), `post-data` what comes after their
    rows (keys, foreign keys, indexes, triggers, rules, policies)."""
    command = [str(pg_bin("pg_dump")), f"--section={section}", "--no-owner", "--no-privileges"]
    for key in tables:
        # pg_dump's -t is a pattern: `"` doubled inside quotes, and * ? and . are literal there.
        command += ["-t", _regclass(key)]
    done = subprocess.run([*command, "-d", source_uri], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise EngineError(f"pg_dump failed: {mask_password(done.stderr.strip()[-500:])}")
    # Not psql meta-commands (\restrict), the dump's session settings, the recorder's guard
    # trigger (the live side's event trigger gives the new table its own).
    skip = ("\\", "SET ", "SELECT pg_catalog.set_config")
    out = done.stdout.splitlines()
    return "\n".join(line for line in out if not line.startswith(skip) and not recorder_entry(line))


def _one(conn: psycopg.Connection, query: Any, params: Any = None) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def _rows_copy(source: psycopg.Connection, live: psycopg.Connection, key: str) -> int:
    columns = [row[0] for row in live.execute(_COPY_COLUMNS, [_regclass(key)]).fetchall()]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    out = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(_ident(key), names)
    into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(_ident(key), names)
    with source.cursor().copy(out) as reading, live.cursor().copy(into) as writing:
        for chunk in reading:
            writing.write(chunk)
    return _one(live, sql.SQL("SELECT count(*) FROM {}").format(_ident(key)))[0]


def _sequences_reset(source: psycopg.Connection, live: psycopg.Connection, key: str) -> None:
    for schema, name in source.execute(_OWNED_SEQUENCES, [_regclass(key)]).fetchall():
        seq = sql.Identifier(schema, name)
        last, called = _one(source, sql.SQL("SELECT last_value, is_called FROM {}").format(seq))
        live.execute(
            "SELECT setval(%s::regclass, %s, %s)", [_regclass(f"{schema}.{name}"), last, called]
        )


def _grants(live: psycopg.Connection, tables: list[str]) -> list[sql.Composed]:
    """The live tables' grants to other roles, to give again after they are recreated."""
    grants: list[sql.Composed] = []
    for key in tables:
        schema, _, name = key.partition(".")
        for grantee, privilege in live.execute(_GRANTS, [schema, name]).fetchall():
            grants.append(
                sql.SQL("GRANT {} ON {} TO {}").format(
                    sql.SQL(privilege), _ident(key), sql.Identifier(grantee)
                )
            )
    return grants


def _existing(conn: psycopg.Connection, tables: list[str]) -> list[str]:
    return [key for key in tables if _one(conn, "SELECT to_regclass(%s)", [_regclass(key)])[0]]


def _tables_checked(
    source: psycopg.Connection, live: psycopg.Connection, chosen: list[str], include: bool
) -> list[str]:
    """The tables to restore: `chosen` (and what foreign keys tie to them, if `include`);
    `TablesRefused` if the version lacks one or a foreign key leaves them."""
    missing = sorted(set(chosen) - set(_existing(source, chosen)))
    if missing:
        raise TablesRefused(f"The version has no table {', '.join(missing)}.")
    version_fks, live_fks = foreign_keys(source), foreign_keys(live)
    if include:
        chosen = _existing(source, with_dependencies(chosen, version_fks, live_fks))
    problems = dependency_problems(chosen, version_fks, live_fks)
    if problems:
        raise TablesRefused(
            "These tables cannot be restored alone: "
            + "; ".join(problems)
            + ". Include the tables they depend on, or choose others."
        )
    return chosen


def tables_check(
    source_uri: str, live_uri: str, tables: Iterable[str], *, include_dependencies: bool = False
) -> list[str]:
    """The tables a restore would replace, read-only on both sides: `TablesRefused` now
    rather than after the live state was kept."""
    chosen = sorted({table_key(t) for t in tables})
    with connect(source_uri) as source, connect(live_uri) as live:
        source.read_only = live.read_only = True
        for conn in (source, live):
            conn.execute(guard.SEARCH_PATH)
        return _tables_checked(source, live, chosen, include_dependencies)


def tables_restore(
    source_uri: str,
    live_uri: str,
    tables: Iterable[str],
    *,
    include_dependencies: bool = False,
    before_copy: Callable[[str], Any] | None = None,
    verify: Callable[[psycopg.Connection, list[str]], None] | None = None,
) -> TablesRestored:
    """Replace `tables` of the live database by the source's, in one transaction: all or
    nothing, so any failure (verification included) leaves the live database as it was.

    `before_copy(table)` runs before each table's rows are copied (progress, or a test's
    injected failure); `verify(live, tables)` checks the restored tables inside the
    transaction, before the commit, and raises to refuse them. `TablesRefused` comes
    before anything is touched when a foreign key leaves the tables. The live side runs
    as the project's role (`table_guard`); the restored tables' triggers are created
    after their rows (none fires), and a write outside the chosen tables fails it."""
    started = time.monotonic()
    chosen = sorted({table_key(t) for t in tables})
    with connect(source_uri) as source, connect(live_uri) as live:
        source.read_only = True
        source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        for conn in (source, live):
            conn.execute(guard.SEARCH_PATH)
        guard.role_checked(live)
        chosen = _tables_checked(source, live, chosen, include_dependencies)
        live.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        done = _replace(source, live, chosen, source_uri, before_copy)
        if verify is not None:
            verify(live, chosen)
        live.commit()
    done.seconds = round(time.monotonic() - started, 3)
    return done


def _replace(
    source: psycopg.Connection,
    live: psycopg.Connection,
    chosen: list[str],
    source_uri: str,
    before_copy: Callable[[str], Any] | None,
) -> TablesRestored:
    """In the live transaction: drop the chosen tables, create them bare (`pre-data`),
    load their rows, then give them their keys, indexes and triggers (`post-data`): no
    trigger fires and no foreign key waits for a parent's rows during the load. Refused
    if anything outside them changed meanwhile."""
    pre, post = schema_ddl(source_uri, chosen), schema_ddl(source_uri, chosen, "post-data")
    before = guard.relations(live)
    present = _existing(live, chosen)
    grants = _grants(live, present)
    if present:
        live.execute(
            sql.SQL("DROP TABLE {}").format(sql.SQL(", ").join(_ident(k) for k in present))
        )
    live.execute(pre)
    for statement in grants:
        live.execute(statement)
    done = TablesRestored(tables=chosen)
    for key in chosen:
        if before_copy is not None:
            before_copy(key)
        done.rows[key] = _rows_copy(source, live, key)
        _sequences_reset(source, live, key)
    if post.strip():
        live.execute(post)
    guard.writes_outside(live, before, chosen)
    return done
