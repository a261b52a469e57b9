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
  them takes seconds (measured in `tests/test_lifecycle_manifest.py`).

`manifest_diff(old, new)` says what going from `old` to `new` changes: tables and columns
added, removed or retyped, rows added or removed per table; `diff_summary` turns it into
one sentence ("drops columns role, company, tags and 1 contact").
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

MANIFEST_FORMAT = 1
DEFAULT_HASH_MAX_BYTES = 8 * 1024 * 1024

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


def hash_max_bytes() -> int:
    return int(getattr(settings, "CHECKPOINTS_MANIFEST_HASH_MAX_BYTES", DEFAULT_HASH_MAX_BYTES))


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


def manifest_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What going from the `old` manifest to the `new` one changes.

    Returns {"tables_added": [...], "tables_removed": [...], "tables": {name: {...}}} where
    each changed table lists columns_added / columns_removed / columns_changed
    ({column: [old type, new type]}), rows_added / rows_removed (from the counts) and
    rows_changed (same count, different checksum), and "empty" when nothing differs."""
    old_tables, new_tables = old.get("tables", {}), new.get("tables", {})
    diff: dict[str, Any] = {
        "tables_added": sorted(table_label(t) for t in new_tables.keys() - old_tables.keys()),
        "tables_removed": sorted(table_label(t) for t in old_tables.keys() - new_tables.keys()),
        "tables": {},
    }
    for key in sorted(old_tables.keys() | new_tables.keys()):
        before = old_tables.get(key, {"columns": [], "rows": 0, "checksum": None})
        after = new_tables.get(key, {"columns": [], "rows": 0, "checksum": None})
        change = _table_diff(before, after, whole=key not in old_tables or key not in new_tables)
        if change:
            diff["tables"][table_label(key)] = change
    diff["empty"] = not (diff["tables_added"] or diff["tables_removed"] or diff["tables"])
    return diff


def _table_diff(before: dict, after: dict, *, whole: bool) -> dict[str, Any]:
    cols_before, cols_after = dict(before["columns"]), dict(after["columns"])
    change: dict[str, Any] = {}
    if not whole:
        added = [c for c in cols_after if c not in cols_before]
        removed = [c for c in cols_before if c not in cols_after]
        retyped = {
            c: [cols_before[c], cols_after[c]]
            for c in cols_before
            if c in cols_after and cols_before[c] != cols_after[c]
        }
        if added:
            change["columns_added"] = added
        if removed:
            change["columns_removed"] = removed
        if retyped:
            change["columns_changed"] = retyped
    delta = after["rows"] - before["rows"]
    if delta > 0:
        change["rows_added"] = delta
    elif delta < 0:
        change["rows_removed"] = -delta
    elif (
        not whole
        and before.get("checksum")
        and after.get("checksum")
        and before["checksum"] != after["checksum"]
        and not change
    ):
        change["rows_changed"] = True
    return change


def _rows(count: int, table: str) -> str:
    noun = table[:-1] if count == 1 and table.endswith("s") else table
    return f"{count} {noun}"


def _whole_table(table: str, rows: int) -> str:
    return f"table {table} ({rows} row{'s' if rows != 1 else ''})" if rows else f"table {table}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def diff_summary(diff: dict[str, Any]) -> str:
    """One sentence, e.g. "drops columns role, company, tags and 1 contact"."""
    if diff.get("empty"):
        return "changes nothing in the schema or the row counts"
    drops: list[str] = []
    adds: list[str] = []
    other: list[str] = []
    for table in diff["tables_removed"]:
        drops.append(_whole_table(table, diff["tables"].get(table, {}).get("rows_removed", 0)))
    for table in diff["tables_added"]:
        adds.append(_whole_table(table, diff["tables"].get(table, {}).get("rows_added", 0)))
    columns_removed = [c for t in diff["tables"].values() for c in t.get("columns_removed", [])]
    columns_added = [c for t in diff["tables"].values() for c in t.get("columns_added", [])]
    if columns_removed:
        word = "column" if len(columns_removed) == 1 else "columns"
        drops.append(f"{word} {', '.join(columns_removed)}")
    if columns_added:
        word = "column" if len(columns_added) == 1 else "columns"
        adds.append(f"{word} {', '.join(columns_added)}")
    for table, change in diff["tables"].items():
        if table in diff["tables_removed"] or table in diff["tables_added"]:
            continue
        if change.get("rows_removed"):
            drops.append(_rows(change["rows_removed"], table))
        if change.get("rows_added"):
            adds.append(_rows(change["rows_added"], table))
        for column, (old, new) in change.get("columns_changed", {}).items():
            other.append(f"changes {table}.{column} from {old} to {new}")
        if change.get("rows_changed"):
            other.append(f"changes rows of {table}")
    parts = []
    if drops:
        parts.append("drops " + _join(drops))
    if adds:
        parts.append("adds " + _join(adds))
    parts.extend(other)
    return "; ".join(parts)
