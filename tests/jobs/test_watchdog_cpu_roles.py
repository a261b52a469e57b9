"""The watchdog's CPU and role rounds: a project's session burning CPU on a server it
shares runs at the lowest priority (another project's does not), and a preview's (or a
project's) role whose own SQL changed its password or defaults is put back by the next
round, not only by the project's next job. Mechanisms, not timings (`make bench` times)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from checkpoints import services
from checkpoints.engines.local import cpu_groups
from checkpoints.engines.local.watchdog_cpu import LOWERED_GROUP, LOWEST, priority_of
from checkpoints.models import Activity, Job
from checkpoints.queue import job_watchdog
from tests.web_fixtures import engine_project_drop, jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db(transaction=True)

BURN = "SELECT count(*) FROM generate_series(1, 10000000000)"


@pytest.fixture
def two_teams():
    ada, bob = user_make("ada"), user_make("bob")
    hog, other = project_demo(ada, versions=1), project_demo(bob, versions=1)
    yield (ada, hog), (bob, other)
    for project in (hog, other):
        engine_project_drop(project)


def _until(check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the condition did not come true")


def _pid(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def _burn(conn: psycopg.Connection) -> None:
    try:
        conn.execute(BURN)
    except psycopg.Error:
        pass  # cancelled at the end


def test_a_session_burning_cpu_is_lowered_and_another_projects_is_not(two_teams, settings):
    settings.CHECKPOINTS_ROLE_CPU_SECONDS = 0.5
    (_, hog), (_, other) = two_teams
    burner = psycopg.connect(services.project_connection_uri(project=hog), autocommit=True)
    quiet = psycopg.connect(services.project_connection_uri(project=other), autocommit=True)
    pooled = psycopg.connect(services.project_connection_uri(project=hog), autocommit=True)
    burner_pid, quiet_pid, pooled_pid = _pid(burner), _pid(quiet), _pid(pooled)
    groups_before = {pid: cpu_groups.group_of(pid) for pid in (quiet_pid, pooled_pid)}
    thread = threading.Thread(target=_burn, args=(burner,), daemon=True)
    thread.start()
    try:
        lowered = _until(
            lambda: [o for o in job_watchdog.watchdog_run() if o.what == "cpu"], timeout=120
        )
        assert [(o.project_id, o.amount) for o in lowered] == [(hog.engine_project_id, 1)]
        assert priority_of(burner_pid) == LOWEST
        assert cpu_groups.group_of(burner_pid) == _lowered_group(burner_pid)
        quiet.execute("SELECT count(*) FROM generate_series(1, 100000)")
        assert priority_of(quiet_pid) < LOWEST
        assert priority_of(pooled_pid) < LOWEST  # the same role's idle session: left alone
        assert {pid: cpu_groups.group_of(pid) for pid in groups_before} == groups_before
        assert not [o for o in job_watchdog.watchdog_run() if o.what == "cpu"]  # once
    finally:
        burner.cancel_safe()
        thread.join(timeout=30)
        for conn in (burner, quiet, pooled):
            conn.close()
    entry = Activity.objects.get(project=hog, kind=Activity.Kind.LIMIT)
    assert entry.detail.startswith("Lowered the CPU priority of 1 running session(s)")
    assert "CHECKPOINTS_ROLE_CPU_SECONDS" in entry.detail
    assert not Activity.objects.filter(project=other, kind=Activity.Kind.LIMIT).exists()


def _lowered_group(pid: int) -> str | None:
    """Where a lowered session runs: the lowered group where cgroups can be written (the
    bound), else the group it started in (a renice is then all there is)."""
    try:
        cpu_groups.hierarchy()
    except cpu_groups.CpuGroupsUnavailable:
        return cpu_groups.group_of(pid)
    return f"/{LOWERED_GROUP}"


def _repairs(project) -> list[tuple[str, str]]:
    return [
        (o.what, o.detail)
        for o in job_watchdog.watchdog_run()
        if o.project_id == project.engine_project_id
    ]


def test_a_role_whose_own_sql_changed_it_is_put_back_by_the_next_round(two_teams):
    (ada, hog), _ = two_teams
    services.preview_open(project=hog, version=hog.versions.get(number=1), user=ada)
    opened = jobs_run_queued()[0]
    assert opened.state == Job.State.SUCCEEDED, opened.error
    preview_uri = services.preview_connection_uri(preview=opened.preview)
    live_uri = services.project_connection_uri(project=hog)
    job_watchdog.watchdog_run()  # a round that finds every role as the engine set it
    assert _repairs(hog) == []

    with psycopg.connect(preview_uri, autocommit=True) as agent:
        agent.execute("ALTER ROLE CURRENT_USER PASSWORD 'the-agents-own'")
    with psycopg.connect(live_uri, autocommit=True) as agent:
        agent.execute("ALTER ROLE CURRENT_USER SET statement_timeout = 0")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(preview_uri, connect_timeout=5)

    assert sorted(_repairs(hog)) == [
        ("preview role repaired", "password"),
        ("role repaired", "settings"),
    ]
    with psycopg.connect(preview_uri) as back:  # the shown connection string works again
        assert back.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(live_uri) as back:
        assert back.execute("SHOW statement_timeout").fetchone() != ("0",)
    said = list(
        Activity.objects.filter(project=hog, kind=Activity.Kind.REPAIR).values_list(
            "detail", flat=True
        )
    )
    assert any("preview's SQL had changed its role's password" in d for d in said), said
    assert any("role's settings; the watchdog restored it" in d for d in said), said
    assert _repairs(hog) == []  # put back once, then left alone
