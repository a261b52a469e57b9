"""Running an agent's SQL in one transaction: the statement timeout, cancel on request,
and the error that names the failing statement."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from checkpoints.jobs.failures import JOB_CANCELLED, JobCancelled, SqlFailed, SqlTimeout
from checkpoints.jobs.run import JobRun
from checkpoints.models import Job

SQL_FAILED = (
    "Statement {number} of {total} failed, nothing was applied and no version was saved: "
    "{error}\nStatement {number}: {statement}"
)


SQL_TIMEOUT = (
    "Statement {number} of {total} ran longer than the statement timeout ({seconds:g} s, "
    "setting CHECKPOINTS_STATEMENT_TIMEOUT) and was cancelled; nothing was applied and no "
    "version was saved.\nStatement {number}: {statement}"
)


CANCEL_POLL_SECONDS = 0.2


def statement_timeout() -> float:
    """Seconds a statement of an agent's SQL may run (setting CHECKPOINTS_STATEMENT_TIMEOUT;
    0 for no limit)."""
    return float(settings.CHECKPOINTS_STATEMENT_TIMEOUT)


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


def statements_apply(
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
