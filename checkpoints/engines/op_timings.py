"""How long engine operations take, learned from the ones a wait saw finish.

`wait_for_operations` records every operation it saw pending and then `finished`, keyed by
engine name and action, and asks here when the pending ones should finish. The worker
is a long-lived process: from its second rollback on, it sleeps until shortly before the
operations should end instead of polling from the start. A fresh process knows nothing and
polls as it always did.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from .types import FINISHED, Operation

#: Recent durations kept per (engine, action).
WINDOW = 9
#: No estimate exceeds this (seconds): one action that once took minutes must not make
#: every later wait sleep that long before its first poll.
MAX_ESTIMATE = 30.0


class OperationTimings:
    """Recent durations of finished operations per (engine, action); thread-safe."""

    def __init__(self, *, window: int = WINDOW, cap: float = MAX_ESTIMATE) -> None:
        self._window = window
        self._cap = cap
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str], deque[float]] = {}

    def record(self, engine: str, action: str, seconds: float) -> None:
        with self._lock:
            recent = self._recent.setdefault((engine, action), deque(maxlen=self._window))
            recent.append(max(0.0, seconds))

    def learn(self, engine: str, op: Operation, observed: float) -> None:
        """Record a finished operation; `observed`: seconds from the wait's start until it
        saw it finished. Retried operations are not typical of their action: skipped."""
        if op.status == FINISHED and op.failures_count == 0:
            self.record(engine, op.action, took(op, observed))

    def estimate(self, engine: str, action: str) -> float | None:
        """The lower quartile of the recent durations, capped; None: never seen.

        A low quantile rather than the median: an operation slower than the estimate costs
        a poll or two at the cap interval, one faster than it is noticed late."""
        with self._lock:
            recent = sorted(self._recent.get((engine, action), ()))
        if not recent:
            return None
        return min(recent[(len(recent) - 1) // 4], self._cap)

    def remaining(self, engine: str, pending: Iterable[Operation]) -> float | None:
        """Seconds until the slowest pending operation should finish (0: overdue), each
        counted from its `created_at`; None when one of them has no estimate."""
        now = datetime.now(UTC)
        remaining = 0.0
        for op in pending:
            expected = self.estimate(engine, op.action)
            if expected is None:
                return None
            remaining = max(remaining, expected - age(op, now))
        return remaining

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()


def took(op: Operation, observed: float) -> float:
    """How long a finished operation took: Neon's own figure when it gives one
    (`total_duration_ms`, else `updated_at - created_at`), else as the wait observed it."""
    if op.total_duration_ms > 0:
        return op.total_duration_ms / 1000
    stamped = (op.updated_at - op.created_at).total_seconds()
    return stamped if stamped > 0 else observed


def age(op: Operation, now: datetime) -> float:
    """How long `op` has existed at `now`, never more. Neon's timestamps have whole seconds:
    such a `created_at` may be up to 1 s before the operation began, so that second is not
    counted (counting it would wake a wait on a fresh operation up to 1 s early)."""
    slack = 0.0 if op.created_at.microsecond else 1.0
    return max(0.0, (now - op.created_at).total_seconds() - slack)


#: The process's memory, shared by every wait that is not given its own.
OPERATION_TIMINGS = OperationTimings()
