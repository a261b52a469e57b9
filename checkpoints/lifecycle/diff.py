"""What changed between two versions, or between the live database and a version, from
the stored manifests (`lifecycle.manifest`).

`manifest_diff(old, new)` says what going from `old` to `new` changes: tables and columns
added, removed or retyped, rows added or removed per table; `diff_summary` turns it into
one sentence ("drops columns role, company, tags and 1 contact").

Every read of the live database for a plan (the rollback confirmation, `plan_rollback` on
every door, a table restore's per-table changes) is `live_manifest`: read-only, with a
short connect, statement and lock timeout, so a slow or locked database costs at most a
few seconds and the answer says plainly that it could not look."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from checkpoints import connections
from checkpoints.engines.base import mask_password
from checkpoints.engines.connect import connect
from checkpoints.engines.errors import EngineError
from checkpoints.lifecycle.manifest import manifest_read, table_label
from checkpoints.models import AgentProject, Version
from checkpoints.queue import job_watchdog

logger = logging.getLogger(__name__)

#: How long a plan may wait for the live database, per connect and statement.
READ_SECONDS = 2
LIVE_UNREADABLE = "The live database could not be read within {seconds} s ({reason})."

DIFF_NO_MANIFEST = (
    "{labels} {verb} saved before manifests were recorded (or as of a past time): "
    "no diff is available."
)


def manifest_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What going from the `old` manifest to the `new` one changes.

    Returns {"tables_added": [...], "tables_removed": [...], "tables": {name: {...}}} where
    each changed table lists columns_added / columns_removed / columns_changed
    ({column: [old type, new type]}), rows_added / rows_removed (from the counts) and
    rows_changed (same count, different checksum), and "empty" when nothing differs."""
    old_tables, new_tables = old.get("tables", {}), new.get("tables", {})
    diff: dict[str, Any] = {
        "tables_added": sorted(table_label(t) for t in new_tables.keys() - old_tables.keys()),
        "tables_removed": sorted(table_label(t) for t in old_tables.keys() - new_tables.keys()),
        "tables": {},
    }
    for key in sorted(old_tables.keys() | new_tables.keys()):
        before = old_tables.get(key, {"columns": [], "rows": 0, "checksum": None})
        after = new_tables.get(key, {"columns": [], "rows": 0, "checksum": None})
        change = _table_diff(before, after, whole=key not in old_tables or key not in new_tables)
        if change:
            diff["tables"][table_label(key)] = change
    diff["empty"] = not (diff["tables_added"] or diff["tables_removed"] or diff["tables"])
    return diff


def _table_diff(before: dict, after: dict, *, whole: bool) -> dict[str, Any]:
    cols_before, cols_after = dict(before["columns"]), dict(after["columns"])
    change: dict[str, Any] = {}
    if not whole:
        added = [c for c in cols_after if c not in cols_before]
        removed = [c for c in cols_before if c not in cols_after]
        retyped = {
            c: [cols_before[c], cols_after[c]]
            for c in cols_before
            if c in cols_after and cols_before[c] != cols_after[c]
        }
        if added:
            change["columns_added"] = added
        if removed:
            change["columns_removed"] = removed
        if retyped:
            change["columns_changed"] = retyped
    delta = after["rows"] - before["rows"]
    if delta > 0:
        change["rows_added"] = delta
    elif delta < 0:
        change["rows_removed"] = -delta
    elif (
        not whole
        and before.get("checksum")
        and after.get("checksum")
        and before["checksum"] != after["checksum"]
        and not change
    ):
        change["rows_changed"] = True
    return change


def _rows(count: int, table: str) -> str:
    noun = table[:-1] if count == 1 and table.endswith("s") else table
    return f"{count} {noun}"


