"""Typed engine errors: what services catch and views turn into readable messages.

Messages never contain credentials: engines pass connection URIs through `mask_password`
before they put one in an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Operation


class EngineError(Exception):
    """Anything an engine could not do. `status`, `code`, `request_id` come from Neon, and
    `reply`: what Neon's answer said, without the method and path `message` names."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        reply: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.reply = reply

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class EngineNotFound(EngineError):
    """The project, branch, snapshot, endpoint or operation does not exist."""


class EngineLocked(EngineError):
    """Another mutating operation is running on the project (Neon answers 423)."""


class EngineNotSupported(EngineError):
    """The engine cannot do this (e.g. point-in-time snapshots on the local engine)."""


class EngineInvalidRequest(EngineError):
    """The request breaks a rule: snapshot of a non-root branch, deleting a parent branch…"""


class EngineRefused(EngineError):
    """The engine will not make a snapshot (or branch…) for a reason of the account or plan:
    Neon's snapshot limit, a quota, or another 4xx answer to the creation.

    `reason` is "limit", "quota" or "refused". Nothing was made: the request may succeed
    once there is room (a snapshot deleted, a restore window set)."""

    def __init__(self, message: str, *, reason: str = "refused", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class EngineTransientError(EngineError):
    """A failure worth retrying later: connection dropped, 5xx, rate limited."""


class OperationFailed(EngineError):
    """An operation ended in `failed`/`error` (or was cancelled and the result is missing)."""

    def __init__(self, operation: Operation, message: str | None = None) -> None:
        text = message or (
            f"operation {operation.action} ({operation.id}) {operation.status}"
            + (f": {operation.error}" if operation.error else "")
        )
        super().__init__(text)
        self.operation = operation


class OperationTimeout(EngineError):
    """Operations did not reach a terminal state before the deadline."""

    def __init__(self, pending: list[Operation], waited: float) -> None:
        names = ", ".join(f"{op.action} ({op.id}) {op.status}" for op in pending)
        super().__init__(f"operations still not done after {waited:.1f}s: {names}")
        self.pending = pending
