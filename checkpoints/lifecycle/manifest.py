"""What a version holds, in a few hundred bytes, and what changed between two versions.

A manifest is read from the active branch when a version is saved (`manifest_read`) and
kept on `Version.manifest`, because a snapshot cannot be opened later without restoring it.
It lists every user table with its columns ([name, type] in table order), an exact row count
(`count(*)`) and a checksum of its rows:

- tables up to `CHECKPOINTS_MANIFEST_HASH_MAX_BYTES` (default 8 MB on disk, heap only) are
  hashed in the same scan as the count: the sum of every row's 64-bit text hash
  (`hashtextextended`; no sort, no big string; `"checksum_kind": "rows"`), so an edited
  row shows as "changed" even when the count stays the same;
- bigger tables are not hashed (`"checksum_kind": "none"`): the count and the on-disk size
  still show rows added or removed, but an in-place edit of the same number of rows is not
  seen. This bounds the cost: counting 100 MB of rows takes tens of milliseconds, hashing
  them takes seconds (measured in `tests/services/test_lifecycle_manifest.py`).

What changed between two manifests is `lifecycle.diff`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from checkpoints.engines.connect import connect_app as connect

MANIFEST_FORMAT = 1

_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       pg_relation_size(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
ORDER BY n.nspname, c.relname, a.attnum
"""

logger = logging.getLogger(__name__)


def hash_max_bytes() -> int:
    return int(settings.CHECKPOINTS_MANIFEST_HASH_MAX_BYTES)


def table_label(key: str) -> str:
    """`public.contacts` -> `contacts`; other schemas keep their prefix."""
    return key.removeprefix("public.")


def manifest_read(conn: psycopg.Connection, *, hash_max: int | None = None) -> dict[str, Any]:
    """The manifest of the database `conn` is connected to (read-only queries)."""
    started = time.monotonic()
    hash_max = hash_max_bytes() if hash_max is None else hash_max
    tables: dict[str, dict[str, Any]] = {}
    for schema, table, column, type_, size in conn.execute(_COLUMNS).fetchall():
        entry = tables.setdefault(
            f"{schema}.{table}",
            {"schema": schema, "name": table, "columns": [], "bytes": size},
        )
        # A list of [name, type] pairs: jsonb would reorder the keys of an object.
        entry["columns"].append([column, type_])
    for entry in tables.values():
        ident = sql.Identifier(entry.pop("schema"), entry.pop("name"))
        if entry["bytes"] <= hash_max:
            entry["rows"], entry["checksum"] = _count_and_checksum(conn, ident)
            entry["checksum_kind"] = "rows"
        else:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
            entry["rows"] = count
            entry["checksum"] = None
            entry["checksum_kind"] = "none"
    return {
        "format": MANIFEST_FORMAT,
        "tables": tables,
        "took_ms": round((time.monotonic() - started) * 1000, 1),
    }


def _count_and_checksum(conn: psycopg.Connection, ident: sql.Identifier) -> tuple[int, str]:
    """One scan: the row count and an order-free checksum of the rows (the sum of each
    row's 64-bit text hash: no sort, no big string; equal for equal sets of rows)."""
    query = sql.SQL(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {} t"
    ).format(ident)
    count, checksum = conn.execute(query).fetchone()
    return count, checksum


def manifest_verify(conn: psycopg.Connection, expected: dict[str, Any]) -> list[str]:
    """What differs between the database `conn` is connected to and the manifest
    `expected` (empty: it matches): tables and columns always; row counts and row
    checksums where `expected["exact"]` (read around the snapshot with nothing changing
    in between). Two round trips: the columns, then every count and checksum in one row."""
    found: dict[str, list[list[str]]] = {}
    for schema, table, column, type_, _size in conn.execute(_COLUMNS).fetchall():
        found.setdefault(f"{schema}.{table}", []).append([column, type_])
    tables = expected.get("tables", {})
    problems = [f"table {table_label(t)} is missing" for t in sorted(tables.keys() - found.keys())]
    problems += [
        f"table {table_label(t)} is not in the version"
        for t in sorted(found.keys() - tables.keys())
    ]
    for key in sorted(tables.keys() & found.keys()):
        if [list(c) for c in tables[key]["columns"]] != found[key]:
            problems.append(f"table {table_label(key)} has other columns")
    if problems or not expected.get("exact") or not tables:
        return problems
    parts = []
    keys = sorted(tables)
    for key in keys:
        schema, _, name = key.partition(".")
        ident = sql.Identifier(schema, name)
        if tables[key].get("checksum_kind") == "rows":
            parts.append(
                sql.SQL(
                    "(SELECT row(count(*), coalesce(sum(hashtextextended(t::text, 0)), 0))::text "
                    "FROM {} t)"
                ).format(ident)
            )
        else:
            parts.append(sql.SQL("(SELECT row(count(*), NULL)::text FROM {})").format(ident))
    row = conn.execute(sql.SQL("SELECT ") + sql.SQL(", ").join(parts)).fetchone()
    for key, text in zip(keys, row or (), strict=True):
        count, _, checksum = text.strip("()").partition(",")
        entry = tables[key]
        if int(count) != entry["rows"]:
            problems.append(f"table {table_label(key)} has {count} rows, expected {entry['rows']}")
        elif entry.get("checksum_kind") == "rows" and checksum != entry["checksum"]:
            problems.append(f"rows of table {table_label(key)} differ")
    return problems


def manifests_equal(first: dict[str, Any] | None, second: dict[str, Any] | None) -> bool:
    """Same tables, columns, counts and checksums (read times aside)."""
    if first is None or second is None:
        return False
    return first.get("tables") == second.get("tables")


# Diff ------------------------------------------------------------------------------------


def manifest_of_uri(uri: str) -> dict[str, Any] | None:
    """The manifest of the database at `uri`, or None if it cannot be read (logged)."""
    try:
        with connect(uri) as conn:
            conn.read_only = True
            return manifest_read(conn)
    except Exception:
        logger.exception("could not read a manifest")
        return None
