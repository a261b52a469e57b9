"""Background work: each `Job` runs here, in the worker, step by step.

Every step is persisted to the job row as it starts and ends (name, state, timings,
detail such as "2/3" operations finished), so the page's status fragment only reads that
row. A job runs at most once: `job_execute` claims it with a conditional UPDATE, and a job
left running by a dead worker is failed by `services.jobs_fail_stale` (heartbeat), never
re-run. States only move forward, through `job_state.job_transition`. Metadata follows
what the engine reports, read back after each risky step.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from checkpoints import demo, jobs_live, lifecycle, services, snapshot_room, version_sql
from checkpoints import manifest as manifests
from checkpoints.demo import DEMO_STEPS, demo_step
from checkpoints.engines.base import (
    CANCELLED,
    SUCCEEDED_STATUSES,
    Engine,
    Operation,
    SnapshotCapacity,
    mask_password,
)
from checkpoints.engines.connect import connect_app as connect
from checkpoints.engines.errors import (
    EngineError,
    EngineLocked,
    EngineNotFound,
    EngineRefused,
    OperationFailed,
    OperationTimeout,
)
from checkpoints.engines.operations import wait_for_operations
from checkpoints.job_state import job_transition
from checkpoints.models import Activity, AgentProject, Job, Preview, ShareLink, Version

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
#: How long to wait for a branch's endpoint to accept connections.
ENDPOINT_WAIT_SECONDS = 30.0
PREVIEW_RETRY_WHEN_BUSY = timedelta(seconds=30)

VERIFY_FAILED = "Verification failed: the database serves {found}, expected {expected}."
CONTENT_MISMATCH = "Verification failed: the database does not hold {version}: {found}."
ENDPOINT_NOT_MOVED = "The endpoint still serves the previous branch: the rollback did not happen."
SQL_FAILED = (
    "Statement {number} of {total} failed, nothing was applied and no version was saved: "
    "{error}\nStatement {number}: {statement}"
)
SQL_TIMEOUT = (
    "Statement {number} of {total} ran longer than the statement timeout ({seconds:g} s, "
    "setting CHECKPOINTS_STATEMENT_TIMEOUT) and was cancelled; nothing was applied and no "
    "version was saved.\nStatement {number}: {statement}"
)
JOB_CANCELLED = "Cancelled on request: nothing was applied and no version was saved."
JOB_CANCELLED_EARLY = "Cancelled on request before it changed anything."
#: How often the job checks for a cancel request while a statement runs.
CANCEL_POLL_SECONDS = 0.2


class JobFailed(Exception):
    """A step found something wrong; the message is shown to the user."""

    code = "job_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SqlFailed(JobFailed):
    """A statement of a version's SQL failed; the transaction was rolled back."""

    code = "sql_failed"


class SqlTimeout(SqlFailed):
    """A statement ran past the statement timeout; the transaction was rolled back."""

    code = "statement_timeout"


class JobCancelled(JobFailed):
    """An operator cancelled the job at a point where nothing was left half-applied."""

    code = "cancelled"


def statement_timeout() -> float:
    """Seconds a statement of an agent's SQL may run (setting CHECKPOINTS_STATEMENT_TIMEOUT;
    0 for no limit)."""
    return float(getattr(settings, "CHECKPOINTS_STATEMENT_TIMEOUT", 60))


class SnapshotRefused(JobFailed):
    """The engine refused the version's snapshot (limit, quota, other 4xx): nothing saved,
    the live database as before. `code`: snapshot_limit | snapshot_quota | snapshot_refused."""


def _error_code(exc: BaseException) -> str:
    """A stable code for how a job failed (kept in `Job.result["error_code"]` for the API)."""
    if isinstance(exc, JobFailed):
        return exc.code
    if isinstance(exc, OperationTimeout):
        return "engine_timeout"
    return "engine_error" if isinstance(exc, EngineError) else "job_failed"


def _now_iso() -> str:
    return timezone.now().isoformat()


