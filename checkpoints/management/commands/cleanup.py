"""`manage.py cleanup [--project ID] [--dry-run] [--schedule]`: remove what projects no longer need.

For each started project (or one): print what it holds (branches, snapshots, sizes) and
what cleanup removes and why; without `--dry-run`, remove it (expired versions'
snapshots, expired or abandoned previews, verified rollbacks' `(old)` branches, leftovers
of failed jobs). A busy project is skipped. `--schedule` makes sure the periodic cleanup
task is queued (it then re-queues itself every CHECKPOINTS_CLEANUP_INTERVAL_MINUTES).

    manage.py cleanup --dry-run
    manage.py cleanup --project 3
    manage.py cleanup --schedule
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkpoints.errors import PROJECT_NOT_FOUND
from checkpoints.models import AgentProject
from checkpoints.services import lifecycle


def size_text(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "?"  # pragma: no cover


class Command(BaseCommand):
    help = "Remove expired snapshots, stale previews, orphaned and leftover branches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, help="Only this project (id).")
        parser.add_argument("--dry-run", action="store_true", help="Show the plan only.")
        parser.add_argument("--json", action="store_true", help="Print the plans as JSON.")
        parser.add_argument(
            "--schedule", action="store_true", help="Queue the periodic cleanup task."
        )

    def handle(self, *args, project=None, dry_run=False, json=False, schedule=False, **options):
        if schedule:
            queued = lifecycle.cleanup_schedule_ensure()
            interval = lifecycle.cleanup_interval()
            if interval is None:
                self.stdout.write(
                    "Periodic cleanup is off (CHECKPOINTS_CLEANUP_INTERVAL_MINUTES=0)."
                )
            else:
                state = "queued" if queued else "already queued (or the backend cannot defer)"
                self.stdout.write(f"Periodic cleanup every {interval}: {state}.")
            return
        if project is not None and not AgentProject.objects.filter(pk=project).exists():
            message = PROJECT_NOT_FOUND.format(id=project)
            if json:
                self.stdout.write(_json_dumps({"error": {"code": "not_found", "message": message}}))
            raise CommandError(message)
        plans = lifecycle.projects_cleanup(dry_run=dry_run, project_id=project)
        if json:
            self.stdout.write(_json_dumps([plan.as_dict() for plan in plans]))
            return
        for plan in plans:
            self._print(plan)

    def _print(self, plan: lifecycle.CleanupPlan) -> None:
        verb = "would remove" if plan.dry_run else "removed"
        self.stdout.write(f"project {plan.project_id}:")
        if plan.error:
            self.stdout.write(f"  engine error: {plan.error}")
            return
        for holding in plan.branches + plan.snapshots:
            self.stdout.write(
                f"  {holding.kind:8} {holding.name:28} {size_text(holding.size):>9}  "
                f"{holding.note or holding.role}"
            )
        if not plan.removals:
            self.stdout.write("  nothing to remove")
        for removal in plan.removals:
            state = f"failed: {removal.error}" if removal.error else verb
            self.stdout.write(f"  {state}: {removal.kind} {removal.name} ({removal.reason})")
        if plan.removals:
            self.stdout.write(f"  {verb} {size_text(plan.bytes_freed)} in total")


def _json_dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
