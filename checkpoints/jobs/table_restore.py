"""Job kind TABLE_RESTORE: the live database gets some tables as they were in a version
(schema and rows, one transaction), every other table untouched, the live state kept first.

The version is opened on a temporary branch next to the active one (as a preview opens
it), `engines.tables.tables_restore` copies the tables across, the restored tables are
checked against the version's manifest, and the temporary branch is always deleted (a
crash leaves it to cleanup, which removes any branch no record names)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from checkpoints import connections
from checkpoints.engines.base import Engine
from checkpoints.engines.errors import EngineNotFound
from checkpoints.engines.operations import wait_for_operations
from checkpoints.engines.tables import TablesRefused, tables_check, tables_restore
from checkpoints.jobs.branches import reconcile_active_branch
from checkpoints.jobs.checks import wait_connectable
from checkpoints.jobs.failures import JobFailed
from checkpoints.jobs.live_keep import live_state_keep
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.lifecycle import manifest as manifests
from checkpoints.models import Activity, Job, Version

logger = logging.getLogger(__name__)

TABLES_DIFFER = "Verification failed: the restored tables do not hold {version}: {found}."


@runner(Job.Kind.TABLE_RESTORE)
def run_table_restore(run: JobRun) -> None:
    project = run.project
    target = run.job.target_version
    assert target is not None
    request = run.result.get("request") or {}
    tables, include = request.get("tables", []), bool(request.get("include_dependencies"))
    with engine_of(run) as engine:
        reconcile_active_branch(run, engine)
        run.cancel_check()
        branch_id = ""
        try:
            branch_id, source_uri = _version_open(run, engine, target)
            live_uri = connections.live_uri(project=project, engine=engine)
            with run.step("checking foreign keys"):
                checked = _refused_as_failure(
                    lambda: tables_check(source_uri, live_uri, tables, include_dependencies=include)
                )
                run.detail(", ".join(manifests.table_label(t) for t in checked))
            kept = live_state_keep(
                run, engine, reason=f"Before restoring tables from {target.label}"
            )
            run.cancel_check()  # the last point before the live database changes
            with run.step("restoring tables", f"{len(checked)} from {target.label}") as step:
                done = _refused_as_failure(
                    lambda: tables_restore(
                        source_uri,
                        live_uri,
                        tables,
                        include_dependencies=include,
                        before_copy=lambda key: run.detail(f"copying {manifests.table_label(key)}"),
                        verify=lambda conn, keys: _verify_step(run, conn, target, keys),
                    )
                )
                step["name"] = f"restoring {len(done.tables)} table" + "s" * (len(done.tables) != 1)
                step["detail"] = _rows_text(done.rows)
                run.remember(tables=done.tables, rows=done.rows, copy_seconds=done.seconds)
        finally:
            _branch_remove(run, engine, branch_id)
    run.record_activity(
        kind=Activity.Kind.TABLE_RESTORE,
        to_version=target,
        detail=f"Restored {', '.join(manifests.table_label(t) for t in done.tables)} "
        f"from {target.label} ({_rows_text(done.rows)}); "
        + (f"the live state was kept as {kept.label}." if kept else "the live state matched.")
        + " Every other table untouched; connection string unchanged.",
    )


def _refused_as_failure[T](work: Callable[[], T]) -> T:
    """A foreign-key refusal fails the job with its message (nothing was changed): code
    `tables_refused`, a 409 on the API as on MCP (the agent can act on it)."""
    try:
        return work()
    except TablesRefused as refused:
        raise JobFailed(str(refused), code="tables_refused") from None


def _rows_text(rows: dict[str, int]) -> str:
    return ", ".join(f"{manifests.table_label(k)}: {n} rows" for k, n in sorted(rows.items()))


def _version_open(run: JobRun, engine: Engine, target: Version) -> tuple[str, str]:
    """A temporary branch of `target` with an endpoint; its id and connection string."""
    project = run.project
    pid = project.engine_project_id
    with run.step("opening the version", f"{target.label} on a temporary branch"):
        restore = engine.snapshot_restore(
            pid,
            target.snapshot_id,
            target_branch_id=project.active_branch_id,
            finalize_restore=False,
            name=f"tables-{target.label}-{run.job.pk}",
        )
        branch_id = restore.branch.id
        run.remember(source_branch_id=branch_id)
    run.wait(engine, restore.operations, verify=lambda: bool(engine.branch_get(pid, branch_id)))
    with run.step("waiting for the temporary endpoint"):
        if not any(e.branch_id == branch_id for e in engine.endpoint_list(pid)):
            created = engine.endpoint_create(pid, branch_id)
            ops = created.operations
        else:
            ops = []
    run.wait(engine, ops)
    uri = engine.connection_uri(pid, branch_id=branch_id)
    wait_connectable(uri)
    return branch_id, uri


def _verify_step(run: JobRun, conn: Any, version: Version, tables: list[str]) -> None:
    """Inside the restore's transaction, before its commit: a failure here rolls the
    whole restore back, so a failed job has changed nothing."""
    with run.step("verifying", f"the restored tables hold {version.label}"):
        _verify_tables(conn, version, tables)


def _verify_tables(conn: Any, version: Version, tables: list[str]) -> None:
    """Each restored table against the version's manifest: columns always; rows and their
    checksum when the manifest was read with nothing changing around the snapshot.
    Tables followed as dependencies that an older manifest lacks are not checked."""
    manifest: dict[str, Any] = version.manifest or {}
    expected: dict[str, Any] = manifest.get("tables", {})
    if not expected:
        return
    keys = [key for key in tables if key in expected]
    problems = manifests.manifest_verify(
        conn, {**manifest, "tables": {key: expected[key] for key in keys}}, only=keys
    )
    if problems:
        raise JobFailed(TABLES_DIFFER.format(version=version.label, found="; ".join(problems)))


def _branch_remove(run: JobRun, engine: Engine, branch_id: str) -> None:
    """Delete the temporary branch, whatever happened (best effort: cleanup retries)."""
    if not branch_id:
        return
    with run.step("cleaning up", "deleting the temporary branch"):
        try:
            pid = run.project.engine_project_id
            wait_for_operations(engine, pid, engine.branch_delete(pid, branch_id))
        except EngineNotFound:
            pass
        except Exception:
            logger.exception("could not delete temporary branch %s", branch_id)
            run.detail("the temporary branch is left for cleanup")
