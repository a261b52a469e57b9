"""`manage.py rotate_password PROJECT_ID`: a new password for a project's connection string.

The old password stops working at once and the role's open sessions end; the connection
string changes in its password only (print it with `--show`). Recorded in the Activity log.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints import services
from checkpoints.engines.base import mask_password
from checkpoints.errors import PROJECT_NOT_FOUND
from checkpoints.models import AgentProject


class Command(BaseCommand):
    help = "Rotate the password of a project's connection string."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", type=int, help="The project's id.")
        parser.add_argument(
            "--show", action="store_true", help="Print the new connection string unmasked."
        )

    def handle(self, *args, project: int, show: bool = False, **options) -> None:
        found = AgentProject.objects.filter(pk=project).first()
        if found is None:
            raise CommandError(PROJECT_NOT_FOUND.format(id=project))
        try:
            services.project_password_rotate(project=found, user=None)
            uri = services.project_connection_uri(project=found)
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Rotated. Connection string: {uri if show else mask_password(uri)}")
