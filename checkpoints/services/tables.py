"""Use case: restore some tables of a version into the live database (`jobs.table_restore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoints import tasks
from checkpoints.errors import NOT_STARTED, ServiceError
from checkpoints.lifecycle.diff import diff_summary, manifest_diff
from checkpoints.lifecycle.manifest import table_label
from checkpoints.models import Job, Version
from checkpoints.rules import permissions, version_rules

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TABLES_REQUIRED = "Choose at least one table to restore."
TABLES_UNKNOWN = "{label} has no table {names}: choose among {known}."
NO_MANIFEST = "{label} was saved without a list of its tables: restore it whole (roll back)."


def version_table_keys(version: Version) -> list[str]:
    """The tables the version holds, as manifest keys (`public.contacts`)."""
    return sorted(((version.manifest or {}).get("tables") or {}).keys())


def tables_validate(version: Version, tables: list[str]) -> list[str]:
    """`tables` as manifest keys, each one the version holds; refused otherwise."""
    keys = version_table_keys(version)
    if not keys:
        raise ServiceError(NO_MANIFEST.format(label=version.label))
    chosen = sorted({_key_of(str(t), keys) for t in tables if str(t).strip()})
    if not chosen:
        raise ServiceError(TABLES_REQUIRED)
    unknown = [t for t in chosen if t not in keys]
    if unknown:
        raise ServiceError(
            TABLES_UNKNOWN.format(
                label=version.label,
                names=", ".join(table_label(t) for t in unknown),
                known=", ".join(table_label(k) for k in keys),
            )
        )
    return chosen


def _key_of(name: str, keys: list[str]) -> str:
    """The manifest key `name` means: a key itself (`public.contacts`, `public.a.b`),
    else a table of `public` (`contacts`, and `a.b` — a table named with a dot, as the
    page offers it), else `name` as given (refused as unknown)."""
    if name in keys:
        return name
    if f"public.{name}" in keys or "." not in name:
        return f"public.{name}"
    return name


def version_tables_restore(
    *, version: Version, user: User, tables: list[str], include_dependencies: bool = False
) -> Job:
    """Give the live database `tables` as they were in `version` (schema and rows, one
    transaction), every other table untouched; the live state is kept first as an
    automatic version. Foreign keys leaving the tables refuse the job unless
    `include_dependencies`."""
    project = version.project
    permissions.require(user, project, "tables_restore")
    if not project.engine_project_id:
        raise ServiceError(NOT_STARTED)
    version_rules.version_require_live(version)
    chosen = tables_validate(version, [str(t) for t in tables])
    return tasks.job_enqueue(
        project=project,
        kind=Job.Kind.TABLE_RESTORE,
        user=user,
        target_version=version,
        request={"tables": chosen, "include_dependencies": bool(include_dependencies)},
    )


def tables_changes(
    live: dict[str, Any] | None, version: Version, tables: list[str]
) -> list[tuple[str, str]]:
    """Per chosen table, what restoring it from `version` changes in the live database
    (read from the manifests): [("contacts", "drops column tags and 1 contact"), ...]."""
    expected = (version.manifest or {}).get("tables", {})
    found = (live or {}).get("tables", {})
    changes = []
    for key in tables:
        old = {"tables": {key: found[key]} if key in found else {}}
        new = {"tables": {key: expected[key]} if key in expected else {}}
        summary = diff_summary(manifest_diff(old, new))
        if key not in found:
            summary = f"is not in the live database: {summary}"
        changes.append((table_label(key), summary))
    return changes
