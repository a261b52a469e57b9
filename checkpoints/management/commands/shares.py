"""`manage.py shares create|list|revoke`: read-only share links, as on the project page.

    manage.py shares create --project 3 --version 2 --hours 24 --base-url https://ckp.example.com
    manage.py shares list --project 3 --json --page 2
    manage.py shares revoke --project 3 --share 7

The link (`/s/<token>`) is printed once, when it is made: only its hash is kept.
"""

from __future__ import annotations

from typing import Any

from checkpoints import doorframe
from checkpoints.management.project_command import ProjectCommand
from checkpoints.models import AgentProject
from checkpoints.paging import page_of
from checkpoints.serialize import share_json
from checkpoints.services import sharing


class Command(ProjectCommand):
    help = "Create, list and revoke read-only share links of a project's versions."

    def add_actions(self, action) -> None:
        create = action("create", "Share a version: print its read-only link (shown once).")
        create.add_argument("--version", type=int, required=True, dest="number")
        create.add_argument(
            "--hours", type=int, default=sharing.DEFAULT_HOURS, help="Expiry, 1 to 168 (24)."
        )
        create.add_argument("--base-url", default="", help="e.g. https://ckp.example.com")
        action("list", "List the project's live share links, newest first.", paged=True)
        revoke = action("revoke", "Revoke a share link at once.")
        revoke.add_argument("--share", type=int, required=True, help="The link's id (list).")

    def _create(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        version = self._version(project, options["number"])
        created = sharing.share_create(version=version, user=user, hours=options["hours"])
        link = options["base_url"].rstrip("/") + created.path
        if self.as_json:
            self._print_json(doorframe.share_created(created, link=link))
            return
        self.stdout.write(link)
        self.stderr.write(
            f"Read-only link to {version.label} until "
            f"{created.share.expires_at:%Y-%m-%d %H:%M} UTC (share {created.share.pk}). "
            "It is shown only now."
        )

    def _list(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        live = sharing.shares_live(project=project).order_by("-created_at", "-pk")
        asked = self._page_request(options)
        if self.as_json:
            self._print_page_json(page_of(live, asked, share_json))
            return
        page = page_of(live, asked)
        for share in page.items:
            who = share.created_by.get_username() if share.created_by else "-"
            self.stdout.write(
                f"{share.pk}  {share.version.label}  by {who}  "
                f"expires {share.expires_at:%Y-%m-%d %H:%M} UTC  opened {share.open_count}x"
            )
        self._print_page_footer("share links", page)

    def _revoke(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        share = sharing.share_revoke(share=self._share_of(project, options["share"]), user=user)
        if self.as_json:
            self._print_json(share_json(share))
        else:
            self.stdout.write(f"Revoked share link {share.pk} of {share.version.label}.")
