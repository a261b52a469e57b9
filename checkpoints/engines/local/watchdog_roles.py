"""Roles put back at once: a project's or a preview's role whose password, settings or
connection limit its own SQL changed (`ALTER ROLE CURRENT_USER PASSWORD …`) is repaired by
the next watchdog round, not only by the project's next job. Until then its connection
string (shown live on the page) would not open, and every version would fail.

One read per round: a digest of every project and preview role's stored state
(`pg_authid`: the verifier, connection limit and `ALTER ROLE … SET` defaults). A role whose
digest changed since the last round is checked in full (`contain.apply_role_state`, which
repairs only what differs from the engine's catalog); one that matched is not read again
until it changes. Needs SELECT on `pg_authid` (the embedded servers grant it): without it
a changed password cannot be seen, and the project's next job sets it back.
"""

from __future__ import annotations

import logging

import psycopg

from . import contain
from . import sql as db

log = logging.getLogger(__name__)

_STATES = """
SELECT r.project_id, r.name, r.password, r.preview,
       pg_catalog.md5(coalesce(a.rolpassword, '') || ':' || a.rolconnlimit || ':' ||
         coalesce((SELECT pg_catalog.string_agg(c, ',' ORDER BY c)
                   FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
                   WHERE s.setrole = a.oid), ''))
FROM (SELECT project_id, name, password, false AS preview FROM roles
      UNION ALL SELECT project_id, name, password, true FROM branch_roles) r
JOIN pg_catalog.pg_authid a ON a.rolname = r.name
"""
_SEES_PASSWORDS = "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')"

#: Per server (engine key) and role: the digest of the state last found as the engine's.
_good: dict[str, dict[str, str]] = {}


def roles_repair(
    conn: db.Conn, key: str, limits: contain.RoleLimits
) -> list[tuple[str, str, bool, list[str]]]:
    """Repair every role whose state changed away from the engine's: (project id, role,
    is a preview's, what was repaired) for each one repaired."""
    row = conn.execute(_SEES_PASSWORDS).fetchone()
    if not (row and row[0]):
        return []
    good = _good.setdefault(key, {})
    done = []
    seen = set()
    for project_id, role, password, preview, digest in conn.execute(_STATES).fetchall():
        seen.add(role)
        if good.get(role) == digest:
            continue
        try:
            repaired = contain.apply_role_state(conn, role, password, limits)
        except psycopg.Error as error:  # a job altering it at this moment: next round
            log.warning("watchdog: role %s not checked: %s", role, error)
            continue
        if repaired:
            done.append((project_id, role, bool(preview), repaired))
        else:  # the engine's state: not read in full again until it changes
            good[role] = digest
    for gone in set(good) - seen:
        del good[gone]
    return done
