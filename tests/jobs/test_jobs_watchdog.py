"""What the shared server gives is bounded per project role: the worker's watchdog ends a
role's sessions when it fills the lock table with session advisory locks (every other
team's connection failed with "out of shared memory"), and a project past its disk quota
turns read-only while another does not."""

from __future__ import annotations

import re
import time

import psycopg
import pytest
from django.db import OperationalError, connection
from django.tasks import task

from checkpoints import services
from checkpoints.engines import get_engine
from checkpoints.engines.local import watchdog
from checkpoints.jobs import locked
from checkpoints.lifecycle.diff import live_unreadable
from checkpoints.models import Activity, Job
from checkpoints.queue import job_watchdog
from checkpoints.views.app_panel import locked_read_message
from tests.conftest import worker_threads
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


@pytest.fixture
def two_teams():
    ada, bob = user_make("ada"), user_make("bob")
    hog, other = project_demo(ada, versions=1), project_demo(bob, versions=1)
    yield (ada, hog), (bob, other)
    for project in (hog, other):
        engine_project_drop(project)


def _until(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except OperationalError:  # the lock table is full: this connection fails too
            found = None
            connection.close()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the condition did not come true")


def _job_done(job: Job) -> Job:
    return _until(lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINISHED).first())


def test_a_role_filling_the_lock_table_is_ended_and_another_project_works(two_teams, settings):
    settings.CHECKPOINTS_ROLE_ADVISORY_LOCKS = 500
    (_, hog), (bob, other) = two_teams
    agent = psycopg.connect(services.project_connection_uri(project=hog), autocommit=True)
    try:
        _fill_and_watch(agent, hog, other, bob)
    finally:
        agent.close()  # a failure here must not leave the server's lock table full


def _fill_and_watch(agent, hog, other, bob) -> None:
    with worker_threads(1):  # its watchdog thread looks every 2 s
        # It has looked once since the project was made (it knows the role by its oid).
        _until(
            lambda: (
                hog.engine_project_id
                in {p for known in watchdog._known_roles.values() for p, _ in known.values()}
            )
        )
        try:  # session locks outlive the statement that failed taking more
            agent.execute("SELECT pg_advisory_lock(g) FROM generate_series(1, 200000) g")
        except psycopg.errors.OutOfMemory:
            pass  # the lock table is full: every other connection fails now
        entry = _until(
            lambda: Activity.objects.filter(project=hog, kind=Activity.Kind.LIMIT).first()
        )
        saved = _job_done(
            services.version_create(project=other, user=bob, prompt="t", sql="create table t ()")
        )
        assert saved.state == Job.State.SUCCEEDED, saved.error
        other.refresh_from_db()
        back = _job_done(
            services.version_rollback(project=other, version=other.versions.get(number=1), user=bob)
        )
        assert back.state == Job.State.SUCCEEDED, back.error
        preview = _job_done(
            services.preview_open(project=other, version=other.versions.get(number=2), user=bob)
        )
        assert preview.state == Job.State.SUCCEEDED, preview.error
    held = int(re.search(r"it held (\d+) advisory locks, past the cap of 500", entry.detail)[1])
    assert held > 5000, entry.detail
    assert agent.closed or _ended(agent)
    assert not Activity.objects.filter(project=other, kind=Activity.Kind.LIMIT).exists()


