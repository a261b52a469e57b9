"""Waiting for engine operations: the one place that knows which statuses are terminal.

Nobody connects to a branch before every operation of the step is terminal (the guide's
"do not connect yet"). `failed` is not final on Neon: its control plane retries failed
operations (`failures_count` grows, `retry_at` is set), so a failed operation is waited on
while a retry is pending and raised only once it stays failed past a grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from .base import CANCELLED, ERROR, FAILED, SUCCEEDED_STATUSES, Engine, Operation
from .errors import OperationFailed, OperationTimeout
from .op_timings import OperationTimings

OnChange = Callable[[Operation], None]


def wait_for_operations(
    engine: Engine,
    project_id: str,
    operations: Iterable[Operation],
    *,
    deadline: float = 300.0,
    on_change: OnChange | None = None,
    initial_interval: float = 0.2,
    max_interval: float = 0.4,
    growth: float = 1.5,
    failed_grace: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timings: OperationTimings | None = None,
) -> list[Operation]:
    """Poll until every operation is terminal; return their final states in input order.

    When `timings` (default: the engine's `operation_timings`, the process's memory) knows
    every pending action, the first poll comes half a cap interval before the slowest
    should end (from its `created_at`), then one per `max_interval`; else the interval
    grows from 0.2 s to a 0.4 s cap. Terminal operations cost no call; a finished one is
    noticed within half a second. With 2-s operations a rollback costs 15 API calls in a
    fresh process, 7 from its second on (the benchmark, on the emulator).

    Raises OperationFailed for `error`, and for `failed` with no retry pending after
    `failed_grace` seconds; OperationTimeout past `deadline`. A `cancelled` operation ends
    the wait without raising: the caller verifies the result instead of assuming it.
    """
    latest: dict[str, Operation] = {op.id: op for op in operations}
    order = list(latest)
    started = clock()
    failed_since: dict[str, float] = {}
    timings = engine.operation_timings if timings is None else timings
    remaining = timings.remaining(engine.name, _unfinished(latest))
    pauses = _pauses(remaining, initial_interval, max_interval, growth)
    for op in latest.values():
        _notify(on_change, op)
    while True:
        pending = _pending(latest, order, failed_since, failed_grace, clock)
        if not pending:
            return [latest[op_id] for op_id in order]
        waited = clock() - started
        if waited >= deadline:
            raise OperationTimeout([latest[op_id] for op_id in pending], waited)
        sleep(min(next(pauses), max(0.0, deadline - waited)))
        for fresh in engine.operations_get(project_id, pending):
            if _changed(latest[fresh.id], fresh):
                _notify(on_change, fresh)
                timings.learn(engine.name, fresh, clock() - started)
            latest[fresh.id] = fresh


def _pauses(remaining: float | None, initial: float, cap: float, growth: float) -> Iterator[float]:
    """The sleeps before each poll. Knowing the operations should end in `remaining`
    seconds: the first poll half a cap before that (but not sooner than `initial`, unless
    they are overdue), then one per cap. Else (a fresh process): growing from `initial` by
    `growth` up to the cap."""
    interval = initial
    if remaining is not None:
        yield max(remaining - cap / 2, min(remaining, initial))
        interval = cap
    while True:
        yield interval
        interval = min(interval * growth, cap)


def _changed(old: Operation, new: Operation) -> bool:
    return (old.status, old.failures_count) != (new.status, new.failures_count)


def _pending(
    latest: dict[str, Operation],
    order: list[str],
    failed_since: dict[str, float],
    failed_grace: float,
    clock: Callable[[], float],
) -> list[str]:
    """The operations not terminal yet; raises for `error`, and for `failed` with no
    retry pending past the grace period (`failed_since` notes when each was first seen)."""
    pending = [op_id for op_id in order if not _is_done(latest[op_id])]
    for op_id in pending:
        op = latest[op_id]
        if op.status == ERROR:
            raise OperationFailed(op)
        if op.status == FAILED:
            first_seen = failed_since.setdefault(op_id, clock())
            if not _retry_pending(op) and clock() - first_seen >= failed_grace:
                raise OperationFailed(op)
        else:
            failed_since.pop(op_id, None)
    return pending


def _unfinished(latest: dict[str, Operation]) -> list[Operation]:
    return [op for op in latest.values() if not _is_done(op)]


def _is_done(op: Operation) -> bool:
    return op.status in SUCCEEDED_STATUSES or op.status == CANCELLED


def _retry_pending(op: Operation) -> bool:
    return op.retry_at is not None and op.retry_at >= datetime.now(UTC)


def _notify(on_change: OnChange | None, op: Operation) -> None:
    if on_change is not None:
        on_change(op)
