"""Go back to just before a destructive statement (issue 31): on a team server that keeps
its history (WAL archive, base backups) and whose superuser installs the recorder, a
DROP TABLE, a TRUNCATE and a dropped column are each undone by `restore_before_event`
(the table back with its rows), the live state is in the automatic version, and "Undo
rollback" brings the live state back."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from checkpoints import connections, services
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.history import basebackup, wal
from checkpoints.models import Job, Version
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver import pg_bin
from checkpoints.services import events
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db

TEAM = 7
ROWS = [(1, "Ada", "ada@x"), (2, "Alan", "alan@x"), (3, "Grace", "grace@x")]


@pytest.fixture(scope="module")
def history_engine(pg_server):
    root = Path(tempfile.mkdtemp(prefix="checkpoints-events-history-"))
    url = teamservers.ensure_running(root, TEAM, fast=True)
    server = teamservers.team_server(root, TEAM, fast=True)
    history = wal.history_dir(server.data_dir)
    engine = LocalEngine(
        url,
        control_db=f"ckt_{uuid.uuid4().hex[:10]}",
        archive_dir=root / "cold",
        history_dir=history,
        reflink=False,
        superuser_url=server.url("postgres"),
    )
    try:
        assert engine.supports_point_in_time and engine.supports_statement_events
        yield engine, lambda: basebackup.take(pg_bin("pg_ctl").parent, server.url(), history)
    finally:
        engine.destroy()
        server.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def project(history_engine, monkeypatch):
    engine, backup = history_engine
    monkeypatch.setattr(connections, "engine_for", lambda *, project: engine)
    user = user_make("ada")
    job = services.project_create(user=user, name="Contacts")
    jobs_run_queued()
    project = job.project
    project.refresh_from_db()
    services.version_create(
        project=project, user=user, prompt="Contacts",
        sql="CREATE TABLE contacts (id int PRIMARY KEY, name text, email text);"
        "INSERT INTO contacts VALUES (1, 'Ada', 'ada@x'), (2, 'Alan', 'alan@x'),"
        " (3, 'Grace', 'grace@x');",
    )  # fmt: skip
    jobs_run_queued()
    project.refresh_from_db()
    backup()  # the history reaches back to here
    uri = services.project_connection_uri(project=project)
    try:
        yield user, project, uri
    finally:
        engine.project_delete(project.engine_project_id)


def contacts(uri: str) -> list[tuple]:
    return [tuple(r) for r in run_sql(uri, "SELECT * FROM contacts ORDER BY id")]


@pytest.mark.parametrize(
    ("statement", "label"),
    [
        ("DROP TABLE contacts", "DROP TABLE contacts"),
        ("TRUNCATE contacts", "TRUNCATE contacts"),
        ("ALTER TABLE contacts DROP COLUMN email", "DROP COLUMN contacts.email"),
    ],
)
def test_just_before_a_destructive_statement_brings_the_data_back(
    client, project, statement, label
):
    user, project, uri = project
    run_sql(uri, "INSERT INTO contacts VALUES (4, 'Edsger', 'ed@x')")  # after the last save
    before = contacts(uri)
    run_sql(uri, statement)
    run_sql(uri, "CREATE TABLE IF NOT EXISTS later (id int)")  # the live state goes on
    [event] = events.events_list(project=project, user=user).events
    assert event.label == label
    job = events.event_restore_before(project=project, event=event, user=user)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert contacts(uri) == before == [*ROWS, (4, "Edsger", "ed@x")]
    project.refresh_from_db()
    assert project.current_version.name == f"Just before {label}"
    client.force_login(user)
    banner = client.get(f"/projects/{project.pk}/?tab=activity").content.decode()
    assert f"Back to just before {label}" in banner and "Undo" in banner
    kept = Version.objects.get(pk=job.result["kept_version_id"])
    assert kept.automatic and kept.manifest is not None
    assert "public.later" in kept.manifest["tables"]  # the live state, as it was
    if statement.startswith("DROP TABLE"):
        assert "public.contacts" not in kept.manifest["tables"]
    # The restored database still records (and the event is still on the timeline).
    assert run_sql(uri, "SELECT to_regclass('public.later')") == [(None,)]  # made after
    run_sql(uri, "CREATE TABLE fresh (id int)")
    run_sql(uri, "TRUNCATE fresh")
    labels = [e.label for e in events.events_list(project=project, user=user).events]
    assert labels == ["TRUNCATE fresh", label]
    # Undo: the live state from before going back.
    services.rollback_undo(project=project, user=user)
    jobs_run_queued()
    assert run_sql(uri, "SELECT count(*) FROM later") == [(0,)]
    if statement.startswith("DROP TABLE"):
        assert run_sql(uri, "SELECT to_regclass('public.contacts')") == [(None,)]
