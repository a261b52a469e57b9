"""Which engine serves a project, and the connection strings of a project or a preview.

Callers use `connections.engine_for(...)` through the module, so a test can replace it
(`monkeypatch.setattr(connections, "engine_for", ...)`) to inject a failing engine."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.utils import timezone

from checkpoints.engines import get_engine
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineError
from checkpoints.engines.keep_foreign import KeepForeign
from checkpoints.errors import NOT_STARTED, PREVIEW_GONE, ServiceError
from checkpoints.models import AgentProject, Preview
from checkpoints.servers import engine_connections


def engine_for(*, project: AgentProject) -> Engine:
    """The engine serving `project`, shared per process: do not close it. A project on an
    engine connection (its team's server, an external one, a Neon account) gets that
    connection's; one without, the installation's own."""
    if project.connection_id is not None:
        engine = engine_connections.connection_engine(project.connection)
    else:
        engine = get_engine(project.engine_name or None)
    if project.adopted is not None and project.engine_project_id:
        return cast(
            Engine,
            KeepForeign(
                engine,
                project_id=project.engine_project_id,
                branches=project.adopted.get("branches", []),
                snapshots=[s["id"] for s in project.adopted.get("snapshots", [])],
            ),
        )
    return engine


def engine_default_name() -> str:
    return settings.CHECKPOINTS_ENGINE


def project_connection_uri(*, project: AgentProject) -> str:
    """The stable connection string of the active branch. Contains a password: never render.

    Read from the metadata database (no engine call): the jobs that create or change it
    store it. Only a project saved before connection strings were stored asks the engine,
    once (`connections_refresh`)."""
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    if not project.connection_uri:
        connections_refresh(project=project)
    return project.connection_uri


def preview_connection_uri(*, preview: Preview) -> str:
    """The preview branch's own connection string. Contains a password: never render.

    Stored when the preview opened (no engine call), like the project's."""
    if not preview.is_live:
        raise ServiceError(PREVIEW_GONE)
    if not preview.connection_uri:
        connections_refresh(project=preview.project)
        preview.refresh_from_db(fields=["connection_uri"])
    return preview.connection_uri


def connections_refresh(*, project: AgentProject, engine: Engine | None = None) -> str:
    """Read the connection strings of the active branch and of every live preview from the
    engine and store them; return the active branch's.

    The one place that refreshes stored connection strings: call it from any job that
    changes them (a new project, a rollback, a password rotation). It asks the engine, so
    call it from a job, never from a page."""
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    engine = engine or engine_for(project=project)
    uri = engine.connection_uri(project.engine_project_id)
    if uri != project.connection_uri:
        project.connection_uri = uri
        AgentProject.objects.filter(pk=project.pk).update(connection_uri=uri)
    previews = project.previews.filter(discarded_at__isnull=True, expires_at__gt=timezone.now())
    for preview in previews:
        try:
            preview_uri = engine.connection_uri(
                project.engine_project_id, branch_id=preview.branch_id
            )
        except EngineError:  # its branch is gone: cleanup discards it
            continue
        if preview_uri != preview.connection_uri:
            Preview.objects.filter(pk=preview.pk).update(connection_uri=preview_uri)
    return uri


def live_uri(*, project: AgentProject, engine: Engine) -> str:
    """The active branch's connection string from the engine, stored if it changed."""
    uri = engine.connection_uri(project.engine_project_id)
    if uri != project.connection_uri:
        project.connection_uri = uri
        AgentProject.objects.filter(pk=project.pk).update(connection_uri=uri)
    return uri
