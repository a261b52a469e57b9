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

from checkpoints.engines.base import mask_password
from checkpoints.engines.connect import connect_app as connect

MANIFEST_FORMAT = 1

#: Catalog rows only: no table is opened (nor locked) to list them, whatever their number.
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), c.oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND n.nspname <> 'checkpoints_events'
ORDER BY n.nspname, c.relname, a.attnum
"""

#: Tables read per statement, each batch its own transaction: a read locks at most this
#: many tables (with their indexes) at once, so 50,000 tables never fill the server's
#: shared lock table (64 × connections by default) that every project shares.
BATCH = 50

logger = logging.getLogger(__name__)


def hash_max_bytes() -> int:
    return int(settings.CHECKPOINTS_MANIFEST_HASH_MAX_BYTES)


def table_label(key: str) -> str:
    """`public.contacts` -> `contacts`; other schemas keep their prefix."""
    return key.removeprefix("public.")


def manifest_read(conn: psycopg.Connection, *, hash_max: int | None = None) -> dict[str, Any]:
    """The manifest of the database `conn` is connected to (read-only queries). The
    tables are read `BATCH` at a time, committing in between (locks released)."""
    started = time.monotonic()
    hash_max = hash_max_bytes() if hash_max is None else hash_max
    tables: dict[str, dict[str, Any]] = {}
    oids: dict[str, int] = {}
    for schema, table, column, type_, oid in conn.execute(_COLUMNS).fetchall():
        entry = tables.setdefault(f"{schema}.{table}", {"columns": []})
        oids[f"{schema}.{table}"] = oid
        # A list of [name, type] pairs: jsonb would reorder the keys of an object.
        entry["columns"].append([column, type_])
    keys = sorted(tables)
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        sizes = dict(
            conn.execute(
                "SELECT o, pg_relation_size(o) FROM unnest(%s::oid[]) o",
                ([oids[k] for k in batch],),
            ).fetchall()
        )
        for key in batch:
            tables[key]["bytes"] = sizes.get(oids[key]) or 0
            tables[key]["checksum_kind"] = "rows" if tables[key]["bytes"] <= hash_max else "none"
        for key, (count, checksum) in zip(batch, _counts(conn, tables, batch), strict=True):
            tables[key]["rows"], tables[key]["checksum"] = count, checksum
        _release(conn)
    return {
        "format": MANIFEST_FORMAT,
        "tables": tables,
        "took_ms": round((time.monotonic() - started) * 1000, 1),
    }


def _release(conn: psycopg.Connection) -> None:
    """End the read's transaction (its locks go with it); nothing was written."""
    if not conn.autocommit:
        conn.commit()


def _counts(
    conn: psycopg.Connection, tables: dict[str, Any], keys: list[str]
) -> list[tuple[int, str | None]]:
    """(row count, row checksum or None) of each table in `keys`, in one statement: one
    scan each, the checksum the sum of each row's 64-bit text hash (no sort, no big
    string; equal for equal sets of rows) where `checksum_kind` is "rows"."""
    parts = []
    for key in keys:
        schema, _, name = key.partition(".")
        ident = sql.Identifier(schema, name)
        if tables[key].get("checksum_kind") == "rows":
            parts.append(
                sql.SQL(
                    "(SELECT row(pg_catalog.count(*), coalesce(pg_catalog.sum("
                    "pg_catalog.hashtextextended(t::text, 0::bigint)), 0))::text "
                    "FROM {} t)"
                ).format(ident)
            )
        else:
            parts.append(
                sql.SQL("(SELECT row(pg_catalog.count(*), NULL)::text FROM {})").format(ident)
            )
    if not parts:
        return []
    row = conn.execute(sql.SQL("SELECT ") + sql.SQL(", ").join(parts)).fetchone() or ()
    found = []
    for text in row:
        count, _, checksum = text.strip("()").partition(",")
        found.append((int(count), checksum or None))
    return found


def manifest_verify(
    conn: psycopg.Connection, expected: dict[str, Any], *, only: list[str] | None = None
) -> list[str]:
    """What differs between the database `conn` is connected to and the manifest
    `expected` (empty: it matches): tables and columns always; row counts and row
    checksums where `expected["exact"]` (read around the snapshot with nothing changing
    in between). The counts are read `BATCH` tables a statement, committing in between;
    with `only` (tables restored in the caller's open transaction) only those tables are
    compared, in that transaction."""
    found: dict[str, list[list[str]]] = {}
    for schema, table, column, type_, _oid in conn.execute(_COLUMNS).fetchall():
        if only is None or f"{schema}.{table}" in only:
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
    keys = sorted(tables)
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        for key, (count, checksum) in zip(batch, _counts(conn, tables, batch), strict=True):
            entry = tables[key]
            if count != entry["rows"]:
                problems.append(
                    f"table {table_label(key)} has {count} rows, expected {entry['rows']}"
                )
            elif entry.get("checksum_kind") == "rows" and checksum != entry["checksum"]:
                problems.append(f"rows of table {table_label(key)} differ")
        if only is None:
            _release(conn)
    return problems


def manifests_equal(first: dict[str, Any] | None, second: dict[str, Any] | None) -> bool:
    """Same tables, columns, counts and checksums (read times aside)."""
    if first is None or second is None:
        return False
    return first.get("tables") == second.get("tables")


# Diff ------------------------------------------------------------------------------------


#: Why a version is refused rather than saved without its manifest (restores of it
#: could not be verified).
UNREADABLE = (
    "The version was not saved: its tables could not be read to fingerprint it ({reason}). "
    "A version is never saved without the list, counts and checksums its restores are "
    "verified against; fix what the error names and save again."
)


class ManifestUnreadable(Exception):
    """The live database's manifest could not be read (the message says why)."""


def manifest_required(uri: str) -> dict[str, Any]:
    """The manifest of the database at `uri`; `ManifestUnreadable` (with the reason)
    when it cannot be read."""
    try:
        with connect(uri) as conn:
            conn.read_only = True
            return manifest_read(conn)
    except psycopg.Error as error:
        reason = mask_password(str(error).strip().splitlines()[0] if str(error).strip() else "")
        raise ManifestUnreadable(UNREADABLE.format(reason=reason or type(error).__name__)) from None


def manifest_of_uri(uri: str) -> dict[str, Any] | None:
    """The manifest of the database at `uri`, or None if it cannot be read (logged)."""
    try:
        with connect(uri) as conn:
            conn.read_only = True
            return manifest_read(conn)
    except Exception:
        logger.exception("could not read a manifest")
        return None