class JobRun:
    """The job being executed: persists steps, result ids and operation ids as it goes."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.project: AgentProject = job.project
        self.steps: list[dict[str, Any]] = list(job.steps)
        self.result: dict[str, Any] = dict(job.result)
        self.operation_ids: list[str] = []
        self.afterwards: list[Callable[[], None]] = []

    def after_success(self, work: Callable[[], None]) -> None:
        """Housekeeping to run once the job is recorded as succeeded (off the user's path)."""
        self.afterwards.append(work)

    def _save(self) -> None:
        Job.objects.filter(pk=self.job.pk).update(
            steps=self.steps, result=self.result, heartbeat_at=timezone.now()
        )

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": name,
            "state": "running",
            "started_at": _now_iso(),
            "finished_at": None,
            "detail": detail,
        }
        self.steps.append(entry)
        self._save()
        try:
            yield entry
        except BaseException as exc:
            entry.update(state="failed", finished_at=_now_iso(), detail=_error_text(exc))
            self._save()
            raise
        entry.update(state="succeeded", finished_at=_now_iso())
        self._save()

    def cancel_check(self) -> None:
        """Stop here (`JobCancelled`) if an operator asked to cancel: call only where
        stopping leaves nothing half-applied."""
        if Job.objects.filter(pk=self.job.pk, cancel_requested_at__isnull=False).exists():
            raise JobCancelled(JOB_CANCELLED_EARLY if not self.steps else JOB_CANCELLED)

    def detail(self, text: str) -> None:
        self.steps[-1]["detail"] = text
        self._save()

    def remember(self, **values: Any) -> None:
        self.result.update(values)
        self._save()

    def wait(
        self,
        engine: Engine,
        operations: list[Operation],
        name: str = "operations",
        *,
        verify: Callable[[], bool] | None = None,
    ) -> None:
        """Wait for `operations`, showing "operations 2/3" as they finish.

        A `cancelled` operation is a failure, as in Neon's SDK, unless `verify` reads back
        from the engine that the result is in place anyway."""
        total = len(operations)
        self.operation_ids.extend(op.id for op in operations)
        self.result["operation_ids"] = self.operation_ids  # saved as the step starts
        statuses = {op.id: op.status for op in operations}

        def progress() -> str:
            done = sum(1 for status in statuses.values() if status in SUCCEEDED_STATUSES)
            return f"{done}/{total}"

        def on_change(op: Operation) -> None:
            statuses[op.id] = op.status
            if progress() != self.steps[-1]["detail"]:  # one write per visible change
                self.detail(progress())

        with self.step(name, progress() if total else "none needed"):
            if total:
                final = wait_for_operations(
                    engine, self.project.engine_project_id, operations, on_change=on_change
                )
                cancelled = [op for op in final if op.status == CANCELLED]
                if cancelled and not (verify is not None and verify()):
                    op = cancelled[0]
                    raise OperationFailed(
                        op,
                        f"operation {op.action} ({op.id}) was cancelled and its result is "
                        "not in place",
                    )

    def record_activity(
        self,
        *,
        kind: str,
        detail: str,
        from_version: Version | None = None,
        to_version: Version | None = None,
    ) -> None:
        """This job's Activity entry: who, its operation ids and duration filled in, and
        how it was asked for when not by a person (`result["via"]`, e.g. "mcp")."""
        via = self.result.get("via")
        if via:
            detail = f"{detail} (via {str(via).upper()})"
        services.activity_record(
            project=self.project,
            actor=self.job.created_by,
            kind=kind,
            from_version=from_version,
            to_version=to_version,
            operation_ids=self.operation_ids,
            duration_ms=self.duration_ms,
            detail=detail,
        )

    @property
    def duration_ms(self) -> int:
        started = self.job.started_at or timezone.now()
        return int((timezone.now() - started).total_seconds() * 1000)


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask_password(text)[:2000]


class Heartbeat:
    """Touches `Job.heartbeat_at` every few seconds from a thread while the job runs, and
    holds the project's lock (`jobs_live.ProjectLock`) so that the job is not reaped while
    this worker lives, even if beats are missed.

    A database error costs one beat, not the heartbeat: the next beat reconnects."""

    def __init__(self, job_id: int, project_id: int) -> None:
        self.job_id = job_id
        self.lock = jobs_live.ProjectLock(project_id)
        self.beats = 0
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"job-{job_id}-beat")

    def _beat(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                try:
                    Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                    self.beats += 1
                    self.backend_pid = connection.connection.info.backend_pid
                except Exception:
                    logger.warning("heartbeat of job %s missed a beat", self.job_id, exc_info=True)
                    connection.close()  # the next beat opens a fresh connection
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.lock.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 1)
        self.lock.__exit__(*exc)


class StatementWatch:
    """While agent SQL runs on `conn`: cancel the running statement when an operator asks
    to cancel the job, or when it outlives the statement timeout (a backstop for SQL that
    changes `statement_timeout` itself). Runs in a thread of its own."""

    def __init__(self, run: JobRun, conn: psycopg.Connection, timeout: float) -> None:
        self.run = run
        self.conn = conn
        self.timeout = timeout
        self.cancelled = False  # an operator asked
        self.timed_out = False
        self.statement_started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="job-sql-watch")

    def _watch(self) -> None:
        job = Job.objects.filter(pk=self.run.job.pk, cancel_requested_at__isnull=False)
        try:
            while not self._stop.wait(CANCEL_POLL_SECONDS):
                try:
                    asked = job.exists()
                except Exception:
                    connection.close()
                    continue
                running_for = time.monotonic() - self.statement_started
                late = 0 < self.timeout < running_for - 1  # 0: no timeout
                if asked or late:
                    self.cancelled = self.cancelled or asked
                    self.timed_out = self.timed_out or (late and not asked)
                    self.conn.cancel_safe(timeout=5)
                    if asked:
                        return
        finally:
            connection.close()

    def __enter__(self) -> StatementWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# Entry points ----------------------------------------------------------------------------


@task()
def job_run(job_id: int) -> None:
    """Run one job (enqueued by the services, on commit)."""
    close_old_connections()
    job_execute(job_id)


@task()
def preview_expire(preview_id: int) -> None:
    """Discard a preview when its time is up (enqueued to run at `expires_at`)."""
    preview = Preview.objects.select_related("project").filter(pk=preview_id).first()
    if preview is None or preview.discarded_at is not None:
        return
    try:
        services.preview_discard(preview=preview, user=None)
    except services.ProjectBusy:
        preview_expire.using(run_after=timezone.now() + PREVIEW_RETRY_WHEN_BUSY).enqueue(preview_id)


