"""`manage.py end_sessions PROJECT_ID`: end every open session of a project's role.

What an operator does when the agent's session holds a lock that stops a job (the job's
failure says "`contacts` is locked by a session of this project since …"). The
connection string stays the same. Recorded in the Activity log.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints import services
from checkpoints.models import AgentProject


class Command(BaseCommand):
    help = "End every open database session of a project's role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", type=int, help="The project's id.")

    def handle(self, *args, project: int, **options) -> None:
        found = AgentProject.objects.filter(pk=project).first()
        if found is None:
            raise CommandError(f"Project {project} does not exist.")
        try:
            count = services.project_sessions_end(project=found, user=None)
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Ended {count} session(s).")
