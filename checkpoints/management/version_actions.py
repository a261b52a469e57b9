"""`manage.py versions`' actions and their arguments (the command: commands/versions.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def version_actions(action) -> None:
    """Add each action of `manage.py versions` with `action(name, help, paged=False)`."""
    _create_action(action)
    for name, text in (
        ("rollback", "Roll the active branch back to a version."),
        ("plan", "What rolling back to a version would change in live now."),
        ("preview", "Open a preview of a version; print its connection string."),
        ("pin", "Keep a version hot whatever the tier policy says."),
        ("unpin", "Let the tier policy move a version again."),
        ("delete", "Delete a version's snapshot for good (owners)."),
        ("rename", "Rename a version (and its snapshot)."),
    ):
        one = action(name, text)
        one.add_argument("--version", type=int, required=True, dest="number")
        if name == "rename":
            one.add_argument("--name", required=True, help="The new name.")
    tables = action(
        "restore-tables",
        "Give the live database some tables as they were in a version (the rest untouched).",
    )
    tables.add_argument("--version", type=int, required=True, dest="number")
    tables.add_argument(
        "--table", action="append", required=True, dest="tables", help="Repeat per table."
    )
    tables.add_argument(
        "--include-dependencies",
        action="store_true",
        help="Also restore the tables a foreign key ties to these.",
    )
    action("undo", "Undo the last rollback: back to the live state it replaced.")
    discard = action("discard", "Discard a preview (its temporary database).")
    discard.add_argument("--preview", type=int, required=True, dest="preview_id")
    diff = action("diff", "What changed between two versions (their stored manifests).")
    diff.add_argument("--from", type=int, required=True, dest="old")
    diff.add_argument("--to", type=int, required=True, dest="new")
    listing = action("list", "List the project's versions, a page at a time.", paged=True)
    listing.add_argument(
        "--label", action="append", default=[], dest="labels", metavar="KEY:VALUE",
        help="Only versions with this label (KEY alone: any value); repeat for more.",
    )  # fmt: skip


def _create_action(action) -> None:
    create = action("create", "Apply SQL (optional) to the active branch, save a version.")
    create.add_argument("--prompt", help="The prompt that made this version (required).")
    create.add_argument(
        "--timestamp", type=datetime.fromisoformat, metavar="ISO-8601",
        help="Instead: save the database as it was at this moment (UTC if no zone).",
    )  # fmt: skip
    create.add_argument("--lsn", help="Instead: as it was at this WAL position (0/16B3748).")
    create.add_argument("--sql-file", type=Path, help="SQL to apply first (one transaction).")
    create.add_argument("--name", help="The version's name (default: the prompt's first line).")
    create.add_argument(
        "--label", action="append", default=[], dest="labels", metavar="KEY=VALUE",
        help="A label kept with the version (e.g. git_sha=3f2a9c1); repeat for more.",
    )  # fmt: skip
