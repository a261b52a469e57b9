"""How a refusal reads to a program: an HTTP status, a stable `code` and a message.

The API answers it as `{"code", "message"}` JSON, the MCP server as a tool error with the
same code. Both map service and engine errors here, so a code means the same everywhere.
"""

from __future__ import annotations

from typing import Any

from checkpoints import services
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError, OperationTimeout
from checkpoints.errors import (
    JOB_NOT_FOUND,
    PREVIEW_NOT_FOUND,
    PROJECT_NOT_FOUND,
    SHARE_NOT_FOUND,
    VERSION_NOT_FOUND,
)
from checkpoints.security import input_guard

#: Largest id a bigint column holds; larger ids are simply not found.
MAX_ID = input_guard.MAX_ID
#: Largest version number (an integer column).
MAX_NUMBER = 2**31 - 1

NOT_FOUND = "Not found."
#: Seconds a `busy` refusal asks to wait before trying again (API: also `Retry-After`).
RETRY_AFTER_BUSY = 2
ENGINE_ERROR = "The database engine failed: {error}"
ENGINE_TIMEOUT = "The database engine did not finish in time: {error}"

#: Service refusals whose message has its own code (status, code).
SERVICE_CODES = {
    services.VERSION_DELETED: (422, "version_deleted"),
    services.VERSION_EXPIRED: (422, "version_expired"),
    services.PREVIEW_GONE: (422, "preview_gone"),
    services.NOT_STARTED: (409, "not_ready"),
}


class Refusal(Exception):
    """A refusal with its status, stable code, message and extra answer fields."""

    def __init__(
        self, status: int, code: str, message: str, details: dict | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details
        self.extra = extra


def not_found() -> Refusal:
    return Refusal(404, "not_found", NOT_FOUND)


def project_not_found(pk: int) -> Refusal:
    """The one answer for a missing project (or another team's) on every door."""
    return Refusal(404, "not_found", PROJECT_NOT_FOUND.format(id=pk))


def version_not_found(project_pk: int, number: int) -> Refusal:
    return Refusal(404, "not_found", VERSION_NOT_FOUND.format(project=project_pk, number=number))


def preview_not_found(project_pk: int, pk: int) -> Refusal:
    return Refusal(404, "not_found", PREVIEW_NOT_FOUND.format(project=project_pk, id=pk))


def share_not_found(project_pk: int, pk: int) -> Refusal:
    return Refusal(404, "not_found", SHARE_NOT_FOUND.format(project=project_pk, id=pk))


def job_not_found(project_pk: int, pk: int) -> Refusal:
    return Refusal(404, "not_found", JOB_NOT_FOUND.format(project=project_pk, id=pk))


def service_refusal(error: services.ServiceError) -> Refusal:
    if isinstance(error, services.ProjectBusy):
        job_id = error.job.pk if error.job is not None else None
        return Refusal(409, "busy", error.message, job_id=job_id, retry_after=RETRY_AFTER_BUSY)
    if isinstance(error, services.NotAllowed):
        return Refusal(403, "forbidden", error.message)
    if isinstance(error, services.JobNotRunning):
        return Refusal(409, "not_running", error.message)
    if error.code:
        return Refusal(error.status, error.code, error.message)
    status, code = SERVICE_CODES.get(error.message, (400, "invalid"))
    return Refusal(status, code, error.message)


def engine_refusal(error: EngineError) -> Refusal:
    text = mask_password(str(error))
    if isinstance(error, OperationTimeout):
        return Refusal(504, "engine_timeout", ENGINE_TIMEOUT.format(error=text))
    return Refusal(502, "engine_error", ENGINE_ERROR.format(error=text))
