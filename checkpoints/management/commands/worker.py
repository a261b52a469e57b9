"""`manage.py worker`: django_tasks_db's `db_worker`, woken by NOTIFY (`checkpoints.worker`).

Takes every option of `db_worker` (`--interval` is now the fallback poll)."""

from __future__ import annotations

from typing import Any

from django_tasks_db.management.commands import db_worker

from checkpoints.worker import ListeningWorker


class Command(db_worker.Command):
    help = "Run the background worker (wakes on NOTIFY; polls every --interval as fallback)"

    def handle(self, *args: Any, **options: Any) -> None:
        original = db_worker.Worker
        db_worker.Worker = ListeningWorker  # the parent's handle() builds the worker by name
        try:
            super().handle(*args, **options)
        finally:
            db_worker.Worker = original
