"""Adopting an existing Neon project (with snapshots it already had) and importing an
existing PostgreSQL database, against the emulator over real HTTP and real databases."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from checkpoints import services
from checkpoints.engines import dump
from checkpoints.engines.operations import wait_for_operations
from checkpoints.errors import ServiceError
from checkpoints.lifecycle.holdings import project_holdings
from checkpoints.models import AgentProject, Job
from checkpoints.services import db_import, neon_accounts, neon_adopt
from checkpoints.signals import team_personal_for
from tests.neon.conftest import KEY_A, neon_engine, raw_project
from tests.web_fixtures import jobs_run_queued, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return user_make("ada-adopt")


@pytest.fixture
def account(ada, emulator):
    return neon_accounts.neon_account_add(
        user=ada, team=team_personal_for(user=ada), name="A", api_key=KEY_A, api_url=emulator.url
    )


def rows(uri: str, sql: str) -> list[tuple]:
    with psycopg.connect(uri) as conn:
        return conn.execute(sql).fetchall()


def console_project_with_snapshot(emulator):
    """A Neon project made in the console: a table, a snapshot of it, then more rows."""
    created = raw_project(emulator, KEY_A, f"console-{uuid.uuid4().hex[:6]}")
    pid, root = created.project.id, created.branch.id
    with neon_engine(emulator, KEY_A) as engine:
        uri = engine.connection_uri(pid)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
            conn.execute("INSERT INTO notes VALUES (1, 'before checkpoints')")
        made = engine.snapshot_create(pid, root, name="console backup")
        wait_for_operations(engine, pid, made.operations)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("INSERT INTO notes VALUES (2, 'adopted')")
    return created, made.snapshot


def test_adopt_a_project_with_its_snapshots_and_never_delete_them(ada, account, emulator):
    created, snapshot = console_project_with_snapshot(emulator)
    pid, root = created.project.id, created.branch.id
    listed = neon_adopt.neon_projects_adoptable(user=ada, connection=account)
    [row] = [r for r in listed if r["project"].id == pid]
    assert [b.id for b in row["roots"]] == [root]

    job = neon_adopt.neon_project_adopt(
        user=ada, connection=account, engine_project_id=pid, branch_id=root, name="Adopted"
    )
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    project = AgentProject.objects.get(pk=job.project_id)
    assert project.active_branch_id == root and project.current_version.number == 0
    assert rows(project.connection_uri, "SELECT id FROM notes ORDER BY id") == [(1,), (2,)]
    assert pid not in {
        r["project"].id for r in neon_adopt.neon_projects_adoptable(user=ada, connection=account)
    }

    # Cleanup's plan keeps what the project held before (and its page says so).
    plan = project_holdings(project=project)
    assert all(r.id not in (snapshot.id, root) for r in plan.removals)
    assert [h.role for h in plan.snapshots if h.id == snapshot.id] == ["adopted"]

    [importable] = neon_adopt.neon_snapshots_importable(project=project)
    assert (importable["id"], importable["version"]) == (snapshot.id, None)
    version = neon_adopt.neon_snapshot_import(user=ada, project=project, snapshot_id=snapshot.id)
    assert (version.number, version.name) == (1, "console backup")
    with pytest.raises(ServiceError, match="already version v1"):
        neon_adopt.neon_snapshot_import(user=ada, project=project, snapshot_id=snapshot.id)

    # Roll back to the imported snapshot: the live branch holds what the console saved.
    services.version_rollback(project=project, version=version, user=ada)
    jobs_run_queued()
    assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    project.refresh_from_db()
    assert rows(project.connection_uri, "SELECT id FROM notes") == [(1,)]

    # Deleting the version, then the project, deletes nothing Checkpoints did not create.
    services.version_delete(version=version, user=ada)
    jobs_run_queued()
    assert project.jobs.first().state == Job.State.SUCCEEDED, project.jobs.first().error
    services.project_delete(project=project, user=ada)
    with neon_engine(emulator, KEY_A) as engine:
        assert engine.project_get(pid).id == pid
        assert snapshot.id in {s.id for s in engine.snapshot_list(pid)}
        assert root in {b.id for b in engine.branch_list(pid)}


def test_adopting_an_unknown_project_or_branch_makes_nothing(ada, account, emulator):
    created = raw_project(emulator, KEY_A, "to-adopt")
    for pid, branch in [("no-such-project-1", created.branch.id), (created.project.id, "br-no")]:
        with pytest.raises(ServiceError, match="has no project"):
            neon_adopt.neon_project_adopt(
                user=ada, connection=account, engine_project_id=pid, branch_id=branch, name="x"
            )
    assert not AgentProject.objects.filter(engine_project_id=created.project.id).exists()


@pytest.fixture
def source(pg_server):
    """A database of someone's app on a PostgreSQL server, with its own login role."""
    name, role = f"src_{uuid.uuid4().hex[:8]}", f"src_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'source-pw-123'")
        conn.execute(f"CREATE DATABASE {name} OWNER {role}")
    url = pg_server.url(name).replace("://", f"://{role}:source-pw-123@", 1)
    url = url.split("@", 1)[0] + "@" + url.rsplit("@", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)")
        conn.execute("INSERT INTO orders (total) SELECT g FROM generate_series(1, 50) g")
        conn.execute("CREATE VIEW big AS SELECT * FROM orders WHERE total > 40")
    yield url
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def imports_left() -> list[Path]:
    folder = Path(settings.DATA_DIR) / "imports"
    return list(folder.glob("*")) if folder.exists() else []


def test_import_a_database_from_a_url_as_v0(ada, account, source):
    job = db_import.database_import(
        user=ada, team=account.team, name="Shop", source_url=source, connection_id=account.pk
    )
    jobs_run_queued()
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert "source-pw-123" not in str(job.result)
    project = AgentProject.objects.get(pk=job.project_id)
    assert project.connection_id == account.pk and project.current_version.number == 0
    assert rows(project.connection_uri, "SELECT count(*), sum(total) FROM orders") == [(50, 1275)]
    assert rows(project.connection_uri, "SELECT count(*) FROM big") == [(10,)]
    manifest = project.current_version.manifest
    [orders] = [t for key, t in manifest["tables"].items() if key.endswith("orders")]
    assert orders["rows"] == 50
    assert imports_left() == []


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda url: url.replace("source-pw-123", "wrong-pw"), "refused the connection"),
        (lambda url: url.rsplit("@", 1)[0] + "@127.0.0.1:9/x", "Cannot reach the source"),
        (lambda url: "mysql://nope", dump.URL_INVALID),
        (lambda url: url.rsplit("@", 1)[0] + "@/checkpoints?host=/tmp", dump.URL_INVALID),
        (lambda url: url + "?service=mine", dump.URL_INVALID),
    ],
)
def test_a_bad_source_makes_nothing(ada, account, source, break_it, message):
    before = AgentProject.objects.count()
    with pytest.raises(ServiceError) as info:
        db_import.database_import(
            user=ada, team=account.team, name="Shop", source_url=break_it(source),
            connection_id=account.pk,
        )  # fmt: skip
    assert message in info.value.message
    assert "pw" not in info.value.message
    assert AgentProject.objects.count() == before and imports_left() == []
