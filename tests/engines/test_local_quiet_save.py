"""A save never interrupts the app (issue 31): an app keeping a pool of connections busy
on the live database sees no error through any number of saves; a table the agent holds
ACCESS EXCLUSIVE fails the save with a lock timeout instead of hanging."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from checkpoints.engines.connect import run_sql
from checkpoints.engines.errors import EngineError
from checkpoints.engines.local import LocalEngine
from checkpoints.engines.local.session import SessionLimits
from checkpoints.jobs.locked import is_lock_wait
from tests.postgres_plugin import engine_url

POOL = 4
SAVES = 20


class App:
    """A pool of `POOL` connections, each reading and writing in a loop; one of them
    opens a new connection for every round (as a pool replacing connections does).
    Every error is kept: the test fails on any."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.errors: list[str] = []
        self.rounds = [0] * POOL
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(POOL)]

    def _run(self, index: int) -> None:
        conn: psycopg.Connection | None = None
        while not self.stop.is_set():
            try:
                if conn is None or index == 0:
                    if conn is not None:
                        conn.close()
                    conn = psycopg.connect(self.uri, autocommit=True)
                conn.execute("INSERT INTO hits (worker) VALUES (%s)", (index,))
                conn.execute("SELECT count(*) FROM hits WHERE worker = %s", (index,)).fetchone()
                self.rounds[index] += 1
            except psycopg.Error as error:
                self.errors.append(f"worker {index}: {error}")
                conn = None
        if conn is not None:
            conn.close()

    def wait_rounds(self, after: list[int], timeout: float = 60) -> None:
        """Wait until every connection went round at least once more than `after`."""
        deadline = time.monotonic() + timeout
        while any(now <= then for now, then in zip(self.rounds, after, strict=True)):
            assert not self.errors, self.errors[:3]
            assert time.monotonic() < deadline, "the app made no progress"
            time.sleep(0.005)

    @contextmanager
    def running(self) -> Iterator[App]:
        for thread in self.threads:
            thread.start()
        try:
            self.wait_rounds([0] * POOL)
            yield self
        finally:
            self.stop.set()
            for thread in self.threads:
                thread.join()


def test_an_app_busy_on_the_live_database_sees_no_error_through_saves(local: LocalEngine):
    made = local.project_create(name="busy app")
    pid, branch = made.project.id, made.branch.id
    uri = local.connection_uri(pid)
    run_sql(uri, "CREATE TABLE hits (id bigserial PRIMARY KEY, worker int NOT NULL)")
    app = App(uri)
    snapshots = []
    with app.running():
        for n in range(SAVES):
            before = list(app.rounds)
            snapshots.append(local.snapshot_create(pid, branch, name=f"v{n + 1}").snapshot)
            app.wait_rounds(before)  # the app kept working through the save
            before = list(app.rounds)
        assert app.errors == []
    assert app.errors == []
    # What a save holds is the live database at one moment: restored, it is whole.
    live_rows = run_sql(uri, "SELECT count(*) FROM hits")[0][0]
    restored = local.snapshot_restore(pid, snapshots[-1].id, name="check").branch
    local.endpoint_create(pid, restored.id)
    (rows,) = run_sql(
        local.connection_uri(pid, branch_id=restored.id), "SELECT count(*) FROM hits"
    )[0]
    assert 0 < rows <= live_rows
    assert [s.id for s in local.snapshot_list(pid)] == [s.id for s in snapshots]


@pytest.fixture
def impatient(pg_server) -> Iterator[LocalEngine]:
    """An engine giving up on a lock after 1 s."""
    engine = LocalEngine(
        engine_url(), control_db="ckt_quietlock", session_limits=SessionLimits("1s", "15min")
    )
    try:
        yield engine
    finally:
        engine.destroy()


def test_a_save_behind_the_agents_lock_fails_with_a_lock_timeout(impatient: LocalEngine):
    made = impatient.project_create(name="locked")
    pid, branch = made.project.id, made.branch.id
    uri = impatient.connection_uri(pid)
    run_sql(uri, "CREATE TABLE contacts (id int)")
    with psycopg.connect(uri) as agent:
        agent.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(EngineError) as failed:
            impatient.snapshot_create(pid, branch, name="v1")
    assert is_lock_wait(failed.value), str(failed.value)
    assert impatient.snapshot_list(pid) == []
    # Nothing left behind: the lock gone, the next save works.
    impatient.snapshot_create(pid, branch, name="v1")
    assert [s.name for s in impatient.snapshot_list(pid)] == ["v1"]
