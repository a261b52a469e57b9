"""`manage.py move_project PROJECT CONNECTION`: move a project to another of its team's
connections (the same service as the page, the API and MCP), running the move here (if a
worker claimed it first, waiting for it). Without CONNECTION: the connections it may go to.

    manage.py move_project 3            # where project 3 lives and where it may go
    manage.py move_project 3 5          # move it onto connection 5 (as its creator)
    manage.py move_project 3 5 --user ada
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints import services
from checkpoints.jobs.run import job_execute
from checkpoints.models import AgentProject, Job
from checkpoints.services.project_move import move_destinations, project_move

WAIT_SECONDS = 3600


class Command(BaseCommand):
    help = "Move a project to another of its team's connections (or list where it may go)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", type=int, help="The project's id.")
        parser.add_argument("connection", nargs="?", type=int, help="The connection's id.")
        parser.add_argument("--user", help="Act as this user (default: the project's creator).")

    def handle(self, *args, project: int, connection: int | None, **options) -> None:
        found = AgentProject.objects.filter(pk=project).select_related("connection").first()
        if found is None:
            raise CommandError(f"Project {project} does not exist.")
        if connection is None:
            here = found.connection.name if found.connection else "the installation's server"
            self.stdout.write(f"Project {found.pk} lives on {here}. It may move to:")
            for choice in move_destinations(project=found):
                self.stdout.write(f"  {choice.pk}: {choice.name} [{choice.kind}] {choice.server}")
            return
        user = self._user(found, options.get("user"))
        try:
            job = project_move(project=found, user=user, connection_id=connection)
        except services.ServiceError as error:
            raise CommandError(error.message) from error
        job = self._run(job)
        self.stdout.write(
            f"Moved to {job.result['request']['to_name']}: {len(job.result['moved'])} versions "
            "went across. The connection string changed: read the new one on the project page."
        )
        for label, why in job.result.get("not_moved", {}).items():
            self.stdout.write(f"  not moved: {label}: {why}")

    def _user(self, project: AgentProject, username: str | None):
        if username is None:
            if project.created_by is None:
                raise CommandError(f"Project {project.pk} has no creator: pass --user.")
            return project.created_by
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"User {username!r} does not exist.")
        return user

    def _run(self, job: Job) -> Job:
        job_execute(job.pk)
        deadline = time.monotonic() + WAIT_SECONDS
        job.refresh_from_db()
        while not job.is_finished and time.monotonic() < deadline:
            time.sleep(0.5)
            job.refresh_from_db()
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"The move did not finish ({job.state}): {job.error}")
        return job
