"""Moving a project between its team's connections: from the team's embedded server to an
external PostgreSQL server (a second server started here plays it) every version goes
across and is checked against its manifest there, the live data with the agent's unsaved
row too, and the connection string changes once. A worker that dies midway leaves the
project whole where it was, and the next move removes what the dead one left."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.utils import timezone
from psycopg.conninfo import conninfo_to_dict

from checkpoints import services
from checkpoints.engines import reset_engines
from checkpoints.engines.errors import EngineNotFound
from checkpoints.jobs import project_move as move_job
from checkpoints.jobs.checks import verify_version
from checkpoints.jobs.run import job_execute
from checkpoints.models import AgentProject, EngineConnection, Job, Team
from checkpoints.queue import job_reaper
from checkpoints.servers import pgroles, teamservers
from checkpoints.servers.pgserver import EmbeddedPostgres
from checkpoints.services.project_move import MOVE_SAME, MOVE_UNKNOWN, project_move
from checkpoints.services.team_connections import connection_create_postgres
from contacts import repository
from tests.web_fixtures import dead_workers_lock_gone, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def places() -> Iterator[tuple[Path, EmbeddedPostgres]]:
    """The team servers' folder and a second server that plays the external one."""
    root = Path(tempfile.mkdtemp(prefix="checkpoints-move-"))
    external = EmbeddedPostgres(root / "external", fast=True)
    external.start()
    pgroles.ensure_roles(external, None)
    yield root / "teams", external
    reset_engines()
    teamservers.stop_all(root / "teams", mode="immediate")
    external.stop(mode="immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def setup(request, settings, places):
    """Ada's demo project (v0–v3, unless the test asks for fewer) on her team's server,
    a row she wrote since, and the external server as a connection of her team."""
    settings.CHECKPOINTS_SERVERS = "per-team"
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = places[0]
    settings.CHECKPOINTS_TEAM_SERVERS_FAST = True
    ada = user_make("ada")
    project = project_demo(ada, versions=getattr(request, "param", 3))
    uri = services.project_connection_uri(project=project)
    repository.contact_create(
        uri, schema=repository.schema_read(uri), data={"name": "Dorothy", "email": "dv@x.org"}
    )
    team = Team.objects.get(personal_for=ada)
    url = pgroles.engine_url(places[1].data_dir)
    external = connection_create_postgres(user=ada, team=team, name="Big box", url=url)
    return ada, project, external, places[1]


def port_of(uri: str) -> int:
    return int(conninfo_to_dict(uri)["port"])


def every_version_verified(project: AgentProject, user) -> None:
    """Open each version as a preview on wherever the project lives and check it against
    its manifest (tables, columns, row counts, row checksums)."""
    for version in project.versions.filter(deleted_at__isnull=True):
        services.preview_open(project=project, version=version, user=user)
        ran = jobs_run_queued()
        assert [job.state for job in ran] == [Job.State.SUCCEEDED], [job.error for job in ran]
        preview = project.previews.filter(version=version).latest("created_at")
        assert port_of(preview.connection_uri) == port_of(project.connection_uri)
        verify_version(preview.connection_uri, version)


def test_a_project_moves_from_its_team_server_to_an_external_one(setup):
    ada, project, external, server = setup
    old_uri, old_port = project.connection_uri, port_of(project.connection_uri)
    snapshots = dict(project.versions.values_list("number", "snapshot_id"))
    with pytest.raises(services.ServiceError, match="already lives"):
        project_move(project=project, user=ada, connection_id=project.connection_id)
    with pytest.raises(services.ServiceError, match="no such connection"):
        project_move(project=project, user=ada, connection_id=external.pk + 999)
    assert MOVE_SAME and MOVE_UNKNOWN

    job = project_move(project=project, user=ada, connection_id=external.pk)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.result["not_moved"] == {} and len(job.result["moved"]) == 4
    project.refresh_from_db()
    assert project.connection == external and project.engine_name == "local"
    assert port_of(project.connection_uri) == server.config.port != old_port
    assert project.current_version.number == 3
    assert all(snapshots[v.number] != v.snapshot_id for v in project.versions.all())
    engine = services.engine_for(project=project)
    held = {s.id for s in engine.snapshot_list(project.engine_project_id)}
    assert held == {v.snapshot_id for v in project.versions.all()}  # no reset point left
    # The live data, with the row the agent wrote after v3, is there.
    emails = {c.email for c in repository.contacts_list(project.connection_uri)[1]}
    assert "dv@x.org" in emails and repository.schema_read(project.connection_uri).variant == 3
    with pytest.raises(psycopg.OperationalError):  # the old one is gone with its project
        psycopg.connect(old_uri, connect_timeout=5).close()
    every_version_verified(project, ada)
    # A rollback and a new version work where it lives now.
    services.version_rollback(project=project, version=project.versions.get(number=1), user=ada)
    assert [j.state for j in jobs_run_queued()] == [Job.State.SUCCEEDED]
    activity = project.activities.filter(kind="move").get()
    assert "Moved to Big box: 4 versions went across" in activity.detail
    assert "changed" in activity.detail


class Died(BaseException):
    """The worker process is gone from here on (no handler of the job runs)."""


def test_a_move_killed_midway_leaves_the_project_whole_where_it_was(setup, monkeypatch):
    ada, project, external, _ = setup
    before = (project.connection_id, project.connection_uri, project.engine_project_id)
    snapshots = dict(project.versions.values_list("number", "snapshot_id"))
    copies = []
    real_copy = move_job.database_copy

    def copy_then_die(source, target):
        copies.append(target)
        if len(copies) == 3:  # v0 and v1 went across, the worker dies during v2
            raise Died
        real_copy(source, target)

    job = project_move(project=project, user=ada, connection_id=external.pk)
    with monkeypatch.context() as patch:
        patch.setattr(move_job, "database_copy", copy_then_die)
        with pytest.raises(Died):
            job_execute(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    dead_workers_lock_gone(project)
    assert job_reaper.jobs_fail_stale(project=project) == 1

    project.refresh_from_db()
    assert (project.connection_id, project.connection_uri, project.engine_project_id) == before
    assert dict(project.versions.values_list("number", "snapshot_id")) == snapshots
    emails = {c.email for c in repository.contacts_list(project.connection_uri)[1]}
    assert "dv@x.org" in emails
    engine = services.engine_for(project=project)
    held = {s.id for s in engine.snapshot_list(project.engine_project_id)}
    assert set(snapshots.values()) <= held
    left_behind = Job.objects.get(pk=job.pk).result["move_to_project"]
    destination = services.engine_for(project=AgentProject(connection=external))
    assert destination.project_get(left_behind)  # the dead move's half-made project

    # The next move removes it first, then moves the project whole.
    again = project_move(project=project, user=ada, connection_id=external.pk)
    jobs_run_queued()
    again.refresh_from_db()
    assert again.state == Job.State.SUCCEEDED, again.error
    assert again.steps[0]["detail"] == "1 removed"
    with pytest.raises(EngineNotFound):
        destination.project_get(left_behind)
    # Every version of the source went across whole: each checked against its manifest.
    assert again.result["not_moved"] == {} and len(again.result["moved"]) == 4
    project.refresh_from_db()
    assert project.connection == external
    assert project.connection.kind == EngineConnection.Kind.POSTGRES
