"""`manage.py tokens create --user ada --name "CI agent" [--read-only] [--no-reveal]
[--project 3 …]`: an API token for scripts, with the same options as Settings → API tokens.

Prints the token once (only its hash is kept)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from checkpoints.services import ServiceError
from checkpoints.tokens import token_create

NO_SUCH_USER = "No user {username!r}."


class Command(BaseCommand):
    help = "Create an API token (read-only, project-scoped, or not allowed to reveal passwords)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a token; print it once.")
        create.add_argument("--user", required=True, help="Whose token it is.")
        create.add_argument("--name", required=True, help="What it is for (e.g. CI agent).")
        create.add_argument("--read-only", action="store_true", help="Refuse every write.")
        create.add_argument(
            "--no-reveal", action="store_true", help="Never show a connection string's password."
        )
        create.add_argument(
            "--project",
            type=int,
            action="append",
            default=[],
            dest="projects",
            help="Limit the token to this project (repeat for more; none: all projects).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(NO_SUCH_USER.format(username=options["user"]))
        try:
            _, raw = token_create(
                user=user,
                name=options["name"],
                read_only=options["read_only"],
                can_reveal=not options["no_reveal"],
                project_ids=options["projects"],
            )
        except ServiceError as error:
            raise CommandError(error.message) from None
        self.stdout.write(raw)
