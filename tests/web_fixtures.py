"""Helpers shared by the web, service and contacts tests (plain functions, not fixtures).

Each test module wraps what it needs in small fixtures of its own.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import connection

from checkpoints import services
from checkpoints.engines import get_engine
from checkpoints.engines.connect import run_sql
from checkpoints.jobs.run import job_execute
from checkpoints.models import AgentProject, Job
from checkpoints.queue import jobs_live
from contacts import repository


def user_make(username: str = "ada", password: str = "correct-horse-battery-staple"):
    return get_user_model().objects.create_user(username=username, password=password)


def jobs_run_queued() -> list[Job]:
    """Run every queued job synchronously, as the worker would (including follow-ups)."""
    ran = []
    while True:
        job = Job.objects.filter(state=Job.State.QUEUED).order_by("pk").first()
        if job is None:
            return ran
        job_execute(job.pk)
        job.refresh_from_db()
        ran.append(job)


def project_demo(user, *, versions: int = 0) -> AgentProject:
    """A started demo project at v0, then `versions` more versions."""
    job = services.project_start_demo(user=user)
    jobs_run_queued()
    project = AgentProject.objects.get(pk=job.project_id)
    for _ in range(versions):
        services.version_create_next(project=project, user=user)
        jobs_run_queued()
        project.refresh_from_db()
    return project


def engine_project_drop(project: AgentProject) -> None:
    """Delete the engine side of a test project (the local engine's databases)."""
    project.refresh_from_db()
    if project.engine_project_id:
        try:
            get_engine(project.engine_name).project_delete(project.engine_project_id)
        except Exception:
            pass


#: Headers of a request htmx sends.
HX = {"HX-Request": "true"}


def url(name: str, *args) -> str:
    from django.urls import reverse

    return reverse(name, args=args)


def project_with_notes(user, notes: tuple[str, ...]) -> AgentProject:
    """v3 of the demo, a contact added since, and a table `notes` (holding `notes`) the
    agent made after v3: what Restore tables… is tried on."""
    project = project_demo(user, versions=3)
    uri = services.project_connection_uri(project=project)
    repository.contact_create(
        uri,
        schema=repository.schema_read(uri),
        data={"name": "Katherine Johnson", "email": "kj@example.com", "tags": ["nasa"]},
    )
    run_sql(uri, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    for body in notes:
        run_sql(uri, "INSERT INTO notes (body) VALUES (%s)", (body,))
    return project


def dead_workers_lock_gone(project) -> None:
    """Until the dead job's project lock is released. Its connection was closed as the
    job died, but the server ends that session (and drops the lock) a moment later: a
    reaper looking sooner sees a live worker's lock and rightly reaps nothing."""
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
                "AND classid = %s::oid AND objid = %s::oid",
                [jobs_live.PROJECT_LOCK, project.pk],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the dead job's project lock was never released")
