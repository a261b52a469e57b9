"""`manage.py events list|restore-before|protected|protect|unprotect`: destructive
statements the engine recorded, going back to just before one, and protected tables.

    manage.py events list --project 3 --json
    manage.py events restore-before --project 3 --event 12   # live state kept, undoable
    manage.py events protect --project 3 --table contacts
    manage.py events unprotect --project 3 --table contacts --user ada   # owners only
"""

from __future__ import annotations

from typing import Any

from checkpoints.management.commands.versions import Command as VersionsCommand
from checkpoints.management.project_command import Refused
from checkpoints.models import AgentProject, StatementEvent
from checkpoints.paging import page_of
from checkpoints.refusals import MAX_ID
from checkpoints.serialize import event_json, job_json, protected_json
from checkpoints.services import events

EVENT_NOT_FOUND = "Project {project} has no event {event} (see `manage.py events list`)."
UNSUPPORTED_NOTE = "This project's server does not record destructive statements."


class Command(VersionsCommand):
    help = "Destructive statements on the timeline, and protected tables, of an agent project."

    def add_actions(self, action) -> None:
        action("list", "The recorded destructive statements, newest first.", paged=True)
        before = action("restore-before", "Go back to just before a statement (undoable).")
        before.add_argument("--event", type=int, required=True, help="An id from `list`.")
        action("protected", "The protected tables.")
        for name, text in (
            ("protect", "Protect a table: DROP, TRUNCATE and DROP COLUMN are refused."),
            ("unprotect", "Lift a table's protection (owners)."),
        ):
            sub = action(name, text)
            sub.add_argument("--table", required=True, help="`contacts` or `schema.table`.")

    def _list(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        got = events.events_list(project=project, user=user)
        page = page_of(got.events, self._page_request(options), event_json)
        if self.as_json:
            self._print_json({"supported": got.supported, "note": got.note, **page.counts(),
                              "items": page.items})  # fmt: skip
            return
        if not got.supported:
            self.stdout.write(UNSUPPORTED_NOTE)
        rows = [(str(e["id"]), e["at"] or "", e["label"], e["role"], str(e["xid"]))
                for e in page.items]  # fmt: skip
        self._print_table(("event", "at (UTC)", "statement", "role", "transaction"), rows)
        self._print_page_footer("events", page)

    def _restore_before(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        pk = options["event"]
        event = None
        if 0 <= pk <= MAX_ID:
            event = StatementEvent.objects.filter(project=project, pk=pk).first()
        if event is None:
            message = EVENT_NOT_FOUND.format(project=project.pk, event=pk)
            raise Refused(code="not_found", message=message)
        job = self._run(events.event_restore_before(project=project, event=event, user=user))
        if self.as_json:
            self._print_json({"job": job_json(job)})
            return
        kept = job.result.get("kept_label")
        self.stdout.write(
            f"Back to just before {event.label} in {job.duration_ms} ms"
            + (f"; the live state was kept as {kept}." if kept else ".")
        )

    def _protected(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        self._print_protected(events.tables_protected(project=project, user=user))

    def _protect(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        listed = events.table_protect(
            project=project, user=user, table=options["table"], protect=True
        )
        self._print_protected(listed)

    def _unprotect(self, project: AgentProject, user, options: dict[str, Any]) -> None:
        listed = events.table_protect(
            project=project, user=user, table=options["table"], protect=False
        )
        self._print_protected(listed)

    def _print_protected(self, listed: list) -> None:
        if self.as_json:
            self._print_json({"items": [protected_json(t) for t in listed]})
            return
        rows = [(t.key, "yes" if t.exists else "not in the live database") for t in listed]
        self._print_table(("protected table", "exists"), rows)
