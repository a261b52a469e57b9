"""What `make run` does before serving, in one process (one Django start-up, not three)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand

FINGERPRINT = ".collected"


class Command(BaseCommand):
    help = "Migrate, collect static files and (with --first-account) create the first account."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--first-account",
            action="store_true",
            help="create an admin account with a random password if no user exists yet",
        )

    def handle(self, *args, first_account: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        collect_static()
        if first_account:
            call_command("ensure_admin")


def collect_static() -> None:
    """`collectstatic`, skipped when no source file changed since the last run (hashing
    and compressing every file takes seconds)."""
    root = Path(settings.STATIC_ROOT)
    marker = root / FINGERPRINT
    current = _fingerprint()
    if marker.exists() and marker.read_text() == current:
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    marker.write_text(current)


def _fingerprint() -> str:
    digest = hashlib.sha256(settings.STORAGES["staticfiles"]["BACKEND"].encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list([]):
            stat = Path(storage.path(path)).stat()
            entries.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()
