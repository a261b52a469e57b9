"""Use cases of adoption: a team takes an existing Neon project under versioning.

A team owner picks one of the account's projects and its root branch; it becomes a
Checkpoints project whose live branch is that root (its job reads what the project holds
and saves v0). The snapshots it already had are listed and can be imported as versions.
Checkpoints never deletes what it did not create: the project, and the branches and
snapshots it held when adopted, outlive cleanup, rollbacks and deletion
(engines/keep_foreign.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from checkpoints import tasks
from checkpoints.engines.errors import EngineError, EngineNotFound
from checkpoints.engines.neon.account import project_list
from checkpoints.errors import NAME_REQUIRED, ServiceError
from checkpoints.models import AgentProject, EngineConnection, Job, Version
from checkpoints.rules import permissions
from checkpoints.rules.version_rules import version_number_after
from checkpoints.servers import engine_connections

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from checkpoints.engines.neon import NeonEngine

NEON_UNREACHABLE = "Neon did not answer for “{name}”: {why}"
PROJECT_UNKNOWN = "The Neon account “{name}” has no project {id}."
BRANCH_NOT_ROOT = "Pick a root branch of the project (Neon snapshots only root branches)."
ALREADY_ADOPTED = "That Neon project is already Checkpoints project “{project}”."
SNAPSHOT_UNKNOWN = "That snapshot was not in the Neon project when it was adopted."
SNAPSHOT_IMPORTED = "That snapshot is already version {label}."
INSTALLATION_NO_ADOPT = "Only projects of a team's own Neon account can be adopted."
IMPORTED_PROMPT = "Imported from the Neon snapshot “{name}” taken before Checkpoints adopted it."


def neon_projects_adoptable(*, user: User, connection: EngineConnection) -> list[dict[str, Any]]:
    """The account's projects that no Checkpoints project holds yet, each with its root
    branches (one API call per project: a page of an owner's choosing, not a hot path)."""
    permissions.require(user, connection.team, "connections_manage")
    engine = _neon(connection)
    held = set(
        AgentProject.objects.filter(engine_name="neon").values_list("engine_project_id", flat=True)
    )
    try:
        found = [p for p in project_list(engine) if p.id not in held]
        return [
            {"project": p, "roots": [b for b in engine.branch_list(p.id) if b.is_root]}
            for p in found
        ]
    except EngineError as error:
        raise ServiceError(NEON_UNREACHABLE.format(name=connection.name, why=error)) from None


def neon_project_adopt(
    *, user: User, connection: EngineConnection, engine_project_id: str, branch_id: str, name: str
) -> Job:
    """A Checkpoints project of the Neon project `engine_project_id`, live on `branch_id`
    (a root branch); its job records what the project holds and saves v0."""
    permissions.require(user, connection.team, "connections_manage")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(NAME_REQUIRED)
    taken = AgentProject.objects.filter(
        engine_name="neon", engine_project_id=engine_project_id
    ).first()
    if taken is not None:
        raise ServiceError(ALREADY_ADOPTED.format(project=taken.name))
    engine = _neon(connection)
    try:
        branch = engine.branch_get(engine_project_id, branch_id)
    except EngineNotFound:
        raise ServiceError(
            PROJECT_UNKNOWN.format(name=connection.name, id=engine_project_id)
        ) from None
    except EngineError as error:
        raise ServiceError(NEON_UNREACHABLE.format(name=connection.name, why=error)) from None
    if not branch.is_root:
        raise ServiceError(BRANCH_NOT_ROOT)
    with transaction.atomic():
        project = AgentProject.objects.create(
            team=connection.team,
            created_by=user,
            name=name,
            connection=connection,
            engine_name="neon",
            engine_project_id=engine_project_id,
            active_branch_id=branch.id,
            # Kept from the first moment: the job fills in every branch and snapshot.
            adopted={"branches": [branch.id], "snapshots": []},
        )
        return tasks.job_enqueue(project=project, kind=Job.Kind.ADOPT_PROJECT, user=user)


def neon_snapshots_importable(*, project: AgentProject) -> list[dict[str, Any]]:
    """The snapshots the project held when adopted, each with the version it became."""
    if not project.adopted:
        return []
    versions = {v.snapshot_id: v for v in project.versions.filter(deleted_at__isnull=True)}
    return [
        {**snapshot, "version": versions.get(snapshot["id"])}
        for snapshot in project.adopted.get("snapshots", [])
    ]


@transaction.atomic
def neon_snapshot_import(*, user: User, project: AgentProject, snapshot_id: str) -> Version:
    """A version of the adopted project from one of the snapshots it already had (no
    engine call: the snapshot is Neon's, and stays Neon's)."""
    permissions.require(user, project, "version_create")
    project = AgentProject.objects.select_for_update().get(pk=project.pk)
    snapshot = next(
        (s for s in (project.adopted or {}).get("snapshots", []) if s["id"] == snapshot_id), None
    )
    if snapshot is None:
        raise ServiceError(SNAPSHOT_UNKNOWN)
    existing = project.versions.filter(deleted_at__isnull=True, snapshot_id=snapshot_id).first()
    if existing is not None:
        raise ServiceError(SNAPSHOT_IMPORTED.format(label=existing.label))
    number = version_number_after(project=project)
    names = set(project.versions.filter(deleted_at__isnull=True).values_list("name", flat=True))
    name = snapshot["name"] if snapshot["name"] not in names else f"{snapshot['name']} ({number})"
    return Version.objects.create(
        project=project,
        number=number,
        name=name[:200],
        prompt=IMPORTED_PROMPT.format(name=snapshot["name"]),
        snapshot_id=snapshot_id,
        created_by=user,
        labels={"neon_snapshot": snapshot_id},
    )


def _neon(connection: EngineConnection) -> NeonEngine:
    if connection.kind != EngineConnection.Kind.NEON:
        raise ServiceError(PROJECT_UNKNOWN.format(name=connection.name, id="(any)"))
    if (connection.options or {}).get("installation"):  # the installation's own projects
        raise ServiceError(INSTALLATION_NO_ADOPT)
    try:
        engine = engine_connections.connection_engine(connection)
    except EngineError as error:
        raise ServiceError(str(error)) from None
    return engine  # type: ignore[return-value]