def job_execute(job_id: int) -> None:
    """Claim the job (once), run its steps, record how it ended, then clean up previews."""
    now = timezone.now()
    claimed = job_transition(job_id, Job.State.RUNNING, started_at=now, heartbeat_at=now)
    if not claimed:
        logger.warning("job %s is not queued any more: not running it again", job_id)
        return
    job = Job.objects.select_related("project", "target_version", "preview", "created_by").get(
        pk=job_id
    )
    run = JobRun(job)
    with Heartbeat(job_id, job.project_id):
        try:
            run.cancel_check()
            RUNNERS[job.kind](run)
        except JobCancelled as exc:
            logger.info("job %s (%s) cancelled", job_id, job.kind)
            run.result["error_code"] = exc.code
            _job_finish(run, state=Job.State.CANCELLED, error=str(exc))
        except Exception as exc:
            logger.warning("job %s (%s) failed: %s", job_id, job.kind, _error_text(exc))
            run.result["error_code"] = _error_code(exc)
            _job_finish(run, state=Job.State.FAILED, error=_error_text(exc))
        else:
            _job_finish(run, state=Job.State.SUCCEEDED)
            for work in run.afterwards:
                try:
                    work()
                except Exception:  # left for cleanup, which retries it
                    logger.exception("housekeeping after job %s failed", job_id)
    _listing_refresh(run.project)
    previews_cleanup_expired()
    lifecycle.cleanup_schedule_ensure()  # the periodic cleanup starts with the first job


def _listing_refresh(project: AgentProject) -> None:
    """Store what the engine holds now, for pages to show without asking it."""
    try:
        project.refresh_from_db()
        if not project.engine_project_id:
            return
        lifecycle.listing_refresh(project=project)
    except Exception as exc:  # the previous listing stays; the next job refreshes it
        logger.warning("listing project %s after a job failed: %s", project.pk, _error_text(exc))


def _job_finish(run: JobRun, *, state: str, error: str = "") -> None:
    """Record how the job ended, if it is still running (a reaped job stays failed)."""
    moved = job_transition(
        run.job.pk,
        state,
        only_from=(Job.State.RUNNING,),
        error=error,
        steps=run.steps,
        result=run.result,
        finished_at=timezone.now(),
        preview=run.job.preview,
    )
    if not moved:
        logger.warning(
            "job %s ended %s but was no longer running: kept as it is", run.job.pk, state
        )
        return
    if state == Job.State.FAILED:
        run.record_activity(
            kind=Activity.Kind.FAILED,
            to_version=run.job.target_version,
            detail=f"{run.job.get_kind_display()} failed: {error}",
        )


def previews_cleanup_expired() -> int:
    """Enqueue a discard for every expired preview whose project is idle."""
    share_previews_ended()
    count = 0
    recently_failed = Job.objects.filter(
        kind=Job.Kind.PREVIEW_DISCARD,
        state=Job.State.FAILED,
        finished_at__gte=timezone.now() - timedelta(minutes=10),
    ).values("preview_id")
    expired = services.previews_expired().exclude(pk__in=recently_failed)
    for preview in expired.select_related("project"):
        try:
            services.preview_discard(preview=preview, user=None)
            count += 1
        except services.ServiceError:
            continue
    return count


# Runners ---------------------------------------------------------------------------------


@contextmanager
def _engine(run: JobRun) -> Iterator[Engine]:
    """The project's engine. Engines are shared per process: never close them here."""
    yield services.engine_for(project=run.project)


def _wait_connectable(uri: str, *, deadline: float = ENDPOINT_WAIT_SECONDS) -> None:
    started = time.monotonic()
    while True:
        try:
            with connect(uri) as conn:
                conn.execute("select 1")
            return
        except Exception:
            if time.monotonic() - started > deadline:
                raise
            time.sleep(0.1)


def _verify_variant(uri: str, expected: int) -> None:
    found = demo.variant_read(uri)
    if found != expected:
        raise JobFailed(VERIFY_FAILED.format(found=f"v{found}", expected=f"v{expected}"))


def _endpoint_branch_id(engine: Engine, project: AgentProject) -> str | None:
    """Which branch the project's endpoint serves now, as the engine reports it."""
    endpoints = engine.endpoint_list(project.engine_project_id)
    for endpoint in endpoints:
        if endpoint.id == project.endpoint_id:
            return endpoint.branch_id
    return None


def _reconcile_active_branch(run: JobRun, engine: Engine) -> None:
    """If a dead worker left a finished swap unrecorded, adopt what the engine reports."""
    project = run.project
    serving = _endpoint_branch_id(engine, project)
    if serving is None or serving == project.active_branch_id:
        return
    with run.step("reconciling the active branch", f"endpoint serves {serving}"):
        earlier = (
            Job.objects.filter(
                project=project, kind=Job.Kind.ROLLBACK, result__new_branch_id=serving
            )
            .select_related("target_version")
            .first()
        )
        project.active_branch_id = serving
        if earlier is not None and earlier.target_version is not None:
            project.current_version = earlier.target_version
        project.save(update_fields=["active_branch_id", "current_version"])


