"""Job kind CREATE_VERSION: apply a prompt's SQL (or the demo's next step), snapshot,
record; or save a version as of a past time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from checkpoints import connections, demo
from checkpoints.demo import DEMO_STEPS, demo_step
from checkpoints.engines.base import AsOf
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.errors import EngineRefused
from checkpoints.errors import NO_NEXT_VERSION
from checkpoints.jobs.branches import reconcile_active_branch
from checkpoints.jobs.failures import JobFailed, error_code, error_text
from checkpoints.jobs.run import JobRun, engine_of, runner
from checkpoints.jobs.snapshot import refused, room_for, snapshot_and_record, version_recorded
from checkpoints.jobs.sql import statements_apply
from checkpoints.jobs.undo import undo_applied
from checkpoints.models import Activity, Job, Version
from checkpoints.rules import snapshot_room, version_rules, version_sql


@runner(Job.Kind.CREATE_VERSION)
def run_create_version(run: JobRun) -> None:
    """A version from the request's prompt and SQL (API), or the demo script's next step."""
    project = run.project
    request = run.result.get("request")
    if request:
        try:  # checked when the job was asked for; checked again right before it runs
            statements: Sequence[str] | Callable[[Any], Sequence[str]] = version_rules.sql_split(
                request["sql"]
            )
        except version_sql.SqlRefused as refused:
            raise JobFailed(refused.message) from None
        number = version_rules.version_number_after(project=project)
        prompt = request["prompt"]
        name = request["name"] or version_rules.version_default_name(prompt=prompt, number=number)
    else:
        demo_number = version_rules.version_next_number(project=project)
        if demo_number is None:
            raise JobFailed(NO_NEXT_VERSION.format(last=DEMO_STEPS[-1].number))
        script = demo_step(demo_number)
        assert script is not None
        # The step's number, unless automatic versions took it: then the next free one.
        number = max(demo_number, version_rules.version_number_after(project=project))
        name, prompt = script.name, script.prompt

        def statements(conn: Any) -> list[str]:
            # Bring the schema from what the database holds up to this step; the
            # statements are idempotent, so a retried step is harmless.
            holds = demo.variant_from_connection(conn)
            return [sql for step in DEMO_STEPS[holds + 1 : demo_number + 1] for sql in step.sql]

    as_of = as_of_of(request) if request else None
    if as_of is not None:
        _version_save_as_of(run, number=number, name=name, prompt=prompt, as_of=as_of)
        return
    _version_save(run, number=number, name=name, prompt=prompt, statements=statements)


def _version_save(
    run: JobRun,
    *,
    number: int,
    name: str,
    prompt: str,
    statements: Sequence[str] | Callable[[Any], Sequence[str]],
) -> Version:
    """Apply `statements` to the active branch in one transaction, snapshot, record.

    A failing statement rolls the transaction back and fails the job with its number and
    text (`SqlFailed`): no snapshot is taken, no version recorded."""
    project = run.project
    from_version = project.current_version
    # The result banner says in one line what changed: "Rolled back from v3 to v1".
    run.remember(from_label=from_version.label if from_version else "")
    with engine_of(run) as engine:
        reconcile_active_branch(run, engine)
        run.cancel_check()
        capacity = room_for(run, engine, label=f"v{number}")
        applied = False
        with run.step("applying the prompt", prompt):
            uri = connections.live_uri(project=project, engine=engine)
            with connect(uri) as conn:  # one transaction: committed only if all succeed
                applied = statements_apply(run, conn, statements) > 0
        try:
            version = snapshot_and_record(
                run, engine, number=number, name=name, prompt=prompt, capacity=capacity
            )
        except Exception as exc:
            if version_recorded(run):
                raise
            # All or nothing: the SQL is committed but no version holds it. Put the live
            # database back at the current version before reporting the failure.
            room = snapshot_room.RETRY_WITH_ROOM if isinstance(exc, EngineRefused) else ""
            note = undo_applied(run, engine, from_version, room) if applied else ""
            if isinstance(exc, EngineRefused):
                raise refused(run, engine, exc, note or snapshot_room.NOTHING_APPLIED) from exc
            if note:
                raise JobFailed(error_text(exc) + note, code=error_code(exc)) from exc
            raise
    run.record_activity(
        kind=Activity.Kind.CREATE,
        from_version=from_version,
        to_version=version,
        detail=f"{version.label}: {prompt}",
    )
    return version


def as_of_of(request: dict[str, Any]) -> AsOf | None:
    """The past moment a request asks for (`as_of`; a bare `timestamp` from before it)."""
    raw = request.get("as_of") or (
        {"timestamp": request["timestamp"]} if request.get("timestamp") else None
    )
    if not raw:
        return None
    when = raw.get("timestamp")
    return AsOf(
        timestamp=datetime.fromisoformat(when) if when else None,
        lsn=raw.get("lsn"),
        xid=raw.get("xid"),
        inclusive=raw.get("inclusive", True),
    )


def _version_save_as_of(
    run: JobRun, *, number: int, name: str, prompt: str, as_of: AsOf
) -> Version:
    """A version of the active branch as it was at `as_of` (engines with point in time).

    Nothing is applied; the manifest is what the engine read of that moment, if it could
    (the live branch holds today's state, not then's)."""
    project = run.project
    from_version = project.current_version
    # The result banner says in one line what changed: "Rolled back from v3 to v1".
    run.remember(from_label=from_version.label if from_version else "")
    with engine_of(run) as engine:
        reconcile_active_branch(run, engine)
        capacity = room_for(run, engine, label=f"v{number}")
        try:
            version = snapshot_and_record(
                run, engine, number=number, name=name, prompt=prompt, as_of=as_of,
                capacity=capacity,
            )  # fmt: skip
        except EngineRefused as exc:
            raise refused(run, engine, exc, snapshot_room.NOTHING_APPLIED) from exc
    run.record_activity(
        kind=Activity.Kind.CREATE,
        from_version=from_version,
        to_version=version,
        detail=f"{version.label}: {prompt}",
    )
    return version
