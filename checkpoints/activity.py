"""The Activity log's one writer: who did what to which version, how long it took."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoints.models import Activity, AgentProject, Version

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def activity_record(
    *,
    project: AgentProject,
    actor: AbstractBaseUser | None,
    kind: str,
    from_version: Version | None = None,
    to_version: Version | None = None,
    operation_ids: list[str] | None = None,
    duration_ms: int | None = None,
    detail: str = "",
) -> Activity:
    return Activity.objects.create(
        project=project,
        actor=actor,
        kind=kind,
        from_version=from_version,
        to_version=to_version,
        operation_ids=operation_ids or [],
        duration_ms=duration_ms,
        detail=detail,
    )
