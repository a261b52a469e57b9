"""The API's request bodies, declared once: pydantic validates each body with these models
(`api.inputs.body_as`), and the OpenAPI document's requestBody components of the same names
are generated from them (`make openapi`). The fields and their sentences: `fields.py`.
Unknown fields are refused (`api.inputs.json_body` names them before a model runs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from checkpoints.shapes.fields import (
    TABLES,
    Hours,
    Id,
    Labels,
    Moment,
    Name,
    Number,
    Prompt,
    Request,
    Script,
    Setting,
    SnapshotLimit,
    Statement,
    Table,
    Tables,
    Url,
    refuse,
)

NOT_A_MEMBER = "Not a team you belong to."
MOMENT = "An ISO 8601 date and time, e.g. 2026-05-01T10:32:05Z."
AS_OF_SQL = "A version as of a past moment applies no SQL."
AS_OF_LABELS = "A version as of a past moment takes no labels."


class ProjectCreate(Request):
    name: Name
    team: Id | None = Field(None, description="Default: personal team.")
    connection: Id | None = Field(
        None,
        description="One of the team's engine connections. Default: the team's default (per "
        "the installation: its own server, a placed server, or the shared one).",
    )

    @field_validator("team")
    @classmethod
    def _a_member(cls, team: int | None, info: ValidationInfo) -> int | None:
        """With `context={"member_of": team_id -> bool}`: only a team the caller is in."""
        member_of: Callable[[int], bool] | None = (info.context or {}).get("member_of")
        if team is not None and member_of is not None and not member_of(team):
            raise refuse(NOT_A_MEMBER)
        return team


def _prompt_or_moment(schema: dict[str, Any]) -> None:
    """A save needs a prompt; a version as of a moment (`VersionAsOf`) does not."""
    schema.pop("required", None)
    schema["anyOf"] = [{"required": ["prompt"]}, {"required": ["timestamp"]}, {"required": ["lsn"]}]


class VersionCreate(Request):
    model_config = ConfigDict(json_schema_extra=_prompt_or_moment)

    prompt: Prompt
    sql: Script | None = Field(
        None, description="Applied to the active branch first, in one transaction."
    )
    name: Name | None = None
    labels: Labels | None = None
    timestamp: (
        Annotated[Moment, WithJsonSchema({"type": "string", "format": "date-time"})] | None
    ) = Field(
        None,
        description="Save the active branch as it was at this moment of the project's history "
        "window (as Neon's `timestamp`); `sql` must then be empty and `prompt` is optional.",
    )
    lsn: (
        Annotated[
            Moment, Field(json_schema_extra={"pattern": "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"})
        ]
        | None
    ) = Field(
        None, description="Save the active branch as it was at this WAL position (as Neon's `lsn`)."
    )


def _nothing(message: str) -> AfterValidator:
    def check(value: Any) -> Any:
        if value:
            raise refuse(message)
        return None

    return AfterValidator(check)


def _moment(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise refuse(MOMENT) from None
    return value


class VersionAsOf(VersionCreate):
    """A `VersionCreate` body with `timestamp` or `lsn` (even `null`): the active branch as it
    was then; no SQL is applied, no labels kept, the prompt optional. Validation only: the
    document describes both as `VersionCreate`."""

    prompt: Prompt | None = None  # type: ignore[assignment]
    sql: Annotated[Any, _nothing(AS_OF_SQL)] = None
    labels: Annotated[Any, _nothing(AS_OF_LABELS)] = None
    timestamp: Annotated[Moment, AfterValidator(_moment)] | None = None


class VersionRename(Request):
    name: Name


class PreviewOpen(Request):
    version: Number


class ShareCreate(Request):
    version: Number
    hours: Hours | None = Field(
        None, description="When the link expires (default 24 hours, at most 7 days)."
    )


class TablesRestore(Request):
    MISSING: ClassVar[dict[str, str]] = {"tables": TABLES}

    tables: Tables = Field(
        description="Table names as the version's manifest lists them (`contacts` or "
        "`public.contacts`)."
    )
    include_dependencies: Annotated[bool, Field(strict=True)] = Field(
        False,
        description="Also restore the tables a foreign key ties to these (else such a foreign "
        "key refuses the job).",
    )


class SqlRun(Request):
    sql: Statement = Field(description="One statement.")
    #: Checked by the view (`api.sql._version`): a number, its digits as a string, or null.
    version: Annotated[Any, WithJsonSchema({"type": ["integer", "null"], "minimum": 0})] = Field(
        None,
        description="Read this version (on a read-only copy of it) instead of the live database.",
    )


class MigrationCreate(Request):
    sql: Script = Field(description="Statements run in one transaction (no BEGIN/COMMIT).")
    prompt: Prompt | None = Field(
        None, description="What it does, in words (the version's prompt when applied)."
    )


class ProjectMove(Request):
    connection: Id = Field(
        description="The id of one of the team's connections (not the one the project lives on)."
    )


class NeonAccountCreate(Request):
    name: Setting | None = None
    api_key: Setting = Field(
        description="Checked with one read call, then kept encrypted; never answered."
    )
    org_id: Setting | None = None
    api_url: Setting | None = None
    snapshot_limit: SnapshotLimit | None = None


class NeonAdopt(Request):
    project: Name
    branch: Name
    name: Name


class DatabaseImport(Request):
    name: Name
    source_url: Url = Field(
        description="postgresql:// URL of the source: used once, never kept or answered."
    )
    connection: Id | None = Field(
        None, description="One of the team's connections (default: the team's default)."
    )


class TableName(Request):
    table: Table = Field(description="`contacts` (schema `public`) or `schema.table`.")


#: The request bodies the OpenAPI document's requestBody components are generated from.
REQUESTS = (
    ProjectCreate, VersionCreate, VersionRename, PreviewOpen, ShareCreate, TablesRestore, SqlRun,
    MigrationCreate, ProjectMove, NeonAccountCreate, NeonAdopt, DatabaseImport, TableName,
)  # fmt: skip
