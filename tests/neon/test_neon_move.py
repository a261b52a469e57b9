"""Moving a project from the local engine to the team's Neon account (the emulator over
real HTTP, real databases behind it) and back: every version goes across and is checked
against its manifest on each side, the live data too; the connection string changes once
and the project page says so; Neon's snapshot limit, a keyless account and an adopted
project's own objects are respected."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkpoints import services
from checkpoints.engines.errors import EngineNotFound
from checkpoints.errors import ServiceError
from checkpoints.jobs.checks import verify_version
from checkpoints.jobs.move_parts import move_leftovers_clean
from checkpoints.models import AgentProject, EngineConnection, Job
from checkpoints.services import neon_accounts, neon_adopt
from checkpoints.services.project_move import project_move
from checkpoints.services.team_connections import connection_create_postgres
from checkpoints.signals import team_personal_for
from contacts import repository
from tests.neon.conftest import KEY_A, neon_engine, raw_project
from tests.postgres_plugin import engine_url
from tests.web_fixtures import jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(emulator):
    """Ada's team with two connections: the local engine's server (her default) and her
    Neon account on the emulator."""
    ada = user_make("ada-move")
    team = team_personal_for(user=ada)
    local = connection_create_postgres(
        user=ada, team=team, name="Local", url=engine_url(), default=True
    )
    neon = neon_accounts.neon_account_add(
        user=ada, team=team, name="Neon A", api_key=KEY_A, api_url=emulator.url
    )
    return ada, local, neon


def moved(project: AgentProject, user, to: EngineConnection) -> Job:
    job = project_move(project=project, user=user, connection_id=to.pk)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    project.refresh_from_db()
    assert project.connection == to
    return job


def every_version_verified(project: AgentProject, user) -> None:
    """Each version opened as a preview where the project lives, checked against its
    manifest (tables, columns, row counts, row checksums)."""
    for version in project.versions.filter(deleted_at__isnull=True):
        services.preview_open(project=project, version=version, user=user)
        ran = jobs_run_queued()
        assert [job.state for job in ran] == [Job.State.SUCCEEDED], [job.error for job in ran]
        verify_version(
            project.previews.filter(version=version).latest("pk").connection_uri, version
        )


def emails(project: AgentProject) -> set[str]:
    return {c.email for c in repository.contacts_list(project.connection_uri)[1]}


def test_a_project_moves_local_to_neon_and_back_whole(team, emulator, client):
    ada, local, neon = team
    project = project_demo(ada, versions=2)  # v0, v1, v2
    assert project.connection == local
    uri = services.project_connection_uri(project=project)
    schema = repository.schema_read(uri)
    repository.contact_create(uri, schema=schema, data={"name": "Dot", "email": "dv@x.org"})
    local_uri = project.connection_uri

    job = moved(project, ada, neon)
    assert job.result["not_moved"] == {} and len(job.result["moved"]) == 3
    assert project.engine_name == "neon" and project.connection_uri != local_uri
    neon_pid = project.engine_project_id
    with neon_engine(emulator, KEY_A) as engine:
        branches = engine.branch_list(neon_pid)
        held = {s.id for s in engine.snapshot_list(neon_pid)}
    assert held == {v.snapshot_id for v in project.versions.all()}  # no reset point left
    # Neon snapshots only root branches: the live one is a root, no move branch is left.
    assert [(b.id, b.parent_id) for b in branches] == [(project.active_branch_id, None)]
    client.force_login(ada)  # the page says the string changed, once, right after the move
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert page.count("Moved to Neon A: the connection string changed.") == 1
    assert "3 versions went across" in page
    assert "dv@x.org" in emails(project)
    # Each version is opened from its Neon snapshot on the way back and checked against its
    # manifest by the move (a mismatch would leave it not moved), then once more here.
    back = moved(project, ada, local)
    assert back.result["not_moved"] == {} and len(back.result["moved"]) == 3
    assert project.engine_name == "local" and "dv@x.org" in emails(project)
    every_version_verified(project, ada)
    with neon_engine(emulator, KEY_A) as engine, pytest.raises(EngineNotFound):
        engine.project_get(neon_pid)  # nothing of the project left in the account


def test_neon_limit_and_a_keyless_account(team, emulator):
    ada, local, neon = team
    project = project_demo(ada, versions=2)
    keyless = EngineConnection.objects.create(
        team=local.team, kind=EngineConnection.Kind.NEON, name="Old key", options={}
    )
    with pytest.raises(ServiceError, match="Cannot move through “Old key”: .*key was removed"):
        project_move(project=project, user=ada, connection_id=keyless.pk)
    assert not project.jobs.filter(kind=Job.Kind.PROJECT_MOVE).exists()

    neon_accounts.neon_account_limit_set(user=ada, connection=neon, limit=2)
    job = moved(project, ada, neon)
    # Two snapshots per project: the move holds one while it works, so the newest goes.
    assert list(job.result["not_moved"]) == ["v0", "v1"]
    assert "beyond the 2 manual snapshots per project of Neon A" in job.result["not_moved"]["v0"]
    [kept] = project.versions.filter(deleted_at__isnull=True)
    assert kept.number == 2 and project.current_version == kept
    assert project.versions.get(number=0).deleted_reason.startswith("not moved to Neon A")
    every_version_verified(project, ada)


def test_an_adopted_project_moves_to_local_and_its_neon_project_stays(team, emulator):
    ada, local, neon = team
    created = raw_project(emulator, KEY_A, "console-made")
    pid, root = created.project.id, created.branch.id
    adopt = neon_adopt.neon_project_adopt(
        user=ada, connection=neon, engine_project_id=pid, branch_id=root, name="Adopted"
    )
    jobs_run_queued()
    project = AgentProject.objects.get(pk=adopt.project_id)
    assert project.adopted is not None

    job = moved(project, ada, local)
    assert len(job.result["moved"]) == 1 and job.result["from_adopted"] is True
    assert project.adopted is None and project.engine_name == "local"
    every_version_verified(project, ada)
    # Were the worker killed right after the switch, the next move's cleanup keeps it too.
    Job.objects.filter(pk=job.pk).update(result={**job.result, "leftovers_cleaned": False})
    assert move_leftovers_clean(project) == 0
    with neon_engine(emulator, KEY_A) as engine:
        assert engine.project_get(pid).id == pid
        assert root in {b.id for b in engine.branch_list(pid)}