def _schema_fingerprint(uri: str) -> str:
    """A short hash of every table and column: what a restored version must serve again."""
    with connect(uri) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1, 2, 3"
        ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def _verify_version(uri: str, version: Version) -> None:
    """Check the database serves `version`: its schema fingerprint, else the demo variant."""
    made = (
        Job.objects.filter(project_id=version.project_id, result__version_id=version.pk)
        .filter(result__has_key="fingerprint")
        .first()
    )
    if made is None:  # saved before fingerprints were recorded: a demo version
        _verify_variant(uri, version.number)
    elif made.result["fingerprint"] and _schema_fingerprint(uri) != made.result["fingerprint"]:
        raise JobFailed(VERIFY_FAILED.format(found="another schema", expected=version.label))
    if version.manifest:
        with connect(uri) as conn:
            conn.read_only = True
            problems = manifests.manifest_verify(conn, version.manifest)
        if problems:
            raise JobFailed(
                CONTENT_MISMATCH.format(version=version.label, found="; ".join(problems))
            )


def _repair_role(run: JobRun, engine: Engine, repaired: list[str] | tuple[str, ...]) -> None:
    """An Activity entry when the engine had to put the project role back: its own SQL
    had changed its password, settings or connection limit."""
    if repaired:
        run.record_activity(
            kind=Activity.Kind.REPAIR,
            detail="The project's SQL had changed its role's "
            + ", ".join(repaired)
            + "; the engine restored it (the connection string is unchanged).",
        )


def _role_repair(run: JobRun, engine: Engine) -> None:
    repair = getattr(engine, "role_repair", None)  # local engine: the role is the engine's
    if repair is not None:
        _repair_role(run, engine, repair(run.project.engine_project_id))


def _snapshot_and_record(
    run: JobRun,
    engine: Engine,
    *,
    number: int,
    name: str | None = None,
    prompt: str | None = None,
    as_of: datetime | None = None,
    capacity: SnapshotCapacity | None = None,
) -> Version:
    """Snapshot the active branch and record the version. A refused snapshot raises
    `EngineRefused` (nothing made); the caller puts the live database back if it changed."""
    project = run.project
    if name is None or prompt is None:
        script = demo_step(number)
        assert script is not None
        name, prompt = script.name, script.prompt
    manifest = None
    if as_of is None:  # the active branch holds this version now: read what it holds
        _role_repair(run, engine)
        with run.step("reading the manifest", "tables, columns, row counts, checksums"):
            manifest = lifecycle.manifest_of_uri(services.project_connection_uri(project=project))
            if manifest is not None:
                run.detail(f"{len(manifest['tables'])} tables in {manifest['took_ms']} ms")
    with run.step("taking the snapshot", f"v{number}"):
        uri = services.project_connection_uri(project=project)
        fingerprint = None if as_of else _schema_fingerprint(uri)
        wanted = f"v{number}"
        created = _while_locked(
            lambda: engine.snapshot_create(
                project.engine_project_id,
                project.active_branch_id,
                name=snapshot_room.snapshot_name(capacity, wanted, run.job.pk)
                if capacity
                else wanted,
                expires_at=lifecycle.version_expiry_default(
                    project=project, created_at=timezone.now()
                ),
                timestamp=as_of,
            )
        )
        run.remember(snapshot_id=created.snapshot.id)
    snapshot_id = created.snapshot.id
    run.wait(
        engine,
        created.operations,
        verify=lambda: any(
            s.id == snapshot_id for s in engine.snapshot_list(project.engine_project_id)
        ),
    )
    if manifest is not None:
        # Read again: the same on both sides of the snapshot means the snapshot holds it
        # exactly, and a restore is then verified row by row (counts and checksums).
        again = lifecycle.manifest_of_uri(engine.connection_uri(project.engine_project_id))
        manifest["exact"] = manifests.manifests_equal(manifest, again)
    with run.step("recording the version", f"v{number}"):
        version = Version.objects.create(
            project=project,
            number=number,
            name=name,
            prompt=prompt,
            snapshot_id=created.snapshot.id,
            parent=project.current_version,
            created_by=run.job.created_by,
            expires_at=created.snapshot.expires_at,
            manifest=manifest,
        )
        project.current_version = version
        project.save(update_fields=["current_version"])
        if project.restore_window == AgentProject.RestoreWindow.VERSIONS:
            lifecycle.versions_expiry_apply(project=project)  # older ones fall out
        # A version saved as of a past time has no known schema: nothing to verify against.
        run.remember(version_id=version.pk, fingerprint=fingerprint)
    warm_up = getattr(engine, "warm_up", None)  # local engine: ready copies for rollbacks
    if warm_up is not None:
        warm_up(project.engine_project_id, background=True)
    return version


