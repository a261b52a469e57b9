"""The names a two-step restore into the live branch (a rollback, an undo) gives its
branches, so a leftover is found by name: the restored branch until it is finalized, and
the branch it replaced afterwards. Both name the job that made them."""

from __future__ import annotations

import re

_NAME = re.compile(r"\((restoring|old), job #(\d+)\)$")


def restoring_name(job_pk: int, label: str) -> str:
    """The restored branch's name until finalize gives it the live branch's name."""
    return f"{label[:80]} (restoring, job #{job_pk})"


def replaced_name(job_pk: int, label: str) -> str:
    """The name finalize gives the branch the restore replaced (the database before)."""
    return f"before {label[:80]} (old, job #{job_pk})"


def made_by_job(name: str) -> tuple[str, int] | None:
    """("restoring" or "old", the job's pk) for a name given above, else None."""
    match = _NAME.search(name)
    return (match.group(1), int(match.group(2))) if match else None
