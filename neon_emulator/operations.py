"""Emulated operations: their phases, Neon's 423 lock, the operations list."""

from __future__ import annotations

import uuid
from typing import Any

from checkpoints.engines.operations import wait_for_operations

from .model import (
    CANCEL,
    ERROR,
    HANG,
    LOCKED_MESSAGE,
    NORMAL,
    RETRY,
    STAY_FAILED,
    EmulatedOperation,
    _Phase,
    _ProjectMeta,
    _Reply,
)
from .shapes import (
    _int,
    _ts,
)


class _Operations:
    def _meta(self, project_id: str) -> _ProjectMeta:
        meta = self._projects.get(project_id)
        caller = getattr(self, "_caller", None)
        # Another account's project is as unknown as a missing one (Neon answers 404).
        if meta is None or (caller is not None and meta.account != caller):
            raise _Reply(404, "project not found")
        return meta

    # ------------------------------------------------------------- operations

    def _ensure_not_locked(self, meta: _ProjectMeta) -> None:
        now = self.clock()
        for op_id in meta.operations:
            phase = self._operations[op_id].phase(now)
            busy = phase.status in ("scheduling", "running", "cancelling")
            retrying = phase.status == "failed" and phase.retry_at is not None
            if busy or retrying:
                raise _Reply(423, LOCKED_MESSAGE)

    def _plan(self, action: str) -> tuple[str, str]:
        for index, (wanted, mode, count, error) in enumerate(self._op_plans):
            if wanted in (None, action):
                if count <= 1:
                    del self._op_plans[index]
                else:
                    self._op_plans[index] = (wanted, mode, count - 1, error)
                return mode, error
        return NORMAL, ""

    def _new_op(
        self,
        meta: _ProjectMeta,
        action: str,
        *,
        branch_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> dict[str, Any]:
        d = self.op_durations.get(action, self.op_duration)
        r = self.retry_delay if self.retry_delay is not None else d
        mode, error = self._plan(action)
        start = [_Phase(0.0, "scheduling"), _Phase(d * 0.25, "running")]
        phases = {
            NORMAL: [*start, _Phase(d, "finished")],
            RETRY: [
                *start,
                _Phase(d, "failed", 1, error, retry_at=d + r),
                _Phase(d + r, "running", 1, None, retry_at=d + r),
                _Phase(d + r + d / 2, "finished", 1, None, retry_at=d + r),
            ],
            STAY_FAILED: [*start, _Phase(d, "failed", 1, error)],
            ERROR: [*start, _Phase(d, "error", 0, error)],
            HANG: start,
            CANCEL: [*start, _Phase(d * 0.5, "cancelling"), _Phase(d, "cancelled", 0, error)],
        }[mode]
        if d == 0 and mode == NORMAL:
            phases = [_Phase(0.0, "finished")]
        op = EmulatedOperation(
            id=str(uuid.uuid4()),
            project_id=meta.project.id,
            action=action,
            created=self.clock(),
            phases=phases,
            branch_id=branch_id,
            endpoint_id=endpoint_id,
        )
        self._operations[op.id] = op
        meta.operations.append(op.id)
        return op.to_json(op.created)

    def _wait_backend(self, project_id: str, operations: list) -> None:
        if operations:
            wait_for_operations(self.backend, project_id, operations, deadline=120.0)

    def _operation_list(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        limit = _int(query.get("limit"), 10, 1, 1000)
        ops = sorted(
            (self._operations[i] for i in meta.operations),
            key=lambda o: o.created,
            reverse=True,
        )
        cursor = query.get("cursor")
        if cursor:
            ops = [o for o in ops if _ts(o.created, micro=True) < cursor]
        page = ops[:limit]
        now = self.clock()
        last = page[-1].created if page else now
        return 200, {
            "operations": [o.to_json(now) for o in page],
            "pagination": {"cursor": _ts(last, micro=True)},
        }
