"""Jobs as events: PostgreSQL NOTIFY when a job is queued or changes, LISTEN to wait.

- `QUEUE_CHANNEL`: a task was enqueued: an idle worker wakes at once instead of at its
  next poll (`checkpoints.worker`).
- `JOB_CHANNEL`: a job row changed (a step, its state, a cancel request; payload: the
  job id): a status request waiting for the job answers at once instead of polling.

Both are sent by triggers (migration 0004) in the transaction that inserts the task or
updates the job, so they cost no extra round trip and no writer can forget them.

Notifications are a hint, never the truth: whoever waits re-reads the row, and waits at
most its timeout (the poll interval), so a lost notification only costs that timeout.

The module also holds the metadata database's advisory locks: a job's worker holds its
project's lock while it runs (so a job whose heartbeat stopped is reaped only once its
worker is really gone), and `wait_slot` bounds how many waits one token or user holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection, connections

QUEUE_CHANNEL = "checkpoints_queue"
JOB_CHANNEL = "checkpoints_job"

#: advisory lock namespaces (the first key of the two-key form); the second is an id
PROJECT_LOCK = 0x43504A01  # a job of project <id> is being run by a live worker
WAIT_SLOT_TOKEN = 0x43505410  # + slot number: a ?wait of API token <id>
WAIT_SLOT_USER = 0x43505510  # + slot number: a status wait of user <id>


def metadata_connect() -> psycopg.Connection:
    """A connection of its own to the metadata database (autocommit), e.g. to LISTEN."""
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


class Listener:
    """LISTEN on `channel` on a connection of its own; `wait` for the next notification."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.conn = metadata_connect()
        self.conn.execute(f"LISTEN {channel}")

    def wait(self, timeout: float, *, payload: str | None = None) -> bool:
        """Block until a notification (with `payload`, if given) or `timeout` seconds.

        Answers whether one came. Notifications already received are consumed first."""
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for note in self.conn.notifies(timeout=remaining, stop_after=1):
                if payload is None or note.payload == payload:
                    return True
            if time.monotonic() >= deadline:
                return False

    def drain(self) -> None:
        """Forget the notifications received so far (the caller is about to look anyway)."""
        for _ in self.conn.notifies(timeout=0):
            pass

    def close(self) -> None:
        self.conn.close()


def job_wait(job_id: int, seconds: float, *, done: Callable[[], bool]) -> None:
    """Return as soon as `done()` (re-checked on each change of job `job_id`) or `seconds`."""
    if seconds <= 0 or done():
        return
    listener = Listener(JOB_CHANNEL)
    try:
        deadline = time.monotonic() + seconds
        # LISTEN is in place: a change from now on is not missed. Look once more.
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not listener.wait(remaining, payload=str(job_id)):
                return
    finally:
        listener.close()


@contextmanager
def wait_slot(namespace: int, owner_id: int, *, slots: int) -> Iterator[bool]:
    """Hold one of `slots` waiting slots of `owner_id` (across every web process) while
    the block runs; yields False (hold nothing) when all are taken."""
    held = None
    with connection.cursor() as cursor:
        for slot in range(slots):
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace + slot, owner_id])
            if cursor.fetchone()[0]:
                held = slot
                break
    try:
        yield held is not None
    finally:
        if held is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace + held, owner_id])


class ProjectLock:
    """The session-level advisory lock a worker holds on a project while it runs its job.

    Held on a connection of its own: if the worker process dies, PostgreSQL drops the
    connection and the lock with it, and only then may the job be reaped."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.conn: psycopg.Connection | None = None

    def __enter__(self) -> ProjectLock:
        try:
            self.conn = metadata_connect()
            row = self.conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [PROJECT_LOCK, self.project_id]
            ).fetchone()
        except psycopg.Error:  # the job still runs; the reaper then goes by the heartbeat
            self.conn = None
            return self
        if not (row and row[0]):  # only if a reaped job's worker lives on: do not wait for it
            self.conn.close()
            self.conn = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()


def projects_locked() -> set[int]:
    """The projects whose lock a live worker holds now (its job is really running)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objsubid = 2"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [PROJECT_LOCK],
        )
        return {row[0] for row in cursor.fetchall()}


def project_lock_free(project_id: int) -> bool:
    """Whether no live worker holds project `project_id`'s lock (call in a transaction:
    the probe is a transaction lock, released at its end)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PROJECT_LOCK, project_id])
        return bool(cursor.fetchone()[0])