def _start(run: JobRun, engine: Engine) -> Version:
    project = run.project
    with run.step("creating the engine project"):
        created = engine.project_create(name=f"checkpoints-{project.pk}-{project.name}")
        project.engine_project_id = created.project.id
        project.active_branch_id = created.branch.id
        project.endpoint_id = created.endpoint.id
        project.save(update_fields=["engine_project_id", "active_branch_id", "endpoint_id"])
        run.remember(engine_project_id=created.project.id)
    run.wait(
        engine,
        created.operations,
        verify=lambda: engine.branch_get(created.project.id, created.branch.id) is not None,
    )
    with run.step("storing the connection string"):
        services.connections_refresh(project=project, engine=engine)
    try:
        return _snapshot_and_record(run, engine, number=0)
    except EngineRefused as exc:
        raise _refused(run, engine, exc, snapshot_room.NOTHING_APPLIED) from exc


def run_start_demo(run: JobRun) -> None:
    """Also runs `Job.Kind.CREATE_PROJECT`: an engine project and the empty v0."""
    with _engine(run) as engine:
        version = _start(run, engine)
    run.record_activity(
        kind=Activity.Kind.START,
        to_version=version,
        detail=f"Engine project {run.project.engine_project_id} created; v0 saved.",
    )


def run_start_over(run: JobRun) -> None:
    project = run.project
    now = timezone.now()
    with _engine(run) as engine:
        old_engine_project = project.engine_project_id
        with run.step("deleting the engine project", old_engine_project):
            if old_engine_project:
                try:
                    engine.project_delete(old_engine_project)
                except EngineNotFound:
                    pass
            project.versions.filter(deleted_at__isnull=True).update(
                deleted_at=now, deleted_by=run.job.created_by
            )
            project.previews.filter(discarded_at__isnull=True).update(discarded_at=now)
            project.engine_project_id = project.active_branch_id = project.endpoint_id = ""
            project.current_version = None
            project.save(
                update_fields=[
                    "engine_project_id",
                    "active_branch_id",
                    "endpoint_id",
                    "current_version",
                ]
            )
        version = _start(run, engine)
    run.record_activity(
        kind=Activity.Kind.START_OVER,
        to_version=version,
        detail=f"Deleted engine project {old_engine_project or '(none)'} and its versions; "
        f"started again as {project.engine_project_id}.",
    )


def run_create_version(run: JobRun) -> None:
    """A version from the request's prompt and SQL (API), or the demo script's next step."""
    project = run.project
    request = run.result.get("request")
    if request:
        try:  # checked when the job was asked for; checked again right before it runs
            statements: Sequence[str] | Callable[[Any], Sequence[str]] = services.sql_split(
                request["sql"]
            )
        except version_sql.SqlRefused as refused:
            raise JobFailed(refused.message) from None
        number = services.version_number_after(project=project)
        prompt = request["prompt"]
        name = request["name"] or services.version_default_name(prompt=prompt, number=number)
    else:
        demo_number = services.version_next_number(project=project)
        if demo_number is None:
            raise JobFailed(services.NO_NEXT_VERSION.format(last=DEMO_STEPS[-1].number))
        script = demo_step(demo_number)
        assert script is not None
        number, name, prompt = demo_number, script.name, script.prompt

        def statements(conn: Any) -> list[str]:
            # Bring the schema from what the database holds up to this step; the
            # statements are idempotent, so a retried step is harmless.
            holds = demo.variant_from_connection(conn)
            return [sql for step in DEMO_STEPS[holds + 1 : demo_number + 1] for sql in step.sql]

    if request and request.get("timestamp"):
        as_of = datetime.fromisoformat(request["timestamp"])
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
    with _engine(run) as engine:
        _reconcile_active_branch(run, engine)
        run.cancel_check()
        capacity = _room(run, engine, label=f"v{number}")
        applied = False
        with run.step("applying the prompt", prompt):
            uri = _live_uri(project, engine)
            with connect(uri) as conn:  # one transaction: committed only if all succeed
                applied = _statements_apply(run, conn, statements) > 0
        try:
            version = _snapshot_and_record(
                run, engine, number=number, name=name, prompt=prompt, capacity=capacity
            )
        except Exception as exc:
            if _version_recorded(run):
                raise
            # All or nothing: the SQL is committed but no version holds it. Put the live
            # database back at the current version before reporting the failure.
            note = _undo_applied(run, engine, from_version) if applied else ""
            if isinstance(exc, EngineRefused):
                raise _refused(run, engine, exc, note or snapshot_room.NOTHING_APPLIED) from exc
            if note:
                raise JobFailed(_error_text(exc) + note, code=_error_code(exc)) from exc
            raise
    run.record_activity(
        kind=Activity.Kind.CREATE,
        from_version=from_version,
        to_version=version,
        detail=f"{version.label}: {prompt}",
    )
    return version


def _statements_apply(
    run: JobRun,
    conn: psycopg.Connection,
    statements: Sequence[str] | Callable[[Any], Sequence[str]],
) -> int:
    """Run `statements` in `conn`'s transaction under the statement timeout, cancellable;
    return how many ran.

    Raises (and so rolls the whole transaction back) on the first failure, on the timeout
    and on a cancel request, which is last checked just before the commit."""
    timeout = statement_timeout()
    conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout * 1000))])
    todo = list(statements(conn) if callable(statements) else statements)
    with StatementWatch(run, conn, timeout) as watch:
        for index, statement in enumerate(todo, 1):
            watch.statement_started = time.monotonic()
            try:
                if watch.cancelled:
                    raise JobCancelled(JOB_CANCELLED)
                conn.execute(statement)
            except psycopg.errors.QueryCanceled as exc:
                if watch.cancelled:
                    raise JobCancelled(JOB_CANCELLED) from None
                if watch.timed_out or "statement timeout" in str(exc):
                    raise SqlTimeout(
                        SQL_TIMEOUT.format(
                            number=index,
                            total=len(todo),
                            seconds=timeout,
                            statement=statement.strip()[:500],
                        )
                    ) from None
                raise _sql_failed(exc, index, todo) from None
            except psycopg.Error as exc:
                raise _sql_failed(exc, index, todo) from None
    run.cancel_check()  # the last point where stopping leaves nothing applied
    return len(todo)


