"""How a job fails: the exceptions a step raises and the stable codes the API shows."""

from __future__ import annotations

from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError, OperationTimeout

JOB_CANCELLED = "Cancelled on request: nothing was applied and no version was saved."


JOB_CANCELLED_EARLY = "Cancelled on request before it changed anything."


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


class SnapshotRefused(JobFailed):
    """The engine refused the version's snapshot (limit, quota, other 4xx): nothing saved,
    the live database as before. `code`: snapshot_limit | snapshot_quota | snapshot_refused."""


def error_code(exc: BaseException) -> str:
    """A stable code for how a job failed (kept in `Job.result["error_code"]` for the API)."""
    if isinstance(exc, JobFailed):
        return exc.code
    if isinstance(exc, OperationTimeout):
        return "engine_timeout"
    return "engine_error" if isinstance(exc, EngineError) else "job_failed"


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask_password(text)[:2000]