def _whole_table(table: str, rows: int) -> str:
    return f"table {table} ({rows} row{'s' if rows != 1 else ''})" if rows else f"table {table}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def diff_summary(diff: dict[str, Any]) -> str:
    """One sentence, e.g. "drops columns role, company, tags and 1 contact"."""
    if diff.get("empty"):
        return "changes nothing in the schema or the row counts"
    drops: list[str] = []
    adds: list[str] = []
    other: list[str] = []
    for table in diff["tables_removed"]:
        drops.append(_whole_table(table, diff["tables"].get(table, {}).get("rows_removed", 0)))
    for table in diff["tables_added"]:
        adds.append(_whole_table(table, diff["tables"].get(table, {}).get("rows_added", 0)))
    columns_removed = [c for t in diff["tables"].values() for c in t.get("columns_removed", [])]
    columns_added = [c for t in diff["tables"].values() for c in t.get("columns_added", [])]
    if columns_removed:
        word = "column" if len(columns_removed) == 1 else "columns"
        drops.append(f"{word} {', '.join(columns_removed)}")
    if columns_added:
        word = "column" if len(columns_added) == 1 else "columns"
        adds.append(f"{word} {', '.join(columns_added)}")
    for table, change in diff["tables"].items():
        if table in diff["tables_removed"] or table in diff["tables_added"]:
            continue
        if change.get("rows_removed"):
            drops.append(_rows(change["rows_removed"], table))
        if change.get("rows_added"):
            adds.append(_rows(change["rows_added"], table))
        for column, (old, new) in change.get("columns_changed", {}).items():
            other.append(f"changes {table}.{column} from {old} to {new}")
        if change.get("rows_changed"):
            other.append(f"changes rows of {table}")
    parts = []
    if drops:
        parts.append("drops " + _join(drops))
    if adds:
        parts.append("adds " + _join(adds))
    parts.extend(other)
    return "; ".join(parts)


@dataclass
class Diff:
    old: str
    new: str
    changes: dict[str, Any] | None = None
    summary: str = ""
    unavailable: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(*versions: Version) -> str:
    labels = [v.label for v in versions if not v.manifest]
    return DIFF_NO_MANIFEST.format(
        labels=" and ".join(labels), verb="was" if len(labels) == 1 else "were"
    )


def version_diff(*, old: Version, new: Version) -> Diff:
    """What going from `old` to `new` changes (from the stored manifests)."""
    diff = Diff(old=old.label, new=new.label)
    if not old.manifest or not new.manifest:
        diff.unavailable = _missing(old, new)
        return diff
    diff.changes = manifest_diff(old.manifest, new.manifest)
    diff.summary = diff_summary(diff.changes)
    return diff


def live_manifest(uri: str) -> dict[str, Any]:
    """The live database's manifest, read within `READ_SECONDS` (else psycopg's error)."""
    options = f"-c statement_timeout={READ_SECONDS * 1000} -c lock_timeout={READ_SECONDS * 1000}"
    with connect(
        uri, retry_for=0.5, blocked_for=READ_SECONDS, connect_timeout=READ_SECONDS, options=options
    ) as conn:
        conn.read_only = True
        return manifest_read(conn)


def live_unreadable(error: Exception) -> str:
    """Why the live database could not be read, in one sentence (password masked)."""
    if full := job_watchdog.lock_table_full(error):
        return full
    text = str(error).strip()
    reason = mask_password(text.splitlines()[0]) if text else ""
    timed_out = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
    short = "it did not answer in time" if isinstance(error, timed_out) else ""
    return LIVE_UNREADABLE.format(seconds=READ_SECONDS, reason=short or reason or "no answer")


def project_live_manifest(project: AgentProject) -> dict[str, Any]:
    """`live_manifest` of the project's live database (raises what `live_unreadable` says)."""
    return live_manifest(connections.project_connection_uri(project=project))


def rollback_diff(*, project: AgentProject, version: Version) -> Diff:
    """What rolling back to `version` changes in the live database now (live manifest,
    read within `READ_SECONDS`)."""
    diff = Diff(old="live", new=version.label)
    if not version.manifest:
        diff.unavailable = _missing(version)
        return diff
    try:
        live = project_live_manifest(project)
    except (psycopg.Error, EngineError) as error:
        logger.warning("live manifest of project %s: %s", project.pk, error)
        diff.unavailable = live_unreadable(error)
        return diff
    diff.changes = manifest_diff(live, version.manifest)
    diff.summary = diff_summary(diff.changes)
    return diff