def _sql_failed(exc: psycopg.Error, index: int, todo: list[str]) -> SqlFailed:
    error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return SqlFailed(
        SQL_FAILED.format(
            number=index, total=len(todo), error=error, statement=todo[index - 1].strip()[:500]
        )
    )


def _version_save_as_of(
    run: JobRun, *, number: int, name: str, prompt: str, as_of: datetime
) -> Version:
    """A version of the active branch as it was at `as_of` (engines with point in time).

    Nothing is applied and no manifest is read: the branch holds today's state, not then."""
    project = run.project
    from_version = project.current_version
    # The result banner says in one line what changed: "Rolled back from v3 to v1".
    run.remember(from_label=from_version.label if from_version else "")
    with _engine(run) as engine:
        _reconcile_active_branch(run, engine)
        capacity = _room(run, engine, label=f"v{number}")
        try:
            version = _snapshot_and_record(
                run, engine, number=number, name=name, prompt=prompt, as_of=as_of,
                capacity=capacity,
            )  # fmt: skip
        except EngineRefused as exc:
            raise _refused(run, engine, exc, snapshot_room.NOTHING_APPLIED) from exc
    run.record_activity(
        kind=Activity.Kind.CREATE,
        from_version=from_version,
        to_version=version,
        detail=f"{version.label}: {prompt}",
    )
    return version


def _while_locked[T](call: Callable[[], T], *, seconds: float = 15.0) -> T:
    """`call()`, tried again while the engine answers "locked": the project's own
    background work (warming the newest snapshots) holds the lock for a moment."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        try:
            return call()
        except EngineLocked:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _live_uri(project: AgentProject, engine: Engine) -> str:
    """The active branch's connection string from the engine, stored if it changed."""
    uri = engine.connection_uri(project.engine_project_id)
    if uri != project.connection_uri:
        project.connection_uri = uri
        AgentProject.objects.filter(pk=project.pk).update(connection_uri=uri)
    return uri


def _room(run: JobRun, engine: Engine, *, label: str) -> SnapshotCapacity:
    """Room for one more snapshot, checked before anything is applied (`snapshot_room`)."""
    try:
        return snapshot_room.room_ensure(run, engine, label=label)
    except snapshot_room.RoomFull as exc:
        raise _refused(run, engine, exc, snapshot_room.NOTHING_APPLIED, exc.capacity) from exc


def _refused(
    run: JobRun,
    engine: Engine,
    exc: EngineRefused,
    note: str,
    capacity: SnapshotCapacity | None = None,
) -> SnapshotRefused:
    """The job's error for a refused snapshot. A limit the count did not foresee is
    learnt: the snapshots the project holds now are what the plan allows."""
    if exc.reason == "limit" and (capacity is None or not capacity.full):
        try:
            seen = engine.snapshot_capacity(run.project.engine_project_id)
        except EngineError:
            seen = None
        if seen is not None:
            capacity = SnapshotCapacity(limit=seen.used, used=seen.used)
            run.remember(snapshot_limit_learned=seen.used)
    text = snapshot_room.refusal_text(engine, exc, capacity) + note
    return SnapshotRefused(text, code=snapshot_room.CODES.get(exc.reason, "snapshot_refused"))


def _version_recorded(run: JobRun) -> bool:
    snapshot_id = run.result.get("snapshot_id")
    return bool(
        snapshot_id
        and Version.objects.filter(project=run.project, snapshot_id=snapshot_id).exists()
    )


def _undo_applied(run: JobRun, engine: Engine, version: Version | None) -> str:
    """Restore `version` (the current one) into the active branch after the version step
    committed SQL it could not snapshot; return the sentence the job's error ends with.

    Like a rollback: the endpoint moves to the restored branch (the connection string does
    not change), the result is verified, the previous branch is deleted."""
    if version is None:
        return " The live database holds the applied SQL: there is no version to put back."
    project = run.project
    pid = project.engine_project_id
    snapshot_id = run.result.get("snapshot_id")
    if snapshot_id:  # made, but not verifiably in place: it must not count as a version
        try:
            engine.snapshot_delete(pid, snapshot_id)
        except EngineError:
            logger.warning("could not delete snapshot %s of a failed step", snapshot_id)
    old_branch = project.active_branch_id
    try:
        with run.step("undoing the prompt", f"restoring {version.label} into the active branch"):
            restore = engine.snapshot_restore(
                pid, version.snapshot_id, target_branch_id=old_branch, finalize_restore=True
            )
            orphan = restore.orphan_branch_id or old_branch
            run.remember(
                undo={"new_branch_id": restore.branch.id, "orphan_branch_id": orphan},
            )
        moved = lambda: _endpoint_branch_id(engine, project) == restore.branch.id  # noqa: E731
        run.wait(engine, restore.operations, name="restore operations", verify=moved)
        with run.step("verifying the undo", f"the live database serves {version.label}"):
            if not moved():
                raise JobFailed(ENDPOINT_NOT_MOVED)
            _adopt_branch(project, restore.branch.id, version)
            uri = _live_uri(project, engine)
            _wait_connectable(uri)
            _verify_version(uri, version)
    except Exception as exc:
        logger.warning("undo of job %s failed: %s", run.job.pk, _error_text(exc))
        return snapshot_room.NOT_UNDONE.format(label=version.label, error=_error_text(exc))
    try:
        _orphan_delete(run, engine, orphan)
    except Exception:  # a leftover branch: cleanup removes it
        logger.exception("could not delete branch %s after the undo", orphan)
    return snapshot_room.UNDONE.format(label=version.label)


