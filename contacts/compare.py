"""The live app and a version's app side by side, what differs marked on both sides.

Contacts are matched by email (unique in every variant); a side's column the other side
lacks, a contact only one side holds and a value that differs are each marked, in words
as well as colour (the template says "only here" / "differs").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from checkpoints import services
from checkpoints.engines.base import mask_password
from checkpoints.models import AgentProject, Preview
from contacts import repository

logger = logging.getLogger(__name__)

#: How many contacts each side shows (a demo holds a handful; the full app is a click away).
SIDE_ROWS = 50
UNREADABLE = "Not readable right now: {error}"


@dataclass
class Side:
    """One side: its columns (`(name, only_here)`) and rows of cells `(value, differs)`."""

    fields: tuple[str, ...] = ()
    variant: int = 0
    contacts: dict[str, repository.Contact] = field(default_factory=dict)
    columns: list[tuple[str, bool]] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    error: str = ""
    total: int = 0


def _value(contact: repository.Contact, name: str) -> str:
    value = getattr(contact, name, None)
    if isinstance(value, list):
        return ", ".join(value)
    return "" if value is None else str(value)


def _read(uri_of: Callable[[], str]) -> Side:
    try:
        schema, contacts = repository.contacts_list(uri_of())
    except Exception as exc:
        logger.warning("side by side: reading failed: %s", type(exc).__name__)
        return Side(error=UNREADABLE.format(error=mask_password(str(exc))))
    return Side(
        fields=schema.fields,
        variant=schema.variant,
        contacts={c.email: c for c in contacts[:SIDE_ROWS]},
        total=len(contacts),
    )


def _mark(side: Side, other: Side) -> None:
    side.columns = [(name, name not in other.fields) for name in side.fields]
    for email, contact in side.contacts.items():
        twin = other.contacts.get(email)
        cells = []
        for name in side.fields:
            value = _value(contact, name)
            differs = twin is not None and name in other.fields and _value(twin, name) != value
            only_col = name not in other.fields
            cells.append({"name": name, "value": value, "differs": differs, "only": only_col})
        side.rows.append({"email": email, "only_here": twin is None, "cells": cells})


def side_by_side_context(*, project: AgentProject, preview: Preview) -> dict:
    """`live` and `version` sides, and the preview's own masked connection string."""
    live = _read(lambda: services.project_connection_uri(project=project))
    version = _read(lambda: services.preview_connection_uri(preview=preview))
    if not (live.error or version.error):
        _mark(live, version)
        _mark(version, live)
    return {
        "live": live,
        "version": version,
        "differences": _count(live) + _count(version, cells=True),
        "preview_connection": mask_password(preview.connection_uri),
    }


def _count(side: Side, *, cells: bool = False) -> int:
    """Columns and contacts only this side has (and, once, the values that differ)."""
    count = sum(1 for _, only in side.columns if only)
    count += sum(1 for row in side.rows if row["only_here"])
    if cells:
        count += sum(1 for row in side.rows for cell in row["cells"] if cell["differs"])
    return count
