"""A save the agent's planted code breaks (issue 31's quiet save: dump, then load as the
project's role). A CHECK constraint's function runs for every row the load copies: it
runs as the agent, and when it fails the save, the step's SQL is undone and the job says
why, not that there was no room."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from checkpoints import services
from checkpoints.engines.connect import run_sql
from checkpoints.engines.local import archive
from checkpoints.models import Job, Version
from tests.web_fixtures import jobs_run_queued

pytestmark = pytest.mark.django_db

# Harmless while the agent writes; while a load restores the table (pg_restore empties
# the search path) it fails the row and says whose rights it has.
PLANT = """
CREATE FUNCTION planted(n text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('search_path') = '' THEN
    RAISE EXCEPTION 'planted code ran as % (session %, superuser %)',
      current_user, session_user, current_setting('is_superuser');
  END IF;
  RETURN true;
END $$;
ALTER TABLE contacts ADD CONSTRAINT planted CHECK (planted(name))
"""


def test_a_load_runs_planted_code_as_the_agent_and_its_failure_undoes_the_step(user, project):
    uri = services.project_connection_uri(project=project)
    role = conninfo_to_dict(uri)["user"]
    versions = Version.objects.count()
    # The app stays connected: the save copies from an MVCC snapshot and loads the copy.
    with psycopg.connect(uri, autocommit=True) as app:
        services.version_create(project=project, user=user, prompt="plant", sql=PLANT)
        (job,) = jobs_run_queued()
        app.close()
    assert job.state == Job.State.FAILED
    assert f"planted code ran as {role} (session {role}, superuser off)" in job.error
    assert "The live database is back at v3: nothing was saved." in job.error
    assert "room" not in job.error  # a refusal for room says so; this was no refusal
    assert Version.objects.count() == versions
    left = run_sql(uri, "SELECT count(*) FROM pg_constraint WHERE conname = 'planted'")
    assert left == [(0,)]


def test_a_tools_error_leads_its_message_whatever_follows_it():
    """What pg_restore printed when the planted function named a table the load's empty
    search path cannot see: the error first, not the query and row that follow it."""
    said = (
        'pg_restore: error: COPY failed for table "contacts": ERROR:  relation "spy" does not exist\n'
        "LINE 1: INSERT INTO spy VALUES (current_setting('application_name'),...\n"
        "                    ^\n"
        "QUERY:  INSERT INTO spy VALUES (current_setting('application_name'), current_user)\n"
        "CONTEXT:  PL/pgSQL function public.spy_check(text) line 6 at SQL statement\n"
        'COPY contacts, line 1: "' + "x" * 600 + '"\n'
        "pg_restore: error: a worker process died unexpectedly"
    )
    assert archive._errors_of(said) == (
        'COPY failed for table "contacts": ERROR:  relation "spy" does not exist'
        " · a worker process died unexpectedly"
    )
    assert archive._errors_of("could not connect\nto the server") == (
        "could not connect\nto the server"
    )