def run_version_delete(run: JobRun) -> None:
    """Delete the version's engine snapshot; keep its row, marked deleted (who, when)."""
    version = run.job.target_version
    assert version is not None
    with _engine(run) as engine:
        with run.step("deleting the snapshot", version.snapshot_id):
            try:
                ops = engine.snapshot_delete(run.project.engine_project_id, version.snapshot_id)
            except EngineNotFound:
                ops = []
        run.wait(engine, ops)
    version.deleted_at = timezone.now()
    version.deleted_by = run.job.created_by
    version.save(update_fields=["deleted_at", "deleted_by"])
    run.record_activity(
        kind=Activity.Kind.DELETE,
        to_version=version,
        detail=f"{version.label} deleted; its snapshot {version.snapshot_id} is gone.",
    )


def run_rollback(run: JobRun) -> None:
    project = run.project
    target = run.job.target_version
    assert target is not None
    from_version = project.current_version
    # The result banner says in one line what changed: "Rolled back from v3 to v1".
    run.remember(from_label=from_version.label if from_version else "")
    with _engine(run) as engine:
        _reconcile_active_branch(run, engine)
        old_branch = project.active_branch_id
        with run.step("restore requested", f"{target.label} into the active branch"):
            restore = engine.snapshot_restore(
                project.engine_project_id,
                target.snapshot_id,
                target_branch_id=old_branch,
                finalize_restore=True,
            )
            orphan = restore.orphan_branch_id or old_branch
            run.remember(new_branch_id=restore.branch.id, orphan_branch_id=orphan)
        _repair_role(run, engine, restore.repaired)
        try:
            run.wait(
                engine,
                restore.operations,
                verify=lambda: _endpoint_branch_id(engine, project) == restore.branch.id,
            )
            with run.step("waiting for the endpoint"):
                if _endpoint_branch_id(engine, project) != restore.branch.id:
                    raise JobFailed(ENDPOINT_NOT_MOVED)
                _adopt_branch(project, restore.branch.id, target)
                uri = _live_uri(project, engine)
                if not getattr(engine, "serves_restore_at_once", False):
                    _wait_connectable(uri)  # e.g. a Neon compute restarting
        except Exception:
            # Record the swap only if it really happened: read it back from the engine.
            try:
                if _endpoint_branch_id(engine, project) == restore.branch.id:
                    _adopt_branch(project, restore.branch.id, target)
            except Exception:
                logger.exception("could not read back the endpoint of %s", project.pk)
            raise
        with run.step("verifying", f"the connection string serves {target.label}"):
            _verify_version(uri, target)
        keep_orphan = lifecycle.rollback_keeps_old_branch()
        if not keep_orphan:
            # Verified: the rollback is done for the user. Deleting the old branch (a DROP
            # DATABASE forces a checkpoint: seconds under load) happens right after.
            run.after_success(lambda: _orphan_delete(run, engine, orphan))
    run.record_activity(
        kind=Activity.Kind.ROLLBACK,
        from_version=from_version,
        to_version=target,
        detail=f"Active branch {old_branch} → {restore.branch.id}; "
        f"orphan {orphan} {'kept for cleanup' if keep_orphan else 'deleted once verified'}. "
        "Connection string unchanged.",
    )


def _orphan_delete(run: JobRun, engine: Engine, orphan: str) -> None:
    with run.step("cleaning up the old branch", orphan):
        try:
            delete_ops = engine.branch_delete(run.project.engine_project_id, orphan)
        except EngineNotFound:
            delete_ops = []
    run.wait(engine, delete_ops)


def _adopt_branch(project: AgentProject, branch_id: str, version: Version) -> None:
    project.active_branch_id = branch_id
    project.current_version = version
    project.save(update_fields=["active_branch_id", "current_version"])


