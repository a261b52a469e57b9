"""A live database that is gone (dropped by the agent or anyone as the engine role could)
is rebuilt from the current version by the next rollback, and by the engine's recovery."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import connect, run_sql
from checkpoints.lifecycle.manifest import manifest_read, manifests_equal
from checkpoints.models import Job
from tests.web_fixtures import jobs_run_queued

pytestmark = pytest.mark.django_db


def _drop_live(pg_server, uri: str) -> None:
    dbname = uri.rsplit("/", 1)[1].split("?", 1)[0]
    run_sql(pg_server.url("postgres"), f'DROP DATABASE "{dbname}" WITH (FORCE)')


def test_a_rollback_rebuilds_a_missing_live_database(user, project, pg_server):
    uri = services.project_connection_uri(project=project)
    _drop_live(pg_server, uri)
    v1 = project.versions.get(number=1)
    services.version_rollback(project=project, version=v1, user=user)
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
    assert run_sql(uri, "SELECT count(*) FROM contacts")[0][0] > 0


def test_recovery_rebuilds_a_missing_live_database_from_the_current_version(
    user, project, pg_server
):
    uri = services.project_connection_uri(project=project)
    current = project.current_version
    _drop_live(pg_server, uri)
    engine = services.engine_for(project=project)
    assert engine.live_database_missing(project.engine_project_id)
    # A warm-up the saves started holds the project's lock for its catalog steps: recovery
    # would skip the project while it runs (as it skips any project a live process holds).
    assert engine.warm_wait(timeout=60)
    summary = engine.recover()
    assert summary["skipped_locked"] == 0, summary
    assert not engine.live_database_missing(project.engine_project_id)
    with connect(uri) as conn:
        live = manifest_read(conn)
    assert manifests_equal(live, current.manifest)
    # The project works as before: a version saved from the rebuilt database.
    services.version_create(project=project, user=user, name="after", prompt="after the rebuild")
    job = jobs_run_queued()[0]
    assert job.state == Job.State.SUCCEEDED, job.error
