"""Foreign keys between tables, and what they mean for restoring some tables alone."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

_FOREIGN_KEYS = """
SELECT sn.nspname || '.' || s.relname, tn.nspname || '.' || t.relname
FROM pg_constraint c
JOIN pg_class s ON s.oid = c.conrelid JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_class t ON t.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE c.contype = 'f' AND c.conrelid <> c.confrelid
"""


def foreign_keys(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(referencing table, referenced table) for every foreign key between two tables."""
    return {(a, b) for a, b in conn.execute(_FOREIGN_KEYS).fetchall()}


def dependency_problems(
    chosen: Iterable[str], version_fks: set[tuple[str, str]], live_fks: set[tuple[str, str]]
) -> list[str]:
    """Why `chosen` cannot be restored alone: empty when no foreign key leaves it."""
    chosen = set(chosen)
    problems = [
        f"{a.removeprefix('public.')} references {b.removeprefix('public.')} in the version"
        for a, b in sorted(version_fks)
        if a in chosen and b not in chosen
    ]
    problems += [
        f"{a.removeprefix('public.')} in the live database references {b.removeprefix('public.')}"
        for a, b in sorted(live_fks)
        if b in chosen and a not in chosen
    ]
    return problems


def with_dependencies(
    chosen: Iterable[str], version_fks: set[tuple[str, str]], live_fks: set[tuple[str, str]]
) -> list[str]:
    """`chosen` and every table a foreign key ties to it, in either database, transitively."""
    tables = set(chosen)
    edges = version_fks | live_fks
    while True:
        more = {b for a, b in edges if a in tables} | {a for a, b in edges if b in tables}
        if more <= tables:
            return sorted(tables)
        tables |= more
