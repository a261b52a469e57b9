"""What every door answers beside the records: a diff, a plan, a connection string, a
page of records, a refusal."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from checkpoints.shapes.records import (
    ERROR_CODES,
    Count,
    Job,
    Preview,
    Project,
    Shape,
    Share,
    Version,
)


class Diff(Shape):
    from_: int = Field(alias="from")
    to: int
    summary: str = Field(description="e.g. “drops columns role, tags”")
    tables_added: list[str]
    tables_removed: list[str]
    tables: dict[str, dict[str, Any]] = Field(
        description="Per changed table: columns_added, columns_removed, columns_changed "
        "({column: [old type, new type]}), rows_added, rows_removed, rows_changed."
    )
    empty: bool

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def answer(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class Plan(Shape):
    version: int = Field(description="The version a rollback would go to.")
    current_version: int | None
    summary: str = Field(description="What it would change, e.g. “drops table tags”")
    tables_added: list[str]
    tables_removed: list[str]
    tables: dict[str, dict[str, Any]]
    empty: bool


class Connection(Shape):
    project: int
    connection_uri: str = Field(description="The password is `********` unless reveal=true.")
    masked: bool


class Page(Shape):
    count: Count = Field(description="Items in the whole list.")
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=100)
    pages: int = Field(ge=1)
    next_page: int | None = Field(description="The page to ask for next (null: the last).")
    previous_page: int | None
    next: str | None = Field(default=None, description="API: the next page's URL.")
    previous: str | None = Field(default=None, description="API: the previous page's URL.")


class ProjectList(Page):
    items: list[Project]


class VersionList(Page):
    items: list[Version]


class PreviewList(Page):
    items: list[Preview]


class ShareList(Page):
    items: list[Share]


class Error(Shape):
    code: Literal[ERROR_CODES]  # type: ignore[valid-type]
    message: str
    details: dict[str, str] | None = None
    job_id: int | None = None
    job: Job | None = None
    migration: (
        Annotated[dict[str, Any], WithJsonSchema({"$ref": "#/components/schemas/Migration"})] | None
    ) = None
    retry_after: int | None = Field(
        default=None, ge=1, description="With `busy`: seconds to wait (also `Retry-After`)."
    )