def test_the_watchdog_has_its_own_connection_when_the_engines_failed_on_a_full_lock_table(
    two_teams, settings
):
    settings.CHECKPOINTS_ROLE_ADVISORY_LOCKS = 500
    (_, hog), _ = two_teams
    engine = get_engine("local")
    assert job_watchdog.watchdog_run() == []  # a round before: it knows the roles
    agent = psycopg.connect(services.project_connection_uri(project=hog), autocommit=True)
    try:
        with pytest.raises(psycopg.errors.OutOfMemory):
            agent.execute("SELECT pg_advisory_lock(g) FROM generate_series(1, 200000) g")
        # A job meanwhile: it takes the engine's connection, fails, and that one is closed.
        version = hog.versions.get(number=1)
        with pytest.raises(Exception, match="out of shared memory") as engine_failed:
            engine.snapshot_rename(hog.engine_project_id, version.snapshot_id, "renamed")
        with pytest.raises(psycopg.errors.OutOfMemory) as full:
            agent.execute("SELECT pg_advisory_lock(0)")
        said = str(locked.readable(full.value, hog))  # what such a job fails with, as read
        assert "lock table was full" in said and "= 500" in said and "HINT" not in said
        # The page's own reads say the same: the App tab, a rollback's comparison.
        assert locked_read_message(full.value, uri="") == said
        assert live_unreadable(full.value) == said
        assert job_watchdog.lock_table_full(engine_failed.value) == said  # the engine's cards
        done = job_watchdog.watchdog_run()
        assert [(o.what, o.project_id) for o in done] == [("advisory locks", hog.engine_project_id)]
        assert _ended(agent)
    finally:
        agent.close()


_agents: list[psycopg.Connection] = []


@task()
def lock_table_fill(uri: str) -> None:
    """An agent's connection (kept open) fills the server's lock table while the worker runs
    this task: the worker's own write of the task's end then fails, "out of shared memory"."""
    agent = psycopg.connect(uri, autocommit=True)
    _agents.append(agent)
    try:
        agent.execute("SELECT pg_advisory_lock(g) FROM generate_series(1, 200000) g")
    except psycopg.errors.OutOfMemory:
        pass


def test_a_lock_table_filled_while_a_task_runs_leaves_the_worker_and_its_watchdog_going(
    two_teams, settings
):
    settings.CHECKPOINTS_ROLE_ADVISORY_LOCKS = 500
    (_, hog), (bob, other) = two_teams
    try:
        with worker_threads(1):
            _until(
                lambda: (
                    hog.engine_project_id
                    in {p for known in watchdog._known_roles.values() for p, _ in known.values()}
                )
            )
            lock_table_fill.enqueue(services.project_connection_uri(project=hog))
            _until(lambda: _agents)
            _until(lambda: Activity.objects.filter(project=hog, kind=Activity.Kind.LIMIT).first())
            saved = _job_done(
                services.version_create(
                    project=other, user=bob, prompt="t", sql="create table t ()"
                )
            )
            assert saved.state == Job.State.SUCCEEDED, saved.error
    finally:
        while _agents:
            _agents.pop().close()


