"""Restore tables through the job (issue 27): "failed" means nothing changed, a
verification failure included; names the page offers (`a.b`, `we"ird`) restore."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import connect, run_sql
from checkpoints.lifecycle.manifest import manifest_read
from checkpoints.models import Job, Version
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_with_notes

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    project = project_with_notes(user, ("kept",))
    yield project
    engine_project_drop(project)


def _tables(uri: str) -> dict:
    with connect(uri) as conn:
        return manifest_read(conn)["tables"]


def test_a_failed_verification_leaves_the_live_tables_as_they_were(user, project):
    v2 = project.versions.get(number=2)
    manifest = v2.manifest
    assert manifest["exact"]
    manifest["tables"]["public.contacts"]["rows"] += 1  # what the restore will not find
    Version.objects.filter(pk=v2.pk).update(manifest=manifest)
    v2.refresh_from_db()
    uri = services.project_connection_uri(project=project)
    before = _tables(uri)
    services.version_tables_restore(version=v2, user=user, tables=["contacts"])
    job = [j for j in jobs_run_queued() if j.kind == Job.Kind.TABLE_RESTORE][0]
    assert job.state == Job.State.FAILED
    assert "Verification failed" in job.error and "contacts" in job.error
    assert _tables(uri) == before  # the contact added since v2 is still there
    steps = {step["name"]: step["state"] for step in job.steps}
    assert steps["verifying"] == "failed"


def test_tables_named_with_a_dot_or_a_quote_are_offered_and_restored(user, project):
    services.version_create(
        project=project,
        user=user,
        prompt="odd names",
        sql='CREATE TABLE "a.b" (id int); INSERT INTO "a.b" VALUES (1), (2);'
        'CREATE TABLE "we""ird" (id serial PRIMARY KEY, v text);'
        'INSERT INTO "we""ird" (v) VALUES (\'one\');',
    )
    jobs_run_queued()
    version = project.versions.order_by("-number").first()
    assert {"public.a.b", 'public.we"ird'} <= set(services.version_table_keys(version))
    uri = services.project_connection_uri(project=project)
    run_sql(uri, 'DELETE FROM "a.b"; DELETE FROM "we""ird"')
    # `a.b` as the MCP tool and the API name it (the label), `we"ird` by its key.
    services.version_tables_restore(version=version, user=user, tables=["a.b", 'public.we"ird'])
    job = [j for j in jobs_run_queued() if j.kind == Job.Kind.TABLE_RESTORE][0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert run_sql(uri, 'SELECT count(*) FROM "a.b"') == [(2,)]
    assert run_sql(uri, 'SELECT v FROM "we""ird"') == [("one",)]
