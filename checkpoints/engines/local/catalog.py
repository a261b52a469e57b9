"""The local engine's catalog: tables in the control database, and named rows -> dataclasses.

The catalog lives on the same server as the databases it describes, so a catalog update
and `ALTER DATABASE … RENAME` commit in one transaction. Every entity that owns a
database carries a `state`: `init` (intent recorded, database maybe not made yet),
`ready`, `deleting` (database maybe already dropped). `recover()` uses these states to
finish or undo what a crash interrupted.
"""

from __future__ import annotations

from typing import Any

from ..base import Branch, Endpoint, Operation, Project, Snapshot
from .records import BranchRow, EndpointRow, OperationRow, ProjectRow, SnapshotRow

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
    p = ProjectRow._make(row)
    return Project(id=p.id, name=p.name, created_at=p.created_at)


def branch_from(row: tuple[Any, ...], size: int | None = None) -> Branch:
    b = BranchRow._make(row)
    return Branch(
        id=b.id,
        project_id=b.project_id,
        name=b.name,
        created_at=b.created_at,
        parent_id=b.parent_id,
        default=b.is_default,
        current_state=b.state,
        restore_status=b.restore_status,
        restored_from=b.restored_from,
        restored_as=b.restored_as,
        logical_size=size,
    )


def snapshot_from(row: tuple[Any, ...], size: int | None = None, tier: str = "hot") -> Snapshot:
    s = SnapshotRow._make(row)
    return Snapshot(
        id=s.id,
        name=s.name,
        created_at=s.created_at,
        source_branch_id=s.source_branch_id,
        expires_at=s.expires_at,
        full_size=size,
        tier=tier,
    )


def endpoint_from(row: tuple[Any, ...], host: str) -> Endpoint:
    e = EndpointRow._make(row)
    return Endpoint(id=e.id, project_id=e.project_id, branch_id=e.branch_id, host=host)


def operation_from(row: tuple[Any, ...]) -> Operation:
    return Operation(**OperationRow._make(row)._asdict())