def run_preview_open(run: JobRun) -> None:
    project = run.project
    target = run.job.target_version
    assert target is not None
    with _engine(run) as engine:
        with run.step("restore requested", f"{target.label} into a preview branch"):
            restore = engine.snapshot_restore(
                project.engine_project_id,
                target.snapshot_id,
                # The snapshot's source branch may be gone (a rollback's orphan): restore
                # next to the active branch, without touching it (no finalize).
                target_branch_id=project.active_branch_id,
                finalize_restore=False,
                name=f"preview-{target.label}-{run.job.pk}",
            )
            branch_id = restore.branch.id
            preview = Preview.objects.create(
                project=project,
                version=target,
                branch_id=branch_id,
                expires_at=_preview_expiry(run),
            )
            run.job.preview = preview
            Job.objects.filter(pk=run.job.pk).update(preview=preview)
            run.remember(preview_branch_id=branch_id)
        try:
            run.wait(
                engine,
                restore.operations,
                verify=lambda: engine.branch_get(project.engine_project_id, branch_id) is not None,
            )
            with run.step("creating the endpoint"):
                existing = [
                    e
                    for e in engine.endpoint_list(project.engine_project_id)
                    if e.branch_id == branch_id
                ]
                if existing:
                    endpoint_id, ops = existing[0].id, []
                else:
                    created = engine.endpoint_create(project.engine_project_id, branch_id)
                    endpoint_id, ops = created.endpoint.id, created.operations
                preview.endpoint_id = endpoint_id
                preview.save(update_fields=["endpoint_id"])
            run.wait(
                engine,
                ops,
                verify=lambda: any(
                    e.id == endpoint_id for e in engine.endpoint_list(project.engine_project_id)
                ),
            )
            with run.step("waiting for the endpoint"):
                uri = engine.connection_uri(project.engine_project_id, branch_id=branch_id)
                preview.connection_uri = uri
                preview.save(update_fields=["connection_uri"])
                _wait_connectable(uri)
            with run.step("verifying", f"the preview serves {target.label}"):
                _verify_version(uri, target)
        except Exception:
            _preview_drop(engine, preview)
            raise
    preview_expire.using(run_after=preview.expires_at).enqueue(preview.pk)
    run.record_activity(
        kind=Activity.Kind.PREVIEW,
        to_version=target,
        detail=f"Preview branch {branch_id} until {preview.expires_at:%H:%M} UTC.",
    )


def share_previews_ended() -> int:
    """Expire the previews of share links that ended (revoked or past their expiry), so
    the preview cleanup deletes their branches; return how many."""
    now = timezone.now()
    ended = ShareLink.objects.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now))
    return Preview.objects.filter(
        pk__in=ended.values("preview_id"), discarded_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)


def _preview_expiry(run: JobRun) -> datetime:
    """The preview TTL, or the share link's expiry for a share's preview."""
    until = (run.result.get("request") or {}).get("expires_at")
    return datetime.fromisoformat(until) if until else timezone.now() + services.preview_ttl()


def run_share_open(run: JobRun) -> None:
    """A share link's first open: a preview branch that lives as long as the link, and a
    read-only role on it that the shared view connects with."""
    share_id = run.result["request"]["share_id"]
    run_preview_open(run)
    preview = run.job.preview
    assert preview is not None
    with _engine(run) as engine:
        try:
            with run.step("creating the read-only role", "SELECT only"):
                engine.readonly_role_ensure(run.project.engine_project_id, preview.branch_id)
        except Exception:
            _preview_drop(engine, preview)
            raise
    ShareLink.objects.filter(pk=share_id).update(preview=preview)
    if not ShareLink.objects.get(pk=share_id).is_live:  # revoked meanwhile: cleanup drops it
        Preview.objects.filter(pk=preview.pk).update(expires_at=timezone.now())


def _preview_drop(engine: Engine, preview: Preview) -> None:
    """Best effort after a failed preview: delete its branch, mark it discarded."""
    try:
        engine.branch_delete(preview.project.engine_project_id, preview.branch_id)
    except Exception:
        logger.exception("could not delete preview branch %s", preview.branch_id)
    preview.discarded_at = timezone.now()
    preview.save(update_fields=["discarded_at"])


def run_preview_discard(run: JobRun) -> None:
    preview = run.job.preview
    assert preview is not None
    expired = run.job.created_by is None
    with _engine(run) as engine:
        with run.step("deleting the preview branch", preview.branch_id):
            try:
                ops = engine.branch_delete(run.project.engine_project_id, preview.branch_id)
            except EngineNotFound:
                ops = []
        run.wait(engine, ops)
    preview.discarded_at = timezone.now()
    preview.save(update_fields=["discarded_at"])
    run.record_activity(
        kind=Activity.Kind.EXPIRE if expired else Activity.Kind.DISCARD,
        to_version=preview.version,
        detail=f"Preview branch {preview.branch_id} deleted" + (" (expired)." if expired else "."),
    )


RUNNERS: dict[str, Callable[[JobRun], None]] = {
    Job.Kind.START_DEMO: run_start_demo,
    Job.Kind.START_OVER: run_start_over,
    Job.Kind.CREATE_VERSION: run_create_version,
    Job.Kind.ROLLBACK: run_rollback,
    Job.Kind.PREVIEW_OPEN: run_preview_open,
    Job.Kind.PREVIEW_DISCARD: run_preview_discard,
    Job.Kind.CREATE_PROJECT: run_start_demo,
    Job.Kind.VERSION_DELETE: run_version_delete,
    Job.Kind.CLEANUP: lifecycle.run_cleanup,
    Job.Kind.SHARE_OPEN: run_share_open,
}
