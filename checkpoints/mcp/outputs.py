"""What each MCP tool answers in `structuredContent`, published as its `outputSchema`:
the shapes every door answers (`checkpoints.shapes`), wrapped where a tool answers more
than one record (a job's outcome carries the job, and the version, preview or project it
made). The SDK validates each successful answer against these."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from checkpoints.shapes import Job, Preview, Project, ProjectList, Shape, Share, Version


class Change(Shape):
    summary: str = Field(description="What it changed in the live database, in words.")
    changes: dict[str, Any] | None


class TableChange(Shape):
    table: str
    changes: str


class JobOutcome(Shape):
    """A tool that runs a job: the job, and once it finished what it made or changed."""

    finished: bool = Field(description="false: still running; poll get_job with its id.")
    job: Job
    version: Version | None = None
    preview: Preview | None = None
    project: Project | None = None
    dropped: Change | None = Field(default=None, description="rollback_to_version")
    changed: Change | None = Field(default=None, description="undo_rollback")
    tables: list[TableChange] | None = Field(default=None, description="restore_tables")


class TeamRole(Shape):
    id: int
    name: str
    role: str


class ProjectsPage(ProjectList):
    teams: list[TeamRole] = Field(description="Your teams (create_project's team_id).")


class JobAnswer(Shape):
    job: Job


class VersionAnswer(Shape):
    version: Version


class ShareAnswer(Shape):
    share: Share


class ProjectAnswer(Shape):
    project: Project
