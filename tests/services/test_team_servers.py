"""A server per team: each team's projects on its own embedded PostgreSQL (own postmaster,
port, superuser, lock table, connection slots), the engine on it no superuser; team A
filling its server's connection slots and lock table leaves team B saving, rolling back
and previewing as usual."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from checkpoints import services
from checkpoints.engines import reset_engines
from checkpoints.engines.local.history import basebackup, wal
from checkpoints.models import AgentProject, EngineConnection, Job, Team
from checkpoints.servers import teamservers
from checkpoints.servers.pgserver import read_config
from checkpoints.services import db_import
from tests.web_fixtures import jobs_run_queued, project_demo, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def team_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="checkpoints-teams-"))
    yield root
    reset_engines()
    teamservers.stop_all(root, mode="immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def per_team(settings, team_root) -> Path:
    settings.CHECKPOINTS_SERVERS = "per-team"
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = team_root
    settings.CHECKPOINTS_TEAM_SERVERS_FAST = True
    return team_root


def team_of(user) -> Team:
    return Team.objects.get(personal_for=user)


def project_empty(user, name: str) -> AgentProject:
    job = services.project_create(user=user, name=name)
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    return AgentProject.objects.get(pk=job.project_id)


def port_of(uri: str) -> int:
    return int(conninfo_to_dict(uri)["port"])


def test_each_team_gets_its_own_server_and_the_engine_is_no_superuser(team_root):
    ada, bob = user_make("ada"), user_make("bob")
    a1, a2 = project_empty(ada, "one"), project_empty(ada, "two")
    b1 = project_empty(bob, "three")
    assert a1.connection_id == a2.connection_id != b1.connection_id
    assert a1.connection.kind == b1.connection.kind == EngineConnection.Kind.EMBEDDED
    # (other tests' teams may have servers in the same folder: only these two are asked about)
    assert {team_of(ada).pk, team_of(bob).pk} <= set(teamservers.running(team_root))
    ada_server = read_config(teamservers.server_dir(team_root, team_of(ada).pk))
    bob_server = read_config(teamservers.server_dir(team_root, team_of(bob).pk))
    assert port_of(a1.connection_uri) == port_of(a2.connection_uri) == ada_server.port
    assert port_of(b1.connection_uri) == bob_server.port != ada_server.port
    # Ada's connection string opens nothing on Bob's server: her role does not exist there.
    params = conninfo_to_dict(a1.connection_uri)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**{**params, "port": bob_server.port}, connect_timeout=5).close()
    engine = services.engine_for(project=a1)
    with psycopg.connect(engine._server_url) as conn:
        user, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert user == "checkpoints_engine" and superuser is False
    assert teamservers.memory_bytes(teamservers.team_server(team_root, team_of(ada).pk)) > 1_000_000


def test_a_teams_first_project_opens_its_history_window(team_root):
    """The first base backup is taken as the team's first project is made, not at the
    next hourly upkeep: a version as of any later moment can be made at once."""
    cy = user_make("cy")
    project_empty(cy, "first")
    history = wal.history_dir(teamservers.server_dir(team_root, team_of(cy).pk))
    [first] = basebackup.backups(history)
    assert first.full
    project_empty(cy, "second")  # the history has its backup: no other is taken
    assert basebackup.backups(history) == [first]


def fill_connection_slots(uris: list[str]) -> tuple[list[psycopg.Connection], str]:
    """Connect as the projects' roles until the server refuses; the refusal's text."""
    held: list[psycopg.Connection] = []
    while len(held) < 200:
        for uri in uris:
            try:
                held.append(psycopg.connect(uri, autocommit=True, connect_timeout=10))
            except psycopg.OperationalError as refused:
                return held, str(refused)
    raise AssertionError("the team server never refused a connection")


def fill_lock_table(conn: psycopg.Connection) -> str:
    """Session advisory locks until the server's lock table is full; the error's text."""
    with pytest.raises(psycopg.errors.OutOfMemory) as full:
        conn.execute("SELECT pg_advisory_lock(g) FROM generate_series(1, 10000000) g")
    return str(full.value)


def test_a_team_that_fills_its_server_does_not_slow_another_team(team_root):
    ada, bob = user_make("ada"), user_make("bob")
    mine = [project_empty(ada, "one"), project_empty(ada, "two")]
    theirs = project_demo(bob, versions=1)
    held, refused = fill_connection_slots([p.connection_uri for p in mine])
    try:
        assert "slots" in refused or "too many clients" in refused, refused
        assert "out of shared memory" in fill_lock_table(held[0])
        with pytest.raises(psycopg.OperationalError):  # Ada's server takes nobody more
            psycopg.connect(mine[0].connection_uri, connect_timeout=5).close()

        services.version_create_next(project=theirs, user=bob)
        jobs_run_queued()
        theirs.refresh_from_db()
        assert theirs.current_version.number == 2
        v1 = theirs.versions.get(number=1)
        services.version_rollback(project=theirs, version=v1, user=bob)
        ran = jobs_run_queued()
        services.preview_open(project=theirs, version=v1, user=bob)
        ran += jobs_run_queued()
        assert [job.state for job in ran] == [Job.State.SUCCEEDED] * len(ran), [
            job.error for job in ran
        ]
        theirs.refresh_from_db()
        assert theirs.current_version.number == 1
        with psycopg.connect(theirs.connection_uri) as conn:
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'contacts' ORDER BY ordinal_position"
                )
            ]
        assert "role" not in columns and "email" in columns
        preview = theirs.previews.get()
        with psycopg.connect(preview.connection_uri) as conn:
            assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 3
    finally:
        for conn in held:
            conn.close()


def test_stop_all_stops_every_team_server_and_they_start_again_on_demand(team_root, settings):
    # A folder of its own (short: PostgreSQL's socket path has a length limit).
    tmp_path = Path(tempfile.mkdtemp(prefix="checkpoints-stop-"))
    settings.CHECKPOINTS_TEAM_SERVERS_DIR = tmp_path
    ada, bob = user_make("ada"), user_make("bob")
    project_empty(ada, "one")
    project_empty(bob, "two")
    assert len(teamservers.running(tmp_path)) == 2
    reset_engines()
    teamservers.stop_all(tmp_path)
    assert teamservers.running(tmp_path) == []
    # started again on demand, with its projects where they were
    project = AgentProject.objects.get(team=team_of(ada))
    assert services.engine_for(project=project).branch_get(
        project.engine_project_id, project.active_branch_id
    )
    assert teamservers.running(tmp_path) == [team_of(ada).pk]
    reset_engines()
    teamservers.stop_all(tmp_path, mode="immediate")
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_benchmark_measures_a_new_team_and_its_idle_server():
    from checkpoints.benchmark.team_bench import bench_team_servers

    result = bench_team_servers(2, concurrency=(1, 2), versions_each=2)
    figures = result.figures
    assert set(figures["versions_per_s"]) == {"1", "2"}
    assert all(rate > 0 for rate in figures["versions_per_s"].values())
    assert "2 team(s) saving at once:" in "\n".join(result.lines())
    assert figures["teams"] == 2 and len(figures["idle_mb_each"]) == 2
    assert 1 < figures["idle_mb"] < 500
    assert figures["first_project_s"] >= figures["server_s"] > 0
    assert "20 teams: about" in "\n".join(result.lines())


def test_a_team_whose_first_project_is_imported_opens_its_history_window(team_root):
    """An imported project opens the window too (not only a created one)."""
    source = project_empty(user_make("dee"), "source")
    eve = user_make("eve")
    job = db_import.database_import(
        user=eve, team=team_of(eve), name="imported", source_url=source.connection_uri
    )
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    history = wal.history_dir(teamservers.server_dir(team_root, team_of(eve).pk))
    [first] = basebackup.backups(history)
    assert first.full
