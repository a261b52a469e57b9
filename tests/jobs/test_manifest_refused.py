"""A version is never saved without its manifest (issue 27): when the live database's
tables cannot be read, the save is refused with the reason and nothing is recorded."""

from __future__ import annotations

import pytest

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.models import Job, Version
from tests.web_fixtures import jobs_run_queued

pytestmark = pytest.mark.django_db

# The agent's own table that no read can count: a forced policy that raises.
UNREADABLE = """
CREATE TABLE trap (id int); INSERT INTO trap VALUES (1);
CREATE FUNCTION boom() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'no reading me'; END $$;
ALTER TABLE trap ENABLE ROW LEVEL SECURITY; ALTER TABLE trap FORCE ROW LEVEL SECURITY;
CREATE POLICY unreadable ON trap USING (boom());
"""


def test_a_version_whose_tables_cannot_be_read_is_refused_not_saved_blind(user, project):
    uri = services.project_connection_uri(project=project)
    run_sql(uri, UNREADABLE)
    versions = Version.objects.count()
    engine = services.engine_for(project=project)
    snapshots = len(engine.snapshot_list(project.engine_project_id))
    services.version_create(project=project, user=user, prompt="after the trap")
    job = jobs_run_queued()[0]
    assert job.state == Job.State.FAILED
    assert "was not saved" in job.error and "no reading me" in job.error
    assert job.result["error_code"] == "snapshot_refused"
    assert Version.objects.count() == versions
    assert len(engine.snapshot_list(project.engine_project_id)) == snapshots
    assert Version.objects.filter(manifest__isnull=True).count() == 0