def _ended(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def _live_size(project) -> int:
    size = watchdog.live_size(get_engine("local"), project.engine_project_id)
    assert size is not None
    return size


def test_a_project_past_its_disk_quota_turns_read_only_and_another_does_not(two_teams, settings):
    (ada, hog), (bob, other) = two_teams
    with psycopg.connect(services.project_connection_uri(project=hog)) as agent:
        agent.execute(
            "CREATE TABLE big AS SELECT repeat('x', 900) AS pad FROM generate_series(1, 12000)"
        )
    quota = max(_live_size(other), _live_size(hog) - 4 * MB) + MB // 2
    assert _live_size(other) < quota < _live_size(hog)
    settings.CHECKPOINTS_PROJECT_DISK_QUOTA_MB = quota / MB

    done = job_watchdog.watchdog_run()
    assert [(o.what, o.project_id) for o in done] == [("read-only", hog.engine_project_id)]
    entry = Activity.objects.get(project=hog, kind=Activity.Kind.LIMIT)
    assert "past the project's disk quota" in entry.detail and "read-only now" in entry.detail
    assert job_watchdog.watchdog_run() == []  # once is enough

    with (
        psycopg.connect(services.project_connection_uri(project=hog)) as agent,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        agent.execute("INSERT INTO big VALUES ('more')")
    with psycopg.connect(services.project_connection_uri(project=other)) as fine:
        fine.execute("CREATE TABLE still_writable (id int)")
    refused = services.version_create(project=hog, user=ada, prompt="x", sql="create table y ()")
    jobs_run_queued()
    refused.refresh_from_db()
    assert refused.state == Job.State.FAILED
    assert refused.result["error_code"] == "disk_quota"
    assert "over its disk quota" in refused.error and "read-only" in refused.error


def test_a_project_that_lifts_read_only_for_itself_and_keeps_growing_is_ended_again(
    two_teams, settings
):
    (ada, hog), _ = two_teams
    quota = _live_size(hog) + MB
    settings.CHECKPOINTS_PROJECT_DISK_QUOTA_MB = quota / MB
    uri = services.project_connection_uri(project=hog)
    with psycopg.connect(uri) as agent:
        agent.execute(
            "CREATE TABLE big AS SELECT repeat('x', 900) AS pad FROM generate_series(1, 2500)"
        )
    assert [o.what for o in job_watchdog.watchdog_run()] == ["read-only"]
    with psycopg.connect(uri, autocommit=True) as agent:
        agent.execute("SET default_transaction_read_only = off")  # the agent lifts it
        agent.execute("INSERT INTO big SELECT repeat('y', 900) FROM generate_series(1, 5000)")
    writer = psycopg.connect(uri, autocommit=True)
    writer.execute("SET default_transaction_read_only = off")
    assert [o.what for o in job_watchdog.watchdog_run()] == ["still growing"]
    with pytest.raises(psycopg.OperationalError):  # the writer's session was ended
        writer.execute("INSERT INTO big VALUES ('more')")
    writer.close()
    assert job_watchdog.watchdog_run() == []  # it stopped growing: nothing more to do
    # A rollback to a smaller version is the way out: a new database, writable.
    back = services.version_rollback(project=hog, version=hog.versions.get(number=1), user=ada)
    jobs_run_queued()
    back.refresh_from_db()
    assert back.state == Job.State.SUCCEEDED, (back.error, back.steps)
    with psycopg.connect(uri) as agent:
        agent.execute("CREATE TABLE writable_again (id int)")


def test_a_role_has_its_own_connection_slots_and_another_project_still_connects(two_teams):
    (_, hog), (_, other) = two_teams
    limit = get_engine("local").limits.connection_limit
    uri = services.project_connection_uri(project=hog)
    held = [psycopg.connect(uri) for _ in range(limit)]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(uri, connect_timeout=5)
        with psycopg.connect(services.project_connection_uri(project=other)) as fine:
            assert fine.execute("SELECT 1").fetchone() == (1,)
    finally:
        for conn in held:
            conn.close()


def _django_server_session() -> psycopg.Connection:
    """A session of its own on the server the metadata database is on."""
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"], port=params["PORT"], user=params["USER"],
        password=params["PASSWORD"], dbname=params["NAME"], autocommit=True,
    )  # fmt: skip


def test_an_entry_that_cannot_be_written_while_the_lock_table_is_full_is_written_next_round(
    two_teams,
):
    """The watchdog acted (ended the sessions), but the lock table was still full as it
    wrote the Activity entry: the entry waits for the next round instead of being lost."""
    (_, hog), _ = two_teams
    overrun = watchdog.Overrun(hog.engine_project_id, "r", "advisory locks", 9999, 500, ended=1)
    filler = _django_server_session()
    try:
        pid = filler.info.backend_pid
        with pytest.raises(psycopg.errors.OutOfMemory):
            filler.execute("SELECT pg_advisory_lock(g) FROM generate_series(1, 10000000) g")
        job_watchdog.overruns_record([overrun])
        assert job_watchdog._unrecorded == [overrun]
    finally:
        filler.close()
    _until(lambda: _advisory_locks_of(pid) == 0)
    job_watchdog.overruns_record([])
    assert job_watchdog._unrecorded == []
    [entry] = Activity.objects.filter(project=hog, kind=Activity.Kind.LIMIT)
    assert "it held 9999 advisory locks" in entry.detail


def _advisory_locks_of(pid: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [pid]
        )
        return cursor.fetchone()[0]
