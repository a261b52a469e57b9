"""One job's run: claim it (once), run the runner registered for its kind, record how it
ended. A job runs at most once: `job_execute` claims it with a conditional UPDATE, and a
job left running by a dead worker is failed by `job_reaper.jobs_fail_stale`, never
re-run. States only move forward (`job_state.job_transition`).

Each kind's runner is in its own module of this package, found by its kind:
`grep -rn "Kind.ROLLBACK" checkpoints/jobs` → `@runner(Job.Kind.ROLLBACK)` in rollback.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from checkpoints import connections, tasks
from checkpoints.activity import activity_record
from checkpoints.engines.base import CANCELLED, SUCCEEDED_STATUSES, Engine, Operation
from checkpoints.engines.errors import OperationFailed
from checkpoints.engines.operations import wait_for_operations
from checkpoints.jobs import locked
from checkpoints.jobs.failures import (
    JOB_CANCELLED,
    JOB_CANCELLED_EARLY,
    JobCancelled,
    error_code,
    error_text,
)
from checkpoints.jobs.heartbeat import Heartbeat
from checkpoints.jobs.registry import RUNNERS, runner  # noqa: F401 (runners import it from here)
from checkpoints.jobs.role_state import role_state_repair
from checkpoints.jobs.webhook_delivery import webhook_job_finished
from checkpoints.lifecycle import listing
from checkpoints.models import Activity, AgentProject, Job, Version
from checkpoints.queue.job_state import job_transition

logger = logging.getLogger(__name__)


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
        entry: dict[str, Any] = {"name": name, "state": "running", "started_at": _now_iso()}
        entry.update(finished_at=None, detail=detail)
        self.steps.append(entry)
        self._save()
        try:
            yield entry
        except BaseException as exc:
            entry.update(state="failed", finished_at=_now_iso(), detail=error_text(exc))
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
        activity_record(
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


@contextmanager
def engine_of(run: JobRun) -> Iterator[Engine]:
    """The project's engine, its role put back first. Shared per process: never closed."""
    engine = connections.engine_for(project=run.project)
    role_state_repair(run, engine)
    yield engine


@tasks.handles("job_run")
def job_execute(job_id: int) -> None:
    """Claim the job (once), run its steps, record how it ended, then clean up previews."""
    project_id = Job.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
    if project_id is None:
        logger.warning("job %s is gone: nothing to run", job_id)
        return
    # The project's lock before the claim: a running job whose lock nobody holds is one a
    # stopped worker left (job_fair does not count it, the reaper fails it).
    with Heartbeat(job_id, project_id):
        now = timezone.now()
        if not job_transition(job_id, Job.State.RUNNING, started_at=now, heartbeat_at=now):
            logger.warning("job %s is not queued any more: not running it again", job_id)
            return
        job = Job.objects.select_related("project", "target_version", "preview", "created_by").get(
            pk=job_id
        )
        run = JobRun(job)
        succeeded = _job_steps(run)
    # After the lock is released: a job this queues (a tier move) is one a live worker
    # takes with its lock, as any other.
    if succeeded:
        for work in run.afterwards:
            try:
                work()
            except Exception:  # left for cleanup, which retries it
                logger.exception("housekeeping after job %s failed", job_id)
    listing.listing_refresh_after_job(run.project)
    tasks.previews_cleanup_expired()
    tasks.cleanup_schedule_ensure()  # the periodic cleanup starts with the first job


def _job_steps(run: JobRun) -> bool:
    """Run the job's runner and record how it ended; whether it succeeded."""
    job = run.job
    try:
        run.cancel_check()
        RUNNERS[job.kind](run)
    except JobCancelled as exc:
        logger.info("job %s (%s) cancelled", job.pk, job.kind)
        run.result["error_code"] = exc.code
        job_finish(run, state=Job.State.CANCELLED, error=str(exc))
    except Exception as caught:
        failure = locked.readable(caught, run.project)
        logger.warning("job %s (%s) failed: %s", job.pk, job.kind, error_text(failure))
        run.result["error_code"] = error_code(failure)
        job_finish(run, state=Job.State.FAILED, error=error_text(failure))
    else:
        job_finish(run, state=Job.State.SUCCEEDED)
        return True
    return False


def job_finish(run: JobRun, *, state: str, error: str = "") -> None:
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
    webhook_job_finished(run.job.pk)
    if state == Job.State.FAILED:
        run.record_activity(
            kind=Activity.Kind.FAILED,
            to_version=run.job.target_version,
            detail=f"{run.job.get_kind_display()} failed: {error}",
        )
