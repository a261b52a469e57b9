"""What keeps a table restore inside the tables it was asked for.

The restored tables carry the agent's objects (triggers, CHECK constraints calling its
functions, generated columns). The load runs as the project's own role (never a
privileged one: `role_checked`), its triggers are created only after its rows (in
`tables`), and whatever else ran during the load is caught before the commit: a table
outside the chosen set that gained, lost or changed rows, or was created, dropped,
truncated or rewritten (`writes_outside`) fails the restore, and its transaction rolls
back with everything else.
"""

from __future__ import annotations

from typing import Any

import psycopg

from checkpoints.engines.errors import EngineError

#: Every engine session of a restore: built-ins first, nothing of the agent's by name.
SEARCH_PATH = "SET search_path = pg_catalog, pg_temp"

_ROLE = """
SELECT current_user, r.rolsuper FROM pg_roles r WHERE r.rolname = current_user
"""

#: Tables (with their TOAST and file nodes) outside pg_catalog: their identity and file.
_RELATIONS = """
SELECT c.oid, n.nspname || '.' || c.relname, c.relfilenode
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND n.nspname <> 'checkpoints_events'
"""

_WRITTEN = """
SELECT schemaname || '.' || relname FROM pg_stat_xact_user_tables
WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 AND schemaname <> 'checkpoints_events'
"""

WROTE_OUTSIDE = (
    "Nothing was restored: while the rows were loaded, something carried in the restored "
    "tables (a constraint or default calling a function) changed {tables}, outside the "
    "tables chosen."
)
PRIVILEGED = (
    "Nothing was restored: the live database was opened as {role}, a privileged role; "
    "restoring tables runs only as the project's own role."
)


class TablesOutside(EngineError):
    """The load wrote outside the chosen tables (rolled back)."""


def role_checked(conn: psycopg.Connection) -> str:
    """The session's role, refused if it is a superuser: the agent's objects run as this
    role during the load. (A project role's own attributes, e.g. Neon's owner role, are
    the agent's already: nothing runs with more than it has.)"""
    row = conn.execute(_ROLE).fetchone()
    assert row is not None
    if row[1]:
        raise EngineError(PRIVILEGED.format(role=row[0]))
    return str(row[0])


def relations(conn: psycopg.Connection) -> dict[Any, tuple[str, Any]]:
    """{oid: (table key, file node)} of every table: read before the restore changes any."""
    return {oid: (key, node) for oid, key, node in conn.execute(_RELATIONS).fetchall()}


def writes_outside(
    conn: psycopg.Connection, before: dict[Any, tuple[str, Any]], chosen: list[str]
) -> None:
    """`TablesOutside` if, in this transaction, a table not chosen changed rows, was
    created, dropped, truncated or rewritten (its file node moved)."""
    inside = set(chosen)
    after = relations(conn)
    touched = {
        key
        for oid, (key, node) in before.items()
        if key not in inside and (oid not in after or after[oid][1] != node)
    }
    touched |= {key for oid, (key, _) in after.items() if oid not in before and key not in inside}
    touched |= {key for (key,) in conn.execute(_WRITTEN).fetchall() if key not in inside}
    if touched:
        raise TablesOutside(WROTE_OUTSIDE.format(tables=", ".join(sorted(touched))))
