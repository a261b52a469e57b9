"""The records every door answers: a project, a version, a preview, a job, a share link."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from checkpoints.models import EngineConnection as ConnectionRow
from checkpoints.models import Job as JobRow
from checkpoints.models import Membership
from checkpoints.models import Version as VersionRow

#: An ISO 8601 time as the answers give it (`datetime.isoformat()`).
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Count = Annotated[int, Field(ge=0)]

ERROR_CODES = (
    "invalid", "unauthorized", "forbidden", "not_found", "method_not_allowed", "busy",
    "not_ready", "version_deleted", "version_expired", "preview_gone", "diff_unavailable",
    "sql_failed", "statement_timeout", "cancelled", "not_running", "snapshot_limit",
    "snapshot_quota", "snapshot_refused", "name_taken", "job_failed", "engine_error",
    "engine_timeout", "internal", "nothing_to_undo", "sql_refused", "live_changed",
    "migration_not_prepared", "not_supported", "read_only_token", "token_scope",
    "idempotency_key_reused", "idempotency_in_progress", "tables_refused",
)  # fmt: skip


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def answer(self) -> dict[str, Any]:
        """The JSON answer (optional fields left out unless given)."""
        return self.model_dump(exclude_unset=True)


class Team(Shape):
    id: int
    name: str


class EngineConnection(Shape):
    id: int
    kind: Literal[tuple(ConnectionRow.Kind.values)]  # type: ignore[valid-type]
    name: str
    server: str = Field(description="host:port or the API URL: what may be shown.")


class Snapshots(Shape):
    limit: int | None
    used: int
    as_of: Time | None


class Project(Shape):
    id: int
    name: str
    team: Team
    role: Literal[tuple(Membership.Role.values)] | None  # type: ignore[valid-type]
    engine: str
    connection: EngineConnection | None = Field(
        description="Where the project lives; null: the installation's own engine. "
        "Never carries a secret."
    )
    ready: bool = Field(description="The engine project exists (v0 saved).")
    current_version: int | None
    snapshots: Snapshots | None = Field(
        description="Snapshot capacity as the last job saw it; null before the first listing."
    )
    created_at: Time | None
    url: str


class Version(Shape):
    number: Count
    name: str
    prompt: str
    parent: int | None
    current: bool
    created_at: Time | None
    created_by: str | None
    expires_at: Time | None
    deleted_at: Time | None
    deleted_by: str | None
    snapshot_id: str
    tier: Literal[tuple(VersionRow.Tier.values)] = Field(  # type: ignore[valid-type]
        description="hot: a template database (rollback is a swap); cold: a compressed "
        "archive (rollback loads it first)."
    )
    pinned: bool = Field(description="Kept hot whatever the tier policy says.")
    size_bytes: Count | None
    automatic: bool = Field(description="Saved by Checkpoints (the live state kept before a "
                            "rollback), not by a step.")  # fmt: skip
    labels: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        max_length=20, description="The caller's own key/value labels set at save."
    )


class Preview(Shape):
    id: int
    version: int
    live: bool
    created_at: Time | None
    expires_at: Time | None
    discarded_at: Time | None
    url: str
    connection_uri: str | None = Field(
        default=None,
        description="While live, for operators and owners: the password masked unless "
        "reveal=true and the token may reveal.",
    )


class Step(Shape):
    name: str
    state: str
    detail: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None


class JobError(Shape):
    code: str
    message: str


class Move(Shape):
    """A project move (kind `project_move`): where to, how many versions went across, and
    those that could not (label: why)."""

    to: str
    moved: int = Field(ge=0)
    not_moved: dict[str, str]


class Job(Shape):
    id: int
    project: int
    kind: Literal[tuple(JobRow.Kind.values)]  # type: ignore[valid-type]
    state: Literal[tuple(JobRow.State.values)]  # type: ignore[valid-type]
    finished: bool
    cancel_requested: bool = Field(description="An operator asked to cancel.")
    steps: list[Step]
    error: JobError | None
    version: Version | None
    preview: Preview | None
    created_at: Time | None
    started_at: Time | None
    finished_at: Time | None
    duration_ms: int | None
    url: str
    move: Move | None = Field(default=None, description="Only for a project move.")


class Share(Shape):
    id: int
    version: int
    live: bool = Field(description="Not revoked and not expired.")
    created_by: str | None
    created_at: Time | None
    expires_at: Time | None
    revoked_at: Time | None
    open_count: int
    first_opened_at: Time | None
    url: str
    path: str | None = Field(default=None, description="Only when made: /s/<token>.")
    link: str | None = Field(default=None, description="Only when made: the absolute link.")
    token: str | None = Field(default=None, description="Only when made; not stored.")
