"""`manage.py shares create|list|revoke`: read-only share links, as on the project page.

    manage.py shares create --project 3 --version 2 --hours 24 --base-url https://ckp.example.com
    manage.py shares list --project 3 --json
    manage.py shares revoke --project 3 --share 7

The link (`/s/<token>`) is printed once, when it is made: only its hash is kept.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from checkpoints import permissions, services
from checkpoints.api.shares import share_json

# Its helpers: --user lookup and versions by number.
from checkpoints.management.commands.versions import Command as VersionsCommand
from checkpoints.models import AgentProject
from checkpoints.services import sharing

PROJECT_NOT_FOUND = "Project {project} does not exist."
SHARE_NOT_FOUND = "Project {project} has no share link {share}."


class Command(VersionsCommand):
    help = "Create, list and revoke read-only share links of a project's versions."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def action(name: str, help_text: str) -> CommandParser:
            sub = actions.add_parser(name, help=help_text)
            sub.add_argument("--project", type=int, required=True, help="The project's id.")
            sub.add_argument("--user", help="Act as this user (default: the project's creator).")
            sub.add_argument("--json", action="store_true", help="Print JSON.")
            return sub

        create = action("create", "Share a version: print its read-only link (shown once).")
        create.add_argument("--version", type=int, required=True, dest="number")
        create.add_argument(
            "--hours", type=int, default=sharing.DEFAULT_HOURS, help="Expiry, 1 to 168 (24)."
        )
        create.add_argument("--base-url", default="", help="e.g. https://ckp.example.com")
        action("list", "List the project's live share links.")
        revoke = action("revoke", "Revoke a share link at once.")
        revoke.add_argument("--share", type=int, required=True, help="The link's id (list).")

    def handle(self, *args: Any, **options: Any) -> None:
        project = AgentProject.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(PROJECT_NOT_FOUND.format(project=options["project"]))
        user = self._user(project, options["user"])
        if permissions.role_for(user, project) is None:
            raise CommandError(PROJECT_NOT_FOUND.format(project=options["project"]))
        try:
            getattr(self, f"_{options['action']}")(project, user, options)
        except services.ServiceError as error:
            raise CommandError(error.message) from None

    def _create(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        created = sharing.share_create(version=version, user=user, hours=options["hours"])
        link = options["base_url"].rstrip("/") + created.path
        if options["json"]:
            body = share_json(created.share) | {"link": link, "token": created.token}
            self.stdout.write(json.dumps(body, indent=2))
            return
        self.stdout.write(link)
        self.stderr.write(
            f"Read-only link to {version.label} until "
            f"{created.share.expires_at:%Y-%m-%d %H:%M} UTC (share {created.share.pk}). "
            "It is shown only now."
        )

    def _list(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        live = list(sharing.shares_live(project=project))
        if options["json"]:
            self.stdout.write(json.dumps({"items": [share_json(s) for s in live]}, indent=2))
            return
        for share in live:
            who = share.created_by.get_username() if share.created_by else "-"
            self.stdout.write(
                f"{share.pk}  {share.version.label}  by {who}  "
                f"expires {share.expires_at:%Y-%m-%d %H:%M} UTC  opened {share.open_count}x"
            )

    def _revoke(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        share = (
            project.shares.select_related("version", "preview", "project")
            .filter(pk=options["share"])
            .first()
        )
        if share is None:
            raise CommandError(SHARE_NOT_FOUND.format(project=project.pk, share=options["share"]))
        share = sharing.share_revoke(share=share, user=user)
        if options["json"]:
            self.stdout.write(json.dumps(share_json(share), indent=2))
        else:
            self.stdout.write(f"Revoked share link {share.pk} of {share.version.label}.")
