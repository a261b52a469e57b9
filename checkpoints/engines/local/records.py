"""The local engine's catalog rows with names: one type per shape a catalog query reads.

Each type lists the columns in the order its query selects them (`catalog.*_COLUMNS`),
so `Row._make(tuple)` names a fetched row; a named row is still a tuple."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple


class ProjectRow(NamedTuple):
    id: str
    name: str
    created_at: dt.datetime


class BranchRow(NamedTuple):
    id: str
    project_id: str
    name: str
    created_at: dt.datetime
    parent_id: str | None
    is_default: bool
    state: str
    restore_status: str | None
    restored_from: str | None
    restored_as: str | None
    dbname: str


class SnapshotRow(NamedTuple):
    id: str
    name: str
    created_at: dt.datetime
    source_branch_id: str | None
    expires_at: dt.datetime | None
    dbname: str


class EndpointRow(NamedTuple):
    id: str
    project_id: str
    branch_id: str


class ServedBy(NamedTuple):
    """A branch's endpoint: its id and the database it serves under (the live name)."""

    id: str
    dbname: str


class RoleRow(NamedTuple):
    """A project's login role."""

    name: str
    password: str


class OperationRow(NamedTuple):
    id: str
    project_id: str
    action: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    branch_id: str | None
    endpoint_id: str | None
    error: str | None
    failures_count: int
    total_duration_ms: int


class TierRow(NamedTuple):
    """Where a snapshot is kept (`cold.py`): its tier, archive, checksum, stored bytes."""

    tier: str
    archive: str | None
    checksum: str | None
    stored_bytes: int | None


class WarmTodo(NamedTuple):
    """The next warm copy a warm-up makes (`warm.py`): recorded `init`, not copied yet."""

    snapshot_id: str
    snapshot_db: str
    warm_db: str
    role: str
