"""The history window through the app: a version as of a past moment saved by the job
(its manifest and rows are then's, and a rollback brings them back), the moments the
use case refuses, and the upkeep that takes base backups and trims the history."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from checkpoints import connections, services
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local.history import basebackup, retention, wal
from checkpoints.jobs.history import history_maintain
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import Activity, AgentProject, EngineConnection, Job
from checkpoints.services import history as history_service
from tests.history_server import history_server
from tests.web_fixtures import HX, jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def history():
    with history_server() as made:
        yield made


@pytest.fixture(scope="module")
def module_engine(history):
    engine = history.engine()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def engine(module_engine, monkeypatch):
    monkeypatch.setattr(connections, "engine_for", lambda *, project: module_engine)
    return module_engine


def local_project(engine, user) -> AgentProject:
    created = engine.project_create(name="history")
    return AgentProject.objects.create(
        team=services.team_personal_for(user=user),
        created_by=user,
        name="History",
        engine_name="local",
        engine_project_id=created.project.id,
        active_branch_id=created.branch.id,
        endpoint_id=created.endpoint.id,
    )


def rows(uri: str) -> list[tuple]:
    return [tuple(r) for r in run_sql(uri, "SELECT * FROM contacts ORDER BY id")]


def test_a_version_as_of_a_past_moment_holds_then_s_manifest_and_rows(engine):
    user = user_make("ada")
    project = local_project(engine, user)
    uri = engine.connection_uri(project.engine_project_id)
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL)")
    run_sql(uri, "INSERT INTO contacts SELECT i, 'contact ' || i FROM generate_series(1, 30) i")
    then = manifests.manifest_required(uri)
    then_rows, moment = rows(uri), run_sql(uri, "SELECT clock_timestamp()")[0][0]
    run_sql(uri, "ALTER TABLE contacts ADD COLUMN email text")
    run_sql(uri, "DELETE FROM contacts WHERE id > 3")

    history_service.version_create_as_of(
        project=project, user=user, timestamp=moment, name="before the delete"
    )
    [job] = [j for j in jobs_run_queued() if j.kind == Job.Kind.CREATE_VERSION]
    assert job.state == Job.State.SUCCEEDED, job.error
    version = project.versions.get()
    assert version.name == "before the delete" and version.prompt.startswith("Saved as of")
    assert version.manifest["tables"] == then["tables"]

    services.version_rollback(project=project, version=version, user=user)
    [rollback] = [j for j in jobs_run_queued() if j.kind == Job.Kind.ROLLBACK]
    assert rollback.state == Job.State.SUCCEEDED, rollback.error
    assert rows(uri) == then_rows
    assert manifests.manifest_required(uri)["tables"] == then["tables"]


def test_moments_the_use_case_refuses(engine):
    user = user_make("grace")
    project = local_project(engine, user)
    now = timezone.now()
    for kwargs, message in [
        ({"timestamp": now + timedelta(minutes=1)}, "in the past"),
        ({"timestamp": now - timedelta(hours=25)}, "outside this project's history window"),
        ({"lsn": "not an lsn"}, "An LSN looks like"),
        ({"timestamp": now - timedelta(minutes=1), "lsn": "0/1"}, "Give one moment"),
    ]:
        with pytest.raises(services.ServiceError, match=message):
            history_service.version_create_as_of(project=project, user=user, **kwargs)
    project.history_hours = 48
    project.save()
    job = history_service.version_create_as_of(
        project=project, user=user, timestamp=now - timedelta(hours=25)
    )
    assert job.result["request"]["as_of"]["timestamp"].startswith(
        (now - timedelta(hours=25)).isoformat()[:16]
    )


def test_the_upkeep_backs_up_when_due_and_trims_what_no_window_needs(history, settings):
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = history.root
    first = basebackup.backups(history.dir)[0]
    [kept] = history_maintain().values()  # a backup is not due yet: nothing changes
    assert kept.backups == len(basebackup.backups(history.dir)) and kept.oldest
    later = timezone.now() + basebackup.FULL_EVERY
    newest = basebackup.take(history.bin, history.server.url(), history.dir, now=later)
    assert newest.full  # a day after the first full, the next one is full again
    assert wal.segments(history.dir)[0] <= first.start_segment
    retention.trim(history.bin, history.dir, keep_since=newest.finished_at, budget=None)
    assert basebackup.backups(history.dir) == [newest]
    assert wal.segments(history.dir)[0] == newest.start_segment
    assert retention.storage(history.dir).oldest == newest.finished_at


def test_the_page_offers_recent_moments_shows_the_history_and_sets_the_window(
    engine, history, client, settings
):
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = history.root
    user = user_make("hopper")
    project = local_project(engine, user)
    team_folder = history.root / str(project.team_id)
    linked = not team_folder.exists()
    if linked:  # the project's team server is the module's
        team_folder.symlink_to(history.root / "1")
    try:
        project.connection = EngineConnection.objects.create(
            team=project.team, kind=EngineConnection.Kind.EMBEDDED, name="embedded"
        )
        project.save()
        uri = engine.connection_uri(project.engine_project_id)
        run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL)")
        run_sql(uri, "INSERT INTO contacts VALUES (1, 'Ada')")
        services.version_create(project=project, user=user, prompt="contacts", sql=None)
        jobs_run_queued()  # a first version: the page shows its lifecycle card
        Activity.objects.create(project=project, kind=Activity.Kind.CREATE, detail="the drop")
        run_sql(uri, "DROP TABLE contacts")
        client.force_login(user)

        page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
        assert "Save a version as of" in page and "history-hours" in page
        [picked] = re.findall(r'<option value="([^"]+)">the drop', page)
        holdings = client.get(reverse("project-holdings", args=[project.pk])).content.decode()
        assert "History window: 24 h" in holdings and "WAL archive" in holdings

        client.post(reverse("version-create-as-of", args=[project.pk]), {"as_of_pick": picked})
        [job] = [j for j in jobs_run_queued() if j.kind == Job.Kind.CREATE_VERSION]
        assert job.state == Job.State.SUCCEEDED, job.error
        as_of = project.versions.order_by("number").last()
        [(table, held)] = as_of.manifest["tables"].items()  # the table the drop took
        assert "contacts" in table and held["rows"] == 1

        client.post(
            reverse("project-history-window", args=[project.pk]), {"hours": "48", "budget_mb": ""}
        )
        project.refresh_from_db()
        assert (project.history_hours, project.history_budget_mb) == (48, None)
        refused = client.post(
            reverse("project-history-window", args=[project.pk]), {"hours": "0"}, headers=HX
        )
        assert refused.status_code == 400 and "1 to 8760 hours" in refused.content.decode()
    finally:
        if linked:
            team_folder.unlink()


def test_the_command_line_saves_a_version_as_of_a_moment(engine):
    user = user_make("turing")
    project = local_project(engine, user)
    uri = engine.connection_uri(project.engine_project_id)
    run_sql(uri, "CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL)")
    moment = run_sql(uri, "SELECT clock_timestamp()")[0][0]
    run_sql(uri, "DROP TABLE contacts")
    out = io.StringIO()
    call_command(
        "versions", "create", "--project", str(project.pk), "--timestamp", moment.isoformat(),
        "--json", stdout=out,
    )  # fmt: skip
    version = project.versions.get()
    assert version.prompt.startswith("Saved as of") and '"number"' in out.getvalue()
    [(table, held)] = version.manifest["tables"].items()
    assert "contacts" in table and held["rows"] == 0
