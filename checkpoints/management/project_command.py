"""What `manage.py versions` and `manage.py shares` share: ACTION subcommands on one
project (`--project`, `--user`, `--json`), the user's role checked like the web and the
API, refusals as `CommandError` (with `--json`, also `{"error": {"code", "message"}}` on
stdout, the API's codes), paged lists, and plain-text tables."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints import doorframe, services
from checkpoints.engines.errors import EngineError
from checkpoints.models import AgentProject, Job, Preview, ShareLink, Version
from checkpoints.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE, Page, PageInvalid, page_request
from checkpoints.refusals import (
    MAX_ID,
    Refusal,
    engine_refusal,
    preview_not_found,
    project_not_found,
    service_refusal,
    share_not_found,
    version_not_found,
)
from checkpoints.rules import permissions, selectors

USER_NOT_FOUND = "User {username!r} does not exist."
NO_USER = "Project {project} has no creator: pass --user."
PAGE_FOOTER = "{what} {first}–{last} of {count} · page {page} of {pages}"


class Refused(CommandError):
    """A refusal with the API's stable code (`checkpoints.refusals`)."""

    def __init__(self, refusal: Refusal | None = None, *, code: str = "", message: str = ""):
        super().__init__(refusal.message if refusal else message)
        self.code = refusal.code if refusal else code


class ProjectCommand(BaseCommand):
    """Subclasses declare their actions in `add_actions` and implement `_<action>`."""

    def add_actions(self, action) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def action(
            name: str, help_text: str, *, paged: bool = False, project: bool = True
        ) -> CommandParser:
            sub = actions.add_parser(name, help=help_text)
            if project:
                sub.add_argument("--project", type=int, required=True, help="The project's id.")
                sub.add_argument(
                    "--user", help="Act as this user (default: the project's creator)."
                )
            else:
                sub.add_argument("--user", required=True, help="Act as this user.")
            sub.add_argument("--json", action="store_true", help="Print JSON.")
            if paged:
                sub.add_argument("--page", default="1", help="Which page, from 1.")
                sub.add_argument(
                    "--per-page",
                    default=str(DEFAULT_PER_PAGE),
                    help=f"Items per page ({DEFAULT_PER_PAGE}, at most {MAX_PER_PAGE}).",
                )
            return sub

        self.add_actions(action)

    def handle(self, *args: Any, **options: Any) -> None:
        self.as_json = options["json"]
        try:
            self._handle(options)
        except CommandError as error:
            if self.as_json:  # a program reading --json reads its refusal as JSON too
                code = getattr(error, "code", "invalid")
                self._print_json({"error": {"code": code, "message": str(error)}})
            raise

    def _handle(self, options: dict[str, Any]) -> None:
        pk = options.get("project")
        if pk is None:  # an action on no project (create one, list them): as that user
            project, user = None, self._user(None, options["user"])
        else:
            project = AgentProject.objects.filter(pk=pk).first() if 0 <= pk <= MAX_ID else None
            user = self._user(project, options["user"]) if project is not None else None
            if project is None or permissions.role_for(user, project) is None:  # as every door
                raise Refused(project_not_found(pk))
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(project, user, options)
        except Refusal as error:
            raise Refused(error) from None
        except services.ServiceError as error:
            raise Refused(service_refusal(error)) from None
        except EngineError as error:
            raise Refused(engine_refusal(error)) from None
        except PageInvalid as error:
            raise CommandError(
                " ".join(f"--{k.replace('_', '-')}: {v}" for k, v in error.details.items())
            ) from None

    # Lookups -----------------------------------------------------------------------------

    def _user(self, project: AgentProject | None, username: str | None):
        if username is None and project is not None:
            if project.created_by is None:
                raise CommandError(NO_USER.format(project=project.pk))
            return project.created_by
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(USER_NOT_FOUND.format(username=username))
        return user

    def _version(self, project: AgentProject, number: int) -> Version:
        version = selectors.version_find(project=project, number=number)
        if version is None:
            raise Refused(version_not_found(project.pk, number))
        return version

    def _preview_of(self, project: AgentProject, pk: int) -> Preview:
        preview = selectors.preview_find(project=project, pk=pk)
        if preview is None:
            raise Refused(preview_not_found(project.pk, pk))
        return preview

    def _share_of(self, project: AgentProject, pk: int) -> ShareLink:
        share = selectors.share_find(project=project, pk=pk)
        if share is None:
            raise Refused(share_not_found(project.pk, pk))
        return share

    # Output ------------------------------------------------------------------------------

    def _page_request(self, options: dict[str, Any]):
        return page_request({"page": options["page"], "per_page": options["per_page"]})

    def _print_page_json(self, page: Page) -> None:
        """A page as every door answers one (`--json`)."""
        self._print_json(doorframe.page_answer(page))

    def _print_page_footer(self, what: str, page: Page) -> None:
        """Where the page stands, after the table; nothing when the list fits one page."""
        if page.pages == 1 and page.number == 1:
            return
        last = page.first_index + len(page.items) - 1 if page.items else 0
        footer = PAGE_FOOTER.format(
            what=what,
            first=page.first_index,
            last=last,
            count=page.count,
            page=page.number,
            pages=page.pages,
        )
        if page.next_number:
            footer += f" (--page {page.next_number} for more)"
        self.stdout.write(footer)

    def _job_json(self, job: Job, user) -> bool:
        """With `--json`, print the job as the API and MCP answer it (True: printed)."""
        if self.as_json:
            self._print_json(doorframe.job_answer(job, user=user, token=None))
        return self.as_json

    def _diff_print(self, answer: dict[str, Any], lead: str) -> None:
        if self.as_json:
            self._print_json(answer)
            return
        self.stdout.write(f"{lead} {answer['summary']}.")
        rows = [
            (t, ", ".join(f"{k} {v}" for k, v in c.items())) for t, c in answer["tables"].items()
        ]
        if rows:
            self._print_table(("table", "change"), rows)

    def _print_json(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, indent=2))

    def _print_table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        widths = [
            max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)
        ]
        for row in (header, *rows):
            self.stdout.write(
                "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
