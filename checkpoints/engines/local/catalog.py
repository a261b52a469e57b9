"""The local engine's catalog: tables in the control database, and rows -> dataclasses.

The catalog lives on the same server as the databases it describes, so a catalog update
and `ALTER DATABASE … RENAME` commit in one transaction. Every entity that owns a
database carries a `state`: `init` (intent recorded, database maybe not made yet),
`ready`, `deleting` (database maybe already dropped). `recover()` uses these states to
finish or undo what a crash interrupted.
"""

from __future__ import annotations

from typing import Any

from ..base import Branch, Endpoint, Operation, Project, Snapshot

SCHEMA_VERSION = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id text PRIMARY KEY,
    name text NOT NULL,
    state text NOT NULL CHECK (state IN ('init', 'ready', 'deleting')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS roles (
    project_id text PRIMARY KEY REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL UNIQUE,
    password text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS branches (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    parent_id text REFERENCES branches,
    is_default boolean NOT NULL DEFAULT false,
    state text NOT NULL CHECK (state IN ('init', 'ready', 'deleting')),
    dbname text NOT NULL UNIQUE,
    restore_status text,
    restored_from text,
    restored_as text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS branches_project ON branches (project_id);
CREATE TABLE IF NOT EXISTS snapshots (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    source_branch_id text,
    state text NOT NULL CHECK (state IN ('init', 'ready', 'deleting')),
    dbname text NOT NULL UNIQUE,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS snapshots_project ON snapshots (project_id);
CREATE TABLE IF NOT EXISTS endpoints (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    branch_id text NOT NULL UNIQUE REFERENCES branches,
    dbname text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS operations (
    id uuid PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    branch_id text,
    endpoint_id text,
    action text NOT NULL,
    status text NOT NULL,
    error text,
    failures_count integer NOT NULL DEFAULT 0,
    -- what recover() does with it if a crash leaves it running: 'undo' -> failed,
    -- 'complete' -> finished (deletions are rolled forward).
    on_crash text NOT NULL DEFAULT 'undo' CHECK (on_crash IN ('undo', 'complete')),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    total_duration_ms integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS operations_project ON operations (project_id, created_at DESC);
-- A ready copy of a recent snapshot ("warm copy"): a rollback to that snapshot renames it
-- onto the endpoint instead of copying. Never connectable, not a branch. `init`: a warm-up
-- is copying it (or crashed doing so: recover() drops it).
CREATE TABLE IF NOT EXISTS warm_copies (
    snapshot_id text PRIMARY KEY REFERENCES snapshots ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    state text NOT NULL CHECK (state IN ('init', 'ready')),
    dbname text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS warm_copies_project ON warm_copies (project_id);
-- The login role of a branch that is not the project's default one (a preview): its
-- connection string opens that branch only, never the live database.
CREATE TABLE IF NOT EXISTS branch_roles (
    branch_id text PRIMARY KEY REFERENCES branches ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL UNIQUE,
    password text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The cold tier (cold.py): 'freezing'/'thawing' record a move's intent; a cold snapshot's
-- database is gone and `archive` (its sha256 `checksum`) holds it; `stored_bytes` is what
-- the snapshot takes in its tier, recorded when it moves.
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS tier text NOT NULL DEFAULT 'hot'
    CHECK (tier IN ('hot', 'freezing', 'cold', 'thawing'));
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS archive text;
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS checksum text;
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS stored_bytes bigint;
"""

PROJECT_COLUMNS = "id, name, created_at"
BRANCH_COLUMNS = (
    "b.id, b.project_id, b.name, b.created_at, b.parent_id, b.is_default, b.state, "
    "b.restore_status, b.restored_from, b.restored_as, b.dbname"
)
SNAPSHOT_COLUMNS = "s.id, s.name, s.created_at, s.source_branch_id, s.expires_at, s.dbname"
ENDPOINT_COLUMNS = "id, project_id, branch_id"
OPERATION_COLUMNS = (
    "id::text, project_id, action, status, created_at, updated_at, branch_id, endpoint_id, "
    "error, failures_count, total_duration_ms"
)

# Size of a database by name, NULL when it does not exist (no error on a race).
SIZE_OF = (
    "(SELECT pg_database_size(d.oid) FROM pg_database d WHERE d.datname = {col} "
    "AND d.datallowconn IS NOT NULL)"
)


def project_from(row: tuple[Any, ...]) -> Project:
    return Project(id=row[0], name=row[1], created_at=row[2])


def branch_from(row: tuple[Any, ...], size: int | None = None) -> Branch:
    return Branch(
        id=row[0],
        project_id=row[1],
        name=row[2],
        created_at=row[3],
        parent_id=row[4],
        default=row[5],
        current_state=row[6],
        restore_status=row[7],
        restored_from=row[8],
        restored_as=row[9],
        logical_size=size,
    )


def snapshot_from(row: tuple[Any, ...], size: int | None = None, tier: str = "hot") -> Snapshot:
    return Snapshot(
        id=row[0],
        name=row[1],
        created_at=row[2],
        source_branch_id=row[3],
        expires_at=row[4],
        full_size=size,
        tier=tier,
    )


def endpoint_from(row: tuple[Any, ...], host: str) -> Endpoint:
    return Endpoint(id=row[0], project_id=row[1], branch_id=row[2], host=host)


def operation_from(row: tuple[Any, ...]) -> Operation:
    return Operation(
        id=row[0],
        project_id=row[1],
        action=row[2],
        status=row[3],
        created_at=row[4],
        updated_at=row[5],
        branch_id=row[6],
        endpoint_id=row[7],
        error=row[8],
        failures_count=row[9],
        total_duration_ms=row[10],
    )
